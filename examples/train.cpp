// Trains the MLP or the ViT on Fashion-MNIST, or a character-level GPT on the fortunes corpus, with LayerNorm
// (ln), plain RMSNorm (rms) or CBWC + RMSNorm (cbwc), and logs a CSV. Run with --help for the options.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lnfold/data/fashion_mnist.hpp>
#include <lnfold/io/atomic_file.hpp>
#include <lnfold/data/text_corpus.hpp>
#include <lnfold/lnfold.hpp>
#include <lnfold/train/cbwc.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>
#include <lnfold/train/schedule.hpp>

#include "command_line.hpp"
#include "train_models.hpp"

using namespace lnfold;

namespace {

struct options {
    std::string model = "mlp", norm = "ln", log, save;
    std::uint64_t seed = 1;
    std::size_t steps = 3000, batch = 64, eval_every = 250, eval_samples = 2000, threads = 0;
    double lr = 1e-3, weight_decay = 0.01, clip = 1.0;
    std::size_t warmup = 50;
    bool quiet = false, log_timing = true;
};

[[noreturn]] void usage(int code) {
    std::printf(
        "usage: train [--model mlp|vit|gpt] [--norm ln|rms|cbwc] [--seed N] [--steps N] [--batch N] [--lr X]\n"
        "             [--warmup N] [--weight-decay X] [--clip X] [--eval-every N] [--eval-samples N]\n"
        "             [--threads N] [--log file.csv] [--save file.safetensors] [--no-timing] [--quiet]\n"
        "  mlp, vit: Fashion-MNIST (Debian package dataset-fashion-mnist); gpt: the fortunes corpus (package fortunes)\n"
        "  ln: LayerNorm; rms: every LayerNorm replaced by RMSNorm; cbwc: RMSNorm + column-centred weights\n"
        "  --save writes the trained weights (safetensors; the char GPT under GPT-2's names, for examples/generate)\n"
        "  AdamW with cosine decay after a linear warmup, gradient clipping by global norm.\n"
        "  The CSV has step,train_loss,val_loss,val_accuracy,lr,ms_per_step (--no-timing drops the last column,\n"
        "  making the file bit-identical between runs with the same seed and thread count).\n");
    std::exit(code);
}

options parse(int argc, char** argv) {
    options o;
    command_line args(argc, argv, "train", usage);
    while (args.next()) {
        const std::string& a = args.option();
        if (a == "--help" || a == "-h") usage(0);
        else if (a == "--model") o.model = args.value();
        else if (a == "--norm") o.norm = args.value();
        else if (a == "--log") o.log = args.value();
        else if (a == "--save") o.save = args.value();
        else if (a == "--seed") o.seed = args.count();
        else if (a == "--steps") o.steps = args.count();
        else if (a == "--batch") o.batch = args.count();
        else if (a == "--eval-every") o.eval_every = args.count();
        else if (a == "--eval-samples") o.eval_samples = args.count();
        else if (a == "--threads") o.threads = args.count();
        else if (a == "--warmup") o.warmup = args.count();
        else if (a == "--lr") o.lr = args.non_negative();
        else if (a == "--weight-decay") o.weight_decay = args.non_negative();
        else if (a == "--clip") o.clip = args.non_negative();
        else if (a == "--quiet") o.quiet = true;
        else if (a == "--no-timing") o.log_timing = false;
        else args.fail("unknown option '" + a + "'");
    }
    if (o.model != "mlp" && o.model != "vit" && o.model != "gpt") {
        std::fprintf(stderr, "train: --model must be mlp, vit or gpt, got '%s'\n", o.model.c_str());
        usage(2);
    }
    if (o.norm != "ln" && o.norm != "rms" && o.norm != "cbwc") {
        std::fprintf(stderr, "train: --norm must be ln, rms or cbwc, got '%s'\n", o.norm.c_str());
        usage(2);
    }
    if (o.steps == 0 || o.batch == 0 || o.eval_every == 0) {
        std::fprintf(stderr, "train: --steps, --batch and --eval-every must be > 0\n");
        usage(2);
    }
    return o;
}

// A task supplies batches and evaluation for one dataset.
struct image_task {
    data::image_dataset train, test;
    bool as_image;  // ViT: Layout::image(batch, 28, 28); MLP: Layout::rows(batch)
    std::vector<float> x;
    std::vector<std::int32_t> y;

    Layout layout(std::size_t n) const { return as_image ? Layout::image(n, 28, 28) : Layout::rows(n); }
    void sample(random_stream& rng, std::size_t n) {
        x.resize(n * 784);
        y.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t k = rng.below(train.count);
            std::copy_n(train.pixels.data() + k * 784, 784, x.data() + i * 784);
            y[i] = train.labels[k];
        }
    }
    template <class M>
    std::pair<double, double> evaluate(M& model, std::size_t samples) {
        const std::size_t n = std::min(samples, test.count), chunk = 250;
        std::vector<float> grad;
        double loss = 0;
        std::size_t correct = 0;
        for (std::size_t start = 0; start < n; start += chunk) {
            const std::size_t m = std::min(chunk, n - start);
            const auto logits = model.forward(std::span<const float>(test.pixels.data() + start * 784, m * 784), layout(m));
            grad.resize(logits.size());
            loss += double(m) * softmax_cross_entropy(logits, std::span<const std::int32_t>(test.labels.data() + start, m),
                                                      std::span<float>(grad));
            for (std::size_t r = 0; r < m; ++r) {
                const auto row = logits.row(r);
                correct += std::size_t(std::max_element(row.begin(), row.end()) - row.begin()) ==
                           static_cast<std::size_t>(test.labels[start + r]);
            }
        }
        return {loss / double(n), double(correct) / double(n)};
    }
};

struct text_task {
    std::vector<std::int32_t> train, validation;  // bytes
    std::size_t context = train_models::GptContext;
    std::vector<std::int32_t> x, y;

    Layout layout(std::size_t n) const { return Layout::sequence(n, context); }
    void sample(random_stream& rng, std::size_t n) {
        x.resize(n * context);
        y.resize(n * context);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t start = rng.below(train.size() - context - 1);
            std::copy_n(train.data() + start, context, x.data() + i * context);
            std::copy_n(train.data() + start + 1, context, y.data() + i * context);
        }
    }
    template <class M>
    std::pair<double, double> evaluate(M& model, std::size_t samples) {
        // Fixed, evenly spaced windows of the validation text; accuracy = next-byte top-1.
        const std::size_t windows = std::max<std::size_t>(1, samples / context);
        const std::size_t stride = (validation.size() - context - 1) / windows;
        std::vector<std::int32_t> ids(context), targets(context);
        std::vector<float> grad;
        double loss = 0;
        std::size_t correct = 0;
        for (std::size_t w = 0; w < windows; ++w) {
            std::copy_n(validation.data() + w * stride, context, ids.data());
            std::copy_n(validation.data() + w * stride + 1, context, targets.data());
            const auto logits = model.forward(std::span<const std::int32_t>(ids), layout(1));
            grad.resize(logits.size());
            loss += softmax_cross_entropy(logits, std::span<const std::int32_t>(targets), std::span<float>(grad));
            for (std::size_t r = 0; r < context; ++r) {
                const auto row = logits.row(r);
                correct += std::size_t(std::max_element(row.begin(), row.end()) - row.begin()) == std::size_t(targets[r]);
            }
        }
        return {loss / double(windows), double(correct) / double(windows * context)};
    }
};

std::string clock_text(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld", s / 60, s % 60);
    return buffer;
}

template <class Net, class Task>
int train(const options& o, Task& task) {
    Model<Net, float> model(o.seed, init_scheme::pytorch);
    AdamW<float> optimizer(model.parameters().size(), {0.9, 0.999, 1e-8, o.weight_decay});
    const auto decay_mask = weight_decay_mask(model);
    const lr_schedule schedule{lr_schedule::kind::cosine, o.lr, std::min(o.warmup, o.steps - 1), o.steps, o.lr * 0.1};
    random_stream rng(seed_for(o.seed, "batches"));
    std::vector<float> grad;

    // The CSV goes to a temporary beside the log and replaces it only when training ends (io::atomic_file): a run
    // that fails or a disk that fills leaves no partial log and keeps an older one. Checked before the first step.
    std::optional<io::atomic_file> log;
    if (!o.log.empty()) {
        log.emplace(o.log, "log");
        log->write(std::string("step,train_loss,val_loss,val_accuracy,lr") + (o.log_timing ? ",ms_per_step" : "") + "\n");
    }
    if (!o.quiet)
        std::fprintf(stderr, "train: %s, norm %s, seed %llu, %zu steps of %zu, %zu parameters\n  %s\n", o.model.c_str(),
                     o.norm.c_str(), static_cast<unsigned long long>(o.seed), o.steps, o.batch,
                     Model<Net, float>::parameter_count, build_summary().c_str());

    double loss_sum = 0, step_ms = 0, total_ms = 0;
    std::size_t loss_count = 0;
    std::pair<double, double> last_eval{0, 0};
    for (std::size_t step = 0; step < o.steps; ++step) {
        const auto start = std::chrono::steady_clock::now();
        const double lr = schedule(step);
        task.sample(rng, o.batch);
        const auto logits = [&] {
            if constexpr (Model<Net, float>::reads_tokens)
                return model.forward(std::span<const std::int32_t>(task.x), task.layout(o.batch));
            else
                return model.forward(std::span<const float>(task.x), task.layout(o.batch));
        }();
        grad.resize(logits.size());
        loss_sum += softmax_cross_entropy(logits, std::span<const std::int32_t>(task.y), std::span<float>(grad));
        ++loss_count;
        model.zero_grad();
        model.backward(std::span<const float>(grad));
        if (o.clip > 0) clip_grad_norm(model.gradients(), o.clip);
        optimizer.step(model.parameters(), model.gradients(), lr, std::span<const std::uint8_t>(decay_mask));
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        step_ms += ms;
        total_ms += ms;

        const bool last = step + 1 == o.steps;
        if ((step + 1) % o.eval_every == 0 || last) {
            last_eval = task.evaluate(model, o.eval_samples);
            const double train_loss = loss_sum / double(loss_count);
            if (log) {
                char line[256];
                int n = std::snprintf(line, sizeof line, "%zu,%.6f,%.6f,%.4f,%.6g", step + 1, train_loss,
                                      last_eval.first, last_eval.second, lr);
                if (o.log_timing) n += std::snprintf(line + n, sizeof line - n, ",%.3f", step_ms / double(loss_count));
                std::snprintf(line + n, sizeof line - n, "\n");
                log->write(std::string_view(line));
            }
            if (!o.quiet) {
                const double rate = double(step + 1) / (total_ms / 1000.0);
                std::fprintf(stderr, "\rstep %zu/%zu  loss %.4f  val loss %.4f  val acc %.4f  %.1f steps/s  ETA %s   ",
                             step + 1, o.steps, train_loss, last_eval.first, last_eval.second, rate,
                             clock_text(double(o.steps - step - 1) / rate).c_str());
                std::fflush(stderr);
            }
            loss_sum = 0;
            loss_count = 0;
            step_ms = 0;
        }
    }
    if (!o.quiet) std::fprintf(stderr, "\n");
    if (log) log->commit();
    if (!o.save.empty()) {
        io::save_options naming;
        if constexpr (Model<Net, float>::reads_tokens) naming = train_models::char_gpt_save_options();
        naming.metadata = {{"lnfold.model", o.model}, {"lnfold.norm", o.norm}};
        io::save(model, o.save, naming);
        if (!o.quiet) std::fprintf(stderr, "train: weights saved to %s\n", o.save.c_str());
    }
    std::printf("%s %s seed %llu: val loss %.4f, val accuracy %.4f, %.2f ms/step\n", o.model.c_str(), o.norm.c_str(),
                static_cast<unsigned long long>(o.seed), last_eval.first, last_eval.second, total_ms / double(o.steps));
    return 0;
}

template <class Net, class Task>
int train_variant(const options& o, Task& task) {
    if (o.norm == "ln") return train<Net>(o, task);
    if (o.norm == "rms") return train<rms_t<Net>>(o, task);
    return train<cbwc_t<Net>>(o, task);
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
#if LNFOLD_HAS_OPENMP
    if (o.threads > 0) omp_set_num_threads(static_cast<int>(o.threads));
#endif
    try {
        if (o.model == "gpt") {
            const data::text_corpus corpus = data::load_fortunes();
            text_task task;
            const std::size_t split = corpus.text.size() * 9 / 10;
            for (std::size_t i = 0; i < corpus.text.size(); ++i)
                (i < split ? task.train : task.validation).push_back(static_cast<unsigned char>(corpus.text[i]));
            return train_variant<train_models::Gpt>(o, task);
        }
        image_task task{data::load_fashion_mnist("train"), data::load_fashion_mnist("test"), o.model == "vit", {}, {}};
        if (o.model == "vit") return train_variant<train_models::Vit>(o, task);
        return train_variant<train_models::Mlp>(o, task);
    } catch (const lnfold::error& e) {
        std::fprintf(stderr, "train: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "train: out of memory: a batch of %zu samples does not fit (use a smaller --batch)\n",
                     o.batch);
        return 1;
    }
}

// Loading and construction at GPT-2-small size (docs/performance.md "Loading and construction"): the median of N
// runs, each in a fresh Model, of
//   construct + seeded init (normal scheme, and PyTorch's default scheme),
//   load_gpt2 of a checkpoint into Model(uninitialized) (read, check, convert), and safetensors_file::open alone,
//   reading the file (the time `cat FILE > /dev/null` takes, warm page cache: the floor for loading),
// with the peak resident memory of the process afterwards. Prints a Markdown section.
//   bench_load CHECKPOINT.safetensors [repetitions = 3]   (bench/make_gpt2_checkpoint.py makes one)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/models/gpt2.hpp>

namespace {

using namespace lnfold;
using Net = models::Gpt2Small<>;
using clock_type = std::chrono::steady_clock;

template <class F>
double median_seconds(int repetitions, F&& f) {
    std::vector<double> t;
    for (int r = 0; r < repetitions; ++r) {
        const auto start = clock_type::now();
        f();
        t.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

double peak_resident_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_load CHECKPOINT.safetensors [repetitions]\n");
        return 2;
    }
    const std::string file = argv[1];
    const int repetitions = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
    volatile float sink = 0;
    const double read = median_seconds(repetitions, [&] {
        std::ifstream in(file, std::ios::binary);
        std::vector<char> chunk(1 << 20);
        while (in.read(chunk.data(), std::streamsize(chunk.size())) || in.gcount() > 0) sink = sink + float(chunk[0]);
    });
    const double open = median_seconds(repetitions, [&] {
        const io::safetensors_file f = io::safetensors_file::open(file);
        sink = sink + static_cast<float>(f.tensors().size());
    });
    const double load = median_seconds(repetitions, [&] {
        Model<Net> m(uninitialized);
        models::load_gpt2(m, file);
        sink = sink + m.parameters()[12345];
    });
    const double after_load = peak_resident_mb();
    const double normal = median_seconds(repetitions, [&] {
        Model<Net> m(42, init_scheme::normal);
        sink = sink + m.parameters()[12345];
    });
    const double pytorch = median_seconds(repetitions, [&] {
        Model<Net> m(7);
        sink = sink + m.parameters()[12345];
    });
    const double weights_mb = double(Model<Net>::parameter_count) * 4.0 / 1e6;
    std::printf("## Loading and construction\n\n");
    std::printf("GPT-2 small (%zu parameters, %.0f MB of float), median of %d runs each in a fresh Model, %s "
                "(bench/bench_load.cpp; the checkpoint: bench/make_gpt2_checkpoint.py, random weights, hub layout).\n\n",
                std::size_t(Model<Net>::parameter_count), weights_mb, repetitions, build_summary().c_str());
    std::printf("| step | seconds |\n|---|---|\n");
    std::printf("| read the file (1 MiB reads, warm page cache) | %.3f |\n", read);
    std::printf("| `safetensors_file::open` (read and check the file) | %.3f |\n", open);
    std::printf("| `load_gpt2` into `Model(uninitialized)` (open, check, transpose, copy) | %.3f |\n", load);
    std::printf("| construct + init, normal scheme (N(0, 0.02)) | %.3f |\n", normal);
    std::printf("| construct + init, PyTorch's default scheme | %.3f |\n", pytorch);
    std::printf("\nPeak resident memory after the loads: %.0f MB (%.2fx the weights).\n", after_load, after_load / weights_mb);
    return 0;
}

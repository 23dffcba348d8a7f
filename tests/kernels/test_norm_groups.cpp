// The forward kernels handle rows in groups (interleaved loops, the default schedule), rows of a few vectors in a
// software pipeline (row_pipeline.hpp: statistics two rows ahead of the output), and outputs larger than the cache
// with streaming stores. Every schedule gives the default's bits (check_schedules).
// A row's result must not depend on any of that: the same row alone, in a group, or in a call starting one row later
// gives bit-identical outputs and statistics, for every width, including the narrow ones, over enough rows to fill
// several groups; streaming stores (forced with set_streaming_min_bytes, on aligned and unaligned outputs) write
// exactly what normal stores write. The fused add + norm kernels must equal the unfused kernels on the stored sum
// exactly. All of it also against the long-double reference.
#include "kernel_support.hpp"

using namespace lnfold_test::kernels;

namespace {

// dims plus the row pipeline's widths of every build (4 and 8 vectors: 8/16 double and 16/32 float on SSE2;
// 4, 8, 12, 16, 24 vectors on AVX-512: 32/64/96/128/192 double, 64/128/192/256/384 float) and the widths on
// either side of the last grouped one (group_rows: 16 KiB groups for RMSNorm and add + norm, rows up to 8 KiB
// for LayerNorm; AVX-512 4 rows, d = 512 / 1024 double, 1024 / 2048 float; SSE2 2 rows, 1024 / 2048 float).
std::vector<std::size_t> group_dims() {
    std::vector<std::size_t> d = dims;
    for (std::size_t extra : {32, 96, 128, 192, 256, 384, 512, 513, 1024, 1025, 2048, 2049}) d.push_back(extra);
    return d;
}

constexpr std::size_t rows = 37;  // nine groups of four and one

template <class Arch, class T>
void check_layer_norm(std::size_t d, error_report& report) {
    auto x = random_buffer<T>(rows * d, 500 + d, 0.5, 2.0);
    auto g = random_buffer<T>(d, 501 + d, 1.0, 0.5);
    auto bt = random_buffer<T>(d, 502 + d);
    offset_buffer<T> y(rows * d), mean(rows), rstd(rows), shifted(rows * d), shifted_mean(rows), one(d);
    k::layer_norm_rows<Arch>(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data(), mean.data(), rstd.data());
    k::layer_norm_rows<Arch>(x.data() + d, rows - 1, d, g.data(), bt.data(), T(1e-5), shifted.data(),
                             shifted_mean.data());
    INFO("layer_norm " << type_name<T>() << " " << (k::arch_for_t<T, Arch>::name()) << " d=" << d);
    CHECK(bit_equal(shifted.data(), y.data() + d, (rows - 1) * d));
    CHECK(bit_equal(shifted_mean.data(), mean.data() + 1, rows - 1));
    // calls of 2 and 3 rows (the row pipeline's fill and drain only), and in place (y = x)
    for (std::size_t few : {2, 3}) {
        k::layer_norm_rows<Arch>(x.data() + d, few, d, g.data(), bt.data(), T(1e-5), shifted.data());
        CHECK(bit_equal(shifted.data(), y.data() + d, few * d));
    }
    offset_buffer<T> in_place(rows * d);
    std::copy(x.data(), x.data() + rows * d, in_place.data());
    k::layer_norm_rows<Arch>(in_place.data(), rows, d, g.data(), bt.data(), T(1e-5), in_place.data());
    CHECK(bit_equal(in_place.data(), y.data(), rows * d));
    for (std::size_t r = 0; r < rows; ++r) {
        T m = 0, s = 0;
        k::layer_norm_row<Arch>(x.data() + r * d, d, g.data(), bt.data(), T(1e-5), one.data(), m, s);
        INFO("row " << r);
        REQUIRE(bit_equal(one.data(), y.data() + r * d, d));
        REQUIRE(m == mean[r]);
        REQUIRE(s == rstd[r]);
    }
    const auto want = ref::layer_norm(x.data(), rows, d, g.data(), bt.data(), real(T(1e-5)));
    const real e = max_rel_error(y.data(), want.y, rows * d);
    report.note(std::string("layer_norm ") + k::arch_for_t<T, Arch>::name(), e);
    CHECK(e <= tolerance<T>());
}

template <class Arch, class T>
void check_rms_norm(std::size_t d, error_report& report) {
    auto x = random_buffer<T>(rows * d, 600 + d, 0.5, 2.0);
    auto g = random_buffer<T>(d, 601 + d, 1.0, 0.5);
    auto bt = random_buffer<T>(d, 602 + d);
    offset_buffer<T> y(rows * d), rrms(rows), shifted(rows * d), one(d);
    k::rms_norm_rows<Arch>(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data(), rrms.data());
    k::rms_norm_rows<Arch>(x.data() + d, rows - 1, d, g.data(), bt.data(), T(1e-5), shifted.data());
    INFO("rms_norm " << type_name<T>() << " " << (k::arch_for_t<T, Arch>::name()) << " d=" << d);
    CHECK(bit_equal(shifted.data(), y.data() + d, (rows - 1) * d));
    for (std::size_t few : {2, 3}) {
        k::rms_norm_rows<Arch>(x.data() + d, few, d, g.data(), bt.data(), T(1e-5), shifted.data());
        CHECK(bit_equal(shifted.data(), y.data() + d, few * d));
    }
    for (std::size_t r = 0; r < rows; ++r) {
        const T s = k::rms_norm_row<Arch>(x.data() + r * d, d, g.data(), bt.data(), T(1e-5), one.data());
        INFO("row " << r);
        REQUIRE(bit_equal(one.data(), y.data() + r * d, d));
        REQUIRE(s == rrms[r]);
    }
    const auto want = ref::rms_norm(x.data(), rows, d, g.data(), bt.data(), real(T(1e-5)));
    const real e = max_rel_error(y.data(), want.y, rows * d);
    report.note(std::string("rms_norm ") + k::arch_for_t<T, Arch>::name(), e);
    CHECK(e <= tolerance<T>());
}

// add + norm == norm of the stored sum, bit for bit (outputs and statistics).
template <class Arch, class T>
void check_fused_equals_unfused(std::size_t d) {
    auto a = random_buffer<T>(rows * d, 700 + d, 0.5, 2.0);
    auto b = random_buffer<T>(rows * d, 701 + d, -0.25, 1.0);
    auto g = random_buffer<T>(d, 702 + d, 1.0, 0.5);
    auto bt = random_buffer<T>(d, 703 + d);
    const auto sum = ref::rounded_sum(a.data(), b.data(), rows * d);
    offset_buffer<T> s(rows * d), y(rows * d), m(rows), r(rows), y2(rows * d), m2(rows), r2(rows);
    INFO("fused add + norm " << type_name<T>() << " " << (k::arch_for_t<T, Arch>::name()) << " d=" << d);
    k::add_layer_norm_rows<Arch>(a.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), s.data(), y.data(),
                                 m.data(), r.data());
    k::layer_norm_rows<Arch>(sum.data(), rows, d, g.data(), bt.data(), T(1e-5), y2.data(), m2.data(), r2.data());
    CHECK(bit_equal(s.data(), sum.data(), rows * d));
    CHECK(bit_equal(y.data(), y2.data(), rows * d));
    CHECK(bit_equal(m.data(), m2.data(), rows));
    CHECK(bit_equal(r.data(), r2.data(), rows));
    k::add_rms_norm_rows<Arch>(a.data(), b.data(), rows, d, g.data(), nullptr, T(1e-5), s.data(), y.data(), r.data());
    k::rms_norm_rows<Arch>(sum.data(), rows, d, g.data(), nullptr, T(1e-5), y2.data(), r2.data());
    CHECK(bit_equal(s.data(), sum.data(), rows * d));
    CHECK(bit_equal(y.data(), y2.data(), rows * d));
    CHECK(bit_equal(r.data(), r2.data(), rows));
}

// Sets the streaming threshold for one scope and restores it.
struct streaming_threshold_scope {
    std::size_t saved = k::streaming_min_bytes();
    explicit streaming_threshold_scope(std::size_t bytes) { k::set_streaming_min_bytes(bytes); }
    ~streaming_threshold_scope() { k::set_streaming_min_bytes(saved); }
};

// Every forward kernel with streaming stores forced (threshold 0) equals the same call with normal stores
// (threshold SIZE_MAX), bit for bit: outputs (64-byte aligned, and one element past that, so that the scalar head
// runs), sums and statistics; RMSNorm also in place; the backward kernels' dx (and their dgamma / dbeta) too.
template <class Arch, class T>
void check_streaming_equals_normal(std::size_t d) {
    auto a = random_buffer<T>(rows * d, 800 + d, 0.5, 2.0);
    auto b = random_buffer<T>(rows * d, 801 + d, -0.25, 1.0);
    auto g = random_buffer<T>(d, 802 + d, 1.0, 0.5);
    auto bt = random_buffer<T>(d, 803 + d);
    INFO("streaming stores " << type_name<T>() << " " << (k::arch_for_t<T, Arch>::name()) << " d=" << d);
    // every output of the four kernels, each in its own buffer
    struct outputs {
        offset_buffer<T> ln, ln_mean, ln_rstd, rms_in_place, rms_rrms, add_ln_sum, add_ln, add_ln_mean, add_ln_rstd,
            add_rms_sum, add_rms, add_rms_rrms, ln_dx, ln_dgamma, ln_dbeta, rms_dx, rms_dgamma;
    };
    auto dy = random_buffer<T>(rows * d, 804 + d);
    auto run = [&](std::size_t threshold, std::size_t extra) {
        const std::size_t n = rows * d;
        auto rows_of = [&](std::size_t count) { return buffer_at_alignment<T>(count, extra); };
        outputs o{rows_of(n), rows_of(rows), rows_of(rows), rows_of(n), rows_of(rows), rows_of(n),
                  rows_of(n), rows_of(rows), rows_of(rows), rows_of(n), rows_of(n),    rows_of(rows),
                  rows_of(n), rows_of(d),    rows_of(d),    rows_of(n), rows_of(d)};
        const streaming_threshold_scope scope(threshold);
        k::layer_norm_rows<Arch>(a.data(), rows, d, g.data(), bt.data(), T(1e-5), o.ln.data(), o.ln_mean.data(),
                                 o.ln_rstd.data());
        std::copy(a.data(), a.data() + n, o.rms_in_place.data());
        k::rms_norm_rows<Arch>(o.rms_in_place.data(), rows, d, g.data(), nullptr, T(1e-5), o.rms_in_place.data(),
                               o.rms_rrms.data());
        k::add_layer_norm_rows<Arch>(a.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), o.add_ln_sum.data(),
                                     o.add_ln.data(), o.add_ln_mean.data(), o.add_ln_rstd.data());
        k::add_rms_norm_rows<Arch>(a.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), o.add_rms_sum.data(),
                                   o.add_rms.data(), o.add_rms_rrms.data());
        k::layer_norm_backward_rows<Arch>(a.data(), dy.data(), rows, d, g.data(), o.ln_mean.data(), o.ln_rstd.data(),
                                          o.ln_dx.data(), o.ln_dgamma.data(), o.ln_dbeta.data());
        k::rms_norm_backward_rows<Arch>(a.data(), dy.data(), rows, d, g.data(), o.rms_rrms.data(), o.rms_dx.data(),
                                        o.rms_dgamma.data(), nullptr);
        return o;
    };
    for (std::size_t extra : {std::size_t{0}, std::size_t{1}}) {
        INFO("outputs " << extra << " elements past a 64-byte boundary");
        const outputs streamed = run(0, extra), normal = run(std::numeric_limits<std::size_t>::max(), extra);
        auto same = [&](const offset_buffer<T>& p, const offset_buffer<T>& q, std::size_t n) {
            return bit_equal(p.data(), q.data(), n);
        };
        const std::size_t n = rows * d;
        CHECK(same(streamed.ln, normal.ln, n));
        CHECK(same(streamed.ln_mean, normal.ln_mean, rows));
        CHECK(same(streamed.ln_rstd, normal.ln_rstd, rows));
        CHECK(same(streamed.rms_in_place, normal.rms_in_place, n));
        CHECK(same(streamed.rms_rrms, normal.rms_rrms, rows));
        CHECK(same(streamed.add_ln_sum, normal.add_ln_sum, n));
        CHECK(same(streamed.add_ln, normal.add_ln, n));
        CHECK(same(streamed.add_ln_mean, normal.add_ln_mean, rows));
        CHECK(same(streamed.add_ln_rstd, normal.add_ln_rstd, rows));
        CHECK(same(streamed.add_rms_sum, normal.add_rms_sum, n));
        CHECK(same(streamed.add_rms, normal.add_rms, n));
        CHECK(same(streamed.add_rms_rrms, normal.add_rms_rrms, rows));
        CHECK(same(streamed.ln_dx, normal.ln_dx, n));
        CHECK(same(streamed.ln_dgamma, normal.ln_dgamma, d));
        CHECK(same(streamed.ln_dbeta, normal.ln_dbeta, d));
        CHECK(same(streamed.rms_dx, normal.rms_dx, n));
        CHECK(same(streamed.rms_dgamma, normal.rms_dgamma, d));
    }
}

// Every schedule of the forward norms (norm_forward.hpp: row groups, the default; the row pipeline, forced here at
// every width, not only at its own; automatic, whichever it picks) gives the default's bits: outputs, statistics
// and stored sums, for the four kernels and every presence of gamma / beta.
template <class Arch, class T>
void check_schedules(std::size_t d) {
    using A = k::arch_for_t<T, Arch>;
    using k::detail::norm_schedule;
    auto x = random_buffer<T>(rows * d, 900 + d, 0.5, 2.0);
    auto b = random_buffer<T>(rows * d, 901 + d, -0.25, 1.0);
    auto g = random_buffer<T>(d, 902 + d, 1.0, 0.5);
    auto bt = random_buffer<T>(d, 903 + d);
    struct outputs {
        offset_buffer<T> y, sum, mean, rstd;
    };
    // kernel 0: LayerNorm, 1: RMSNorm, 2: add + LayerNorm, 3: add + RMSNorm
    auto run = [&]<norm_schedule S, bool G, bool B>(int kernel) {
        outputs o{offset_buffer<T>(rows * d), offset_buffer<T>(rows * d), offset_buffer<T>(rows),
                  offset_buffer<T>(rows)};
        const T* gamma = G ? g.data() : nullptr;
        const T* beta = B ? bt.data() : nullptr;
        const k::detail::norm_args<T> args{gamma, beta, T(1e-5), o.y.data(), o.mean.data(), o.rstd.data(), false};
        const k::detail::row_input<T> plain{x.data()};
        const k::detail::added_input<T> added{x.data(), b.data(), o.sum.data()};
        if (kernel == 0) k::detail::norm_rows<A, true, G, B, S>(plain, rows, d, args);
        if (kernel == 1) k::detail::norm_rows<A, false, G, B, S>(plain, rows, d, args);
        if (kernel == 2) k::detail::norm_rows<A, true, G, B, S>(added, rows, d, args);
        if (kernel == 3) k::detail::norm_rows<A, false, G, B, S>(added, rows, d, args);
        return o;
    };
    auto same = [&](const outputs& p, const outputs& q, int kernel) {
        return bit_equal(p.y.data(), q.y.data(), rows * d) && bit_equal(p.rstd.data(), q.rstd.data(), rows) &&
               (kernel % 2 == 1 || bit_equal(p.mean.data(), q.mean.data(), rows)) &&
               (kernel < 2 || bit_equal(p.sum.data(), q.sum.data(), rows * d));
    };
    auto compare = [&]<bool G, bool B>() {
        for (int kernel = 0; kernel < 4; ++kernel) {
            INFO("schedules " << type_name<T>() << " " << A::name() << " d=" << d << " kernel " << kernel
                              << " gamma " << G << " beta " << B);
            const outputs groups = run.template operator()<norm_schedule::row_groups, G, B>(kernel);
            CHECK(same(run.template operator()<norm_schedule::row_pipeline, G, B>(kernel), groups, kernel));
            CHECK(same(run.template operator()<norm_schedule::automatic, G, B>(kernel), groups, kernel));
        }
    };
    compare.template operator()<true, true>();
    compare.template operator()<true, false>();
    compare.template operator()<false, true>();
    compare.template operator()<false, false>();
}

template <class Arch, class T>
void check_all(error_report& report) {
    for (std::size_t d : group_dims()) {
        check_layer_norm<Arch, T>(d, report);
        check_rms_norm<Arch, T>(d, report);
        check_fused_equals_unfused<Arch, T>(d);
        check_streaming_equals_normal<Arch, T>(d);
        check_schedules<Arch, T>(d);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("a row's result does not depend on its group, its lane or the number of rows", "[kernels]",
                   float, double) {
    const std::string title = std::string("grouped rows vs long-double reference, ") + type_name<TestType>();
    SECTION("SIMD path") {
        error_report report{title + ", SIMD path", {}};
        check_all<k::default_arch, TestType>(report);
    }
    SECTION("scalar path") {
        error_report report{title + ", scalar path", {}};
        check_all<k::scalar_arch, TestType>(report);
    }
}

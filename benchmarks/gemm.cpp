// W6 (SGEMM, BENCHMARKS.md): C = A B for square n x n float matrices through latent's matmul op, through the
// raw kernels::gemm, and through OpenBLAS's cblas_sgemm when available; plus the FP32 FMA peak of this machine
// measured by a register-only loop, the ceiling the GEMM figures are read against ("x% of peak").
#include <immintrin.h>

#include <latent/kernels/gemm.hpp>
#include <latent/latent.hpp>

#include "bench_common.hpp"

#ifdef LATENT_BENCH_HAVE_CBLAS
#include <cblas.h>
#endif

namespace {

using latent_bench::gemm_sample_seconds;
using latent_bench::micro_samples;

// ---- FMA peak -------------------------------------------------------------------------------------------------
// 16 independent multiply-add chains per thread, all in registers: enough to cover FMA latency x throughput on
// current x86 cores (4 cycles x 2 pipes), so the loop runs at the FMA units' rate and nothing else.
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int lanes = 16;
constexpr const char* isa = "AVX-512";
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float first_lane(Vec v) { return _mm512_cvtss_f32(v); }
#elif defined(__FMA__) && defined(__AVX__)
using Vec = __m256;
constexpr int lanes = 8;
constexpr const char* isa = "AVX2";
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float first_lane(Vec v) { return _mm256_cvtss_f32(v); }
#endif

#ifdef __FMA__
constexpr int chains = 16;
constexpr long fma_iterations = 1 << 17;

[[gnu::noinline]] float fma_loop(long iterations, float seed) {
  Vec acc[chains];
  for (int c = 0; c < chains; ++c) acc[c] = splat(seed + static_cast<float>(c));
  const Vec m = splat(0.9999999f), b = splat(1e-7f);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < chains; ++c) acc[c] = fma(acc[c], m, b);
  }
  float s = 0;
  for (int c = 0; c < chains; ++c) s += first_lane(acc[c]);
  return s;
}

/// Runs fma_loop(iterations) on every thread at once, `samples` times after `warmup` calls, and reports the rate
/// of the fastest call (sustained = false) or of the median one.
void fma_rate(benchmark::State& state, long iterations, int warmup, int samples, bool sustained) {
  const int threads = latent::num_threads();
  volatile float sink = 0;
  auto run = [&] {
#if LATENT_HAS_OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
      const float r = fma_loop(iterations, 1.0f);
      if (r == 42.0f) sink = r;  // keeps the result alive
    }
  };
  const double flops = 2.0 * lanes * chains * static_cast<double>(iterations) * threads;
  for (auto _ : state) {
    const latent_bench::Timing t = latent_bench::measure(run, warmup, samples, 1);
    latent_bench::report(state, t);
    state.counters["GFLOPS"] = flops / (sustained ? t.median_s : t.min_s) * 1e-9;
  }
  state.counters["threads"] = threads;
  state.counters["GFLOPS_per_thread"] = state.counters["GFLOPS"].value / threads;
  state.SetLabel(isa);
}

// A ceiling: the fastest of many short calls (~0.3-0.6 ms each, shorter than a scheduler time slice), so that it
// holds even on a loaded machine, where the slower ones lost time to other processes.
void fma_peak(benchmark::State& state) { fma_rate(state, fma_iterations, 5, 200, false); }
BENCHMARK(fma_peak)->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

// The same loop held for ~0.3 s at a time (median of 3): the rate the core keeps under a sustained AVX load, where
// short calls might still run at a higher turbo clock. A second reading of the ceiling, not a target.
void fma_peak_sustained(benchmark::State& state) { fma_rate(state, fma_iterations * 1000, 1, 3, true); }
BENCHMARK(fma_peak_sustained)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
#endif

// ---- SGEMM ----------------------------------------------------------------------------------------------------
void sgemm_args(benchmark::internal::Benchmark* b) {
  for (int n : {128, 256, 512, 1024, 2048}) b->Arg(n);
  b->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);
}

double sgemm_flops(latent::index_t n) {
  return 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
}

/// Through the differentiable matmul op, as a user's code calls it (allocation of C included).
void W6_sgemm(benchmark::State& state) {
  const latent::index_t n = state.range(0);
  latent::Rng rng(0);
  const auto a = latent::randn<float>({n, n}, rng), b = latent::randn<float>({n, n}, rng);
  auto run = [&] { benchmark::DoNotOptimize(latent::matmul(a, b).data()); };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 2, micro_samples, gemm_sample_seconds),
                         sgemm_flops(n));
}
BENCHMARK(W6_sgemm)->Apply(sgemm_args);

/// The raw kernel under matmul, into a preallocated C.
void W6_sgemm_kernel(benchmark::State& state) {
  const latent::index_t n = state.range(0);
  latent::Rng rng(0);
  const auto a = latent::randn<float>({n, n}, rng), b = latent::randn<float>({n, n}, rng);
  auto c = latent::zeros<float>({n, n});
  auto run = [&] {
    latent::kernels::gemm(false, false, n, n, n, 1.0f, a.data(), b.data(), 0.0f, c.data());
    benchmark::ClobberMemory();
  };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 2, micro_samples, gemm_sample_seconds),
                         sgemm_flops(n));
}
BENCHMARK(W6_sgemm_kernel)->Apply(sgemm_args);

#ifdef LATENT_BENCH_HAVE_CBLAS
/// OpenBLAS's SGEMM on the same data: its threads follow OPENBLAS_NUM_THREADS, and Debian's build needs
/// OPENBLAS_CORETYPE=SkylakeX on this CPU (scripts/bench sets both for this benchmark only).
void W6_sgemm_cblas(benchmark::State& state) {
  const latent::index_t n = state.range(0);
  latent::Rng rng(0);
  const auto a = latent::randn<float>({n, n}, rng), b = latent::randn<float>({n, n}, rng);
  auto c = latent::zeros<float>({n, n});
  const auto ni = static_cast<int>(n);
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a.data(), ni, b.data(), ni, 0.0f, c.data(),
                ni);
    benchmark::ClobberMemory();
  };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 2, micro_samples, gemm_sample_seconds),
                         sgemm_flops(n));
}
BENCHMARK(W6_sgemm_cblas)->Apply(sgemm_args);
#endif

}  // namespace

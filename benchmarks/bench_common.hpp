// The timing protocol shared by latent's benchmarks and their LibTorch twins (compare/torch_workloads.py
// repeats it in Python), and the peak-resident-memory probe. Standard library only: the twins include it too.
//
// Protocol: `warmup` untimed calls, then `samples` timed samples, each the mean of `batch` consecutive calls;
// the figure is the median sample. Workload steps use batch 1 (one sample = one training step); tiny ops and
// GEMMs use a batch calibrated so a sample lasts long enough for the clock.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <sys/resource.h>

namespace latent_bench {

/// Steps of the training-step workloads (BENCHMARKS.md: >= 20 timed steps after 5 warm-up steps).
inline constexpr int workload_warmup = 5;
inline constexpr int w1_samples = 30;
inline constexpr int w2_samples = 20;
inline constexpr int w3_samples = 20;
inline constexpr int w3b_samples = 20;
inline constexpr int w4_samples = 100;  // a W4 step is ~1 ms: more samples cost little and steady the median
/// W5 (sampling): one sample = one generation from a 1-token prompt after one warm-up generation; tokens/s =
/// tokens / median seconds per generation.
inline constexpr int w5_recompute_samples = 5;
inline constexpr int w5_cache_samples = 20;
inline constexpr int w5_recompute_tokens = 256;  // nanoGPT's generate: the context cropped to the last 64 tokens
inline constexpr int w5_cache_tokens = 64;       // within the block: learned positions make a cache exact only there

/// Micro-benchmarks (GEMM, per-op overhead): samples of at least these many seconds.
inline constexpr int micro_samples = 7;
inline constexpr double gemm_sample_seconds = 0.02;
inline constexpr double overhead_sample_seconds = 0.002;

struct Timing {
  double median_s = 0;
  double p25_s = 0;  // quartiles of the samples, to show the spread
  double p75_s = 0;
  double min_s = 0;  // the fastest sample (what a peak measurement wants)
  int samples = 0;
  int batch = 0;
};

inline double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

/// Runs fn() `warmup` times, then `samples` samples of `batch` calls each; per-call seconds.
template <class Fn>
Timing measure(Fn&& fn, int warmup, int samples, int batch) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> per_call;
  per_call.reserve(static_cast<std::size_t>(samples));
  for (int s = 0; s < samples; ++s) {
    const auto start = clock::now();
    for (int i = 0; i < batch; ++i) fn();
    per_call.push_back(std::chrono::duration<double>(clock::now() - start).count() / batch);
  }
  return {quantile(per_call, 0.5),
          quantile(per_call, 0.25),
          quantile(per_call, 0.75),
          quantile(per_call, 0),
          samples,
          batch};
}

/// Like measure(), with the batch chosen so that one sample lasts about `sample_seconds` (timed on a
/// warm call). The calibration calls count as warm-up.
template <class Fn>
Timing measure_calibrated(Fn&& fn, int warmup, int samples, double sample_seconds) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) fn();
  int batch = 1;
  auto time_batch = [&] {
    const auto start = clock::now();
    for (int i = 0; i < batch; ++i) fn();
    return std::chrono::duration<double>(clock::now() - start).count();
  };
  for (;;) {  // double the batch until it lasts a tenth of a sample, then extrapolate from the fastest of 3
    double t = time_batch();
    if (t >= sample_seconds) break;  // this batch already fills a sample (large GEMMs: batch 1)
    if (t >= sample_seconds / 10 || batch >= (1 << 24)) {
      t = std::min({t, time_batch(), time_batch()});
      batch = std::max(1, static_cast<int>(std::ceil(sample_seconds / (t / batch))));
      break;
    }
    batch *= 2;
  }
  return measure(fn, 0, samples, batch);
}

/// Reports a Timing through Google Benchmark: the benchmark's time is the median (register it with
/// UseManualTime() and Iterations(1)), the counters carry the spread and, given the FLOPs of one call, GFLOP/s.
inline void report(benchmark::State& state, const Timing& t, double flops_per_call = 0) {
  state.SetIterationTime(t.median_s);
  state.counters["median_ms"] = t.median_s * 1e3;
  state.counters["p25_ms"] = t.p25_s * 1e3;
  state.counters["p75_ms"] = t.p75_s * 1e3;
  state.counters["min_ms"] = t.min_s * 1e3;
  state.counters["samples"] = t.samples;
  state.counters["batch"] = t.batch;
  if (flops_per_call > 0) state.counters["GFLOPS"] = flops_per_call / t.median_s * 1e-9;
}

/// Adds tokens/s (W5) to a generation's report.
inline void report_tokens(benchmark::State& state, const Timing& t, int tokens) {
  state.counters["tokens"] = tokens;
  state.counters["tok_s"] = tokens / t.median_s;
}

/// Peak resident set size of this process in MiB: VmHWM from /proc/self/status, else getrusage.
inline double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:   12345 kB"
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

/// The line every executable prints in --peak-memory mode (parsed by scripts/bench).
inline void print_peak_memory(const char* impl, const std::string& workload, int steps) {
  std::printf("{\"impl\": \"%s\", \"workload\": \"%s\", \"steps\": %d, \"peak_rss_mib\": %.1f}\n", impl,
              workload.c_str(), steps, peak_rss_mib());
}

/// Command-line options the benchmark executables take besides Google Benchmark's own.
struct Options {
  int threads = 1;
  std::string peak_memory;  // workload name for the --peak-memory mode, empty otherwise
  int steps = 30;
};

/// Parses and removes --threads=N, --peak-memory=NAME and --steps=N (also as two arguments); the rest
/// is left for benchmark::Initialize. Returns false on a malformed value.
inline bool parse_options(int& argc, char** argv, Options& o) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto take = [&](const char* name, std::string& value) {
      const std::string flag = std::string("--") + name;
      if (arg == flag && i + 1 < argc) {
        value = argv[++i];
        return true;
      }
      if (arg.rfind(flag + "=", 0) == 0) {
        value = arg.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    std::string value;
    try {
      if (take("threads", value))
        o.threads = std::stoi(value);
      else if (take("peak-memory", value))
        o.peak_memory = value;
      else if (take("steps", value))
        o.steps = std::stoi(value);
      else
        argv[out++] = argv[i];
    } catch (const std::exception&) {
      std::fprintf(stderr, "bad value '%s' for %s\n", value.c_str(), arg.c_str());
      return false;
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return o.threads >= 1 && o.steps >= 0;  // 0 steps: the idle process (--peak-memory=idle)
}

}  // namespace latent_bench

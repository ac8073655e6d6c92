// latent_bench's entry point: Google Benchmark's runner plus two options of our own.
//   --threads=N              threads for latent's kernels and Eigen's GEMM (default 1)
//   --peak-memory=W1|W2|W3|W3b|W4|idle
//                            run that workload for --steps=N steps (default 30) in this fresh process and
//                            print its peak resident memory as one JSON line (and the allocator's peaks on
//                            stderr); no benchmarks are run
// scripts/bench drives it; any other argument goes to Google Benchmark (--benchmark_filter=..., ...).
#include <cstdio>
#include <string>

#include <latent/latent.hpp>

#include "bench_common.hpp"

namespace latent_bench {
bool run_workload(const std::string& name, int steps);      // workloads.cpp: W1, W4
bool run_gan_workload(const std::string& name, int steps);  // workloads_gan.cpp: W2
bool run_gpt_workload(const std::string& name, int steps);  // workloads_gpt.cpp: W3, W3b (once nn/gpt.hpp exists)
}

int main(int argc, char** argv) {
  latent_bench::Options options;
  if (!latent_bench::parse_options(argc, argv, options)) {
    std::fprintf(stderr, "usage: %s [--threads=N] [--peak-memory=W1|W2|W3|W3b|W4|idle [--steps=N]] [benchmark options]\n",
                 argv[0]);
    return 2;
  }
  latent::set_num_threads(options.threads);
  if (!options.peak_memory.empty()) {
    const std::string& w = options.peak_memory;
    if (w != "idle" && !latent_bench::run_workload(w, options.steps) && !latent_bench::run_gan_workload(w, options.steps) &&
        !latent_bench::run_gpt_workload(w, options.steps)) {
      std::fprintf(stderr, "unknown workload '%s' (W1, W2, W3, W3b, W4 or idle)\n", w.c_str());
      return 2;
    }
    latent_bench::print_peak_memory("latent", options.peak_memory, options.peak_memory == "idle" ? 0 : options.steps);
    const latent::MemoryStats m = latent::memory_stats();  // what the resident set is made of (stderr: a diagnostic)
    std::fprintf(stderr, "latent allocator: peak in use %.1f MiB, peak held from the system %.1f MiB, %zu system allocations, %zu releases\n",
                 double(m.peak_bytes_in_use) / (1 << 20), double(m.peak_bytes_reserved) / (1 << 20), m.system_allocations,
                 m.system_releases);
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("impl", "latent");
  benchmark::AddCustomContext("threads", std::to_string(options.threads));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

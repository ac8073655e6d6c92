// What every training-step workload shares (W1-W4): a Google Benchmark body that times Workload::step() (median over
// `samples` steps after the warm-up, loss reported) and an untimed run for --peak-memory. A Workload is
// default-constructible and has `float step()`.
#pragma once

#include <benchmark/benchmark.h>

#include "bench_common.hpp"

namespace latent_bench {

template <class Workload>
void run_steps(benchmark::State& state, int samples) {
  Workload w;
  float loss = 0;
  for (auto _ : state) report(state, measure([&] { loss = w.step(); }, workload_warmup, samples, 1));
  state.counters["loss"] = loss;
}

/// `steps` steps of a fresh Workload, untimed (the --peak-memory probe); true.
template <class Workload>
bool run_untimed(int steps) {
  Workload w;
  for (int i = 0; i < steps; ++i) w.step();
  return true;
}

}  // namespace latent_bench

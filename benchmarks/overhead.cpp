// Per-op overhead: add, mul, relu, matmul 1x1 and sum on 1-element tensors, where the arithmetic is nothing
// and the figure is what the framework costs per op (allocation, shape checks, graph recording, the backward
// sweep). overhead_<op>_fwd: inputs without requires_grad, no graph. overhead_<op>_fwd_bwd: inputs requiring
// gradients, forward + backward + clearing the leaves' .grad (what one op costs inside a training step).
// Target (BENCHMARKS.md): <= 1 us forward + backward. compare/torch_workloads.{cpp,py} time the same.
#include <latent/latent.hpp>

#include "bench_common.hpp"

namespace {

using latent::Tensor;

struct AddOp {
  static constexpr bool binary = true, matrix = false;
  Tensor<float> operator()(const Tensor<float>& a, const Tensor<float>& b) const { return latent::add(a, b); }
};
struct MulOp {
  static constexpr bool binary = true, matrix = false;
  Tensor<float> operator()(const Tensor<float>& a, const Tensor<float>& b) const { return latent::mul(a, b); }
};
struct ReluOp {
  static constexpr bool binary = false, matrix = false;
  Tensor<float> operator()(const Tensor<float>& a, const Tensor<float>&) const { return latent::relu(a); }
};
struct MatmulOp {  // [1,1] x [1,1]
  static constexpr bool binary = true, matrix = true;
  Tensor<float> operator()(const Tensor<float>& a, const Tensor<float>& b) const { return latent::matmul(a, b); }
};
struct SumOp {  // [1] -> scalar
  static constexpr bool binary = false, matrix = false;
  Tensor<float> operator()(const Tensor<float>& a, const Tensor<float>&) const { return latent::sum(a); }
};

template <class Op>
void overhead_fwd(benchmark::State& state) {
  const latent::Shape shape = Op::matrix ? latent::Shape{1, 1} : latent::Shape{1};
  const auto a = latent::full<float>(shape, 0.5f), b = latent::full<float>(shape, 2.0f);
  const Op op;
  auto run = [&] { benchmark::DoNotOptimize(op(a, b).data()); };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 100, latent_bench::micro_samples,
                                                                 latent_bench::overhead_sample_seconds));
}

template <class Op>
void overhead_fwd_bwd(benchmark::State& state) {
  const latent::Shape shape = Op::matrix ? latent::Shape{1, 1} : latent::Shape{1};
  auto a = latent::full<float>(shape, 0.5f), b = latent::full<float>(shape, 2.0f);
  a.set_requires_grad();
  if (Op::binary) b.set_requires_grad();
  const Op op;
  const Tensor<float> seed = latent::ones<float>(op(a.detach(), b.detach()).shape());
  auto run = [&] {
    const Tensor<float> y = op(a, b);
    if (y.rank() == 0)
      y.backward();
    else
      y.backward(seed);
    a.set_grad(Tensor<float>());  // as optimizer.zero_grad(set_to_none=True)
    b.set_grad(Tensor<float>());
  };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 100, latent_bench::micro_samples,
                                                                 latent_bench::overhead_sample_seconds));
}

#define LATENT_OVERHEAD_BENCHMARKS(name, Op) \
  BENCHMARK(overhead_fwd<Op>)                \
      ->Name("overhead_" name "_fwd")        \
      ->UseManualTime()                      \
      ->Iterations(1)                        \
      ->Unit(benchmark::kNanosecond);        \
  BENCHMARK(overhead_fwd_bwd<Op>)            \
      ->Name("overhead_" name "_fwd_bwd")    \
      ->UseManualTime()                      \
      ->Iterations(1)                        \
      ->Unit(benchmark::kNanosecond)

LATENT_OVERHEAD_BENCHMARKS("add", AddOp);
LATENT_OVERHEAD_BENCHMARKS("mul", MulOp);
LATENT_OVERHEAD_BENCHMARKS("relu", ReluOp);
LATENT_OVERHEAD_BENCHMARKS("matmul", MatmulOp);
LATENT_OVERHEAD_BENCHMARKS("sum", SumOp);

}  // namespace

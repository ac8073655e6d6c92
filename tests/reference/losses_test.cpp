// Every loss of ops/loss.hpp against PyTorch 1.13 in float64 (oracle: tests/reference/data/loss_*, written by
// make_reference.py): value and gradients for PyTorch's upstream gradient (tolerance: reference_data.hpp).
#include <functional>
#include <map>

#include "reference_data.hpp"

using namespace latent;
using reference::check_close;
using reference::load;

namespace {

using Args = std::map<std::string, Tensor<double>>;

/// Loads the float arguments `names` (those in `differentiable` require grad), evaluates `loss`, backpropagates
/// PyTorch's upstream gradient and compares the value and the gradients.
void run_loss(const std::string& loss_case, const std::vector<std::string>& names,
              const std::vector<std::string>& differentiable, const std::function<Tensor<double>(Args&)>& loss) {
  const std::string name = "loss_" + loss_case;
  Args args;
  for (const auto& a : names) args[a] = load<double>(name, a);
  for (const auto& a : differentiable) args[a].set_requires_grad(true);
  const Tensor<double> out = loss(args);
  check_close(out, load<double>(name, "output"), name + " output");
  out.backward(load<double>(name, "grad_output"));
  for (const auto& a : differentiable)
    check_close(args[a].grad(), load<double>(name, "grad_" + a), name + " grad_" + a);
}

Tensor<std::int64_t> target_of(const std::string& loss_case) {
  return load<std::int64_t>("loss_" + loss_case, "target");
}

}  // namespace

TEST_CASE("mse_loss and l1_loss match PyTorch for every reduction", "[reference][loss]") {
  const std::vector<std::string> both{"input", "target"};
  run_loss("mse_mean", both, both, [](Args& a) { return mse_loss(a["input"], a["target"]); });
  run_loss("mse_sum", both, both, [](Args& a) { return mse_loss(a["input"], a["target"], Reduction::sum); });
  run_loss("mse_none", both, both, [](Args& a) { return mse_loss(a["input"], a["target"], Reduction::none); });
  run_loss("l1", both, both, [](Args& a) { return l1_loss(a["input"], a["target"]); });
}

TEST_CASE("binary cross-entropy on probabilities and on logits matches PyTorch", "[reference][loss]") {
  run_loss("bce", {"input", "target"}, {"input"},
           [](Args& a) { return binary_cross_entropy(a["input"], a["target"]); });
  run_loss("bce_sum", {"input", "target"}, {"input"},
           [](Args& a) { return binary_cross_entropy(a["input"], a["target"], Reduction::sum); });
  // logits of ±40 included: the stable form neither overflows nor loses the gradient's sign.
  run_loss("bce_with_logits", {"input", "target"}, {"input", "target"},
           [](Args& a) { return binary_cross_entropy_with_logits(a["input"], a["target"]); });
}

TEST_CASE("cross_entropy matches PyTorch with ignore_index, label smoothing and every reduction", "[reference][loss]") {
  struct Case {
    const char* name;
    double smoothing;
    Reduction reduction;
  };
  for (const Case& c : {Case{"ce", 0.0, Reduction::mean}, Case{"ce_ignore", 0.0, Reduction::mean},
                        Case{"ce_smooth", 0.1, Reduction::mean}, Case{"ce_ignore_smooth", 0.2, Reduction::mean},
                        Case{"ce_sum", 0.1, Reduction::sum}, Case{"ce_none", 0.1, Reduction::none}}) {
    const Tensor<std::int64_t> target = target_of(c.name);
    run_loss(c.name, {"input"}, {"input"}, [&](Args& a) {
      return cross_entropy(a["input"], target, {.label_smoothing = c.smoothing, .reduction = c.reduction});
    });
  }
  // [B, T, C] logits with the classes last (PyTorch was given them transposed to [B, C, T]).
  const Tensor<std::int64_t> seq_target = target_of("ce_seq");
  run_loss("ce_seq", {"input"}, {"input"},
           [&](Args& a) { return cross_entropy(a["input"], seq_target, {.label_smoothing = 0.1}); });
}

TEST_CASE("nll_loss matches PyTorch with the default and a custom ignore_index", "[reference][loss]") {
  const Tensor<std::int64_t> target = target_of("nll");
  run_loss("nll", {"input"}, {"input"}, [&](Args& a) { return nll_loss(a["input"], target); });
  const Tensor<std::int64_t> target_all = target_of("nll_ignore2_sum");
  run_loss("nll_ignore2_sum", {"input"}, {"input"},
           [&](Args& a) { return nll_loss(a["input"], target_all, 2, Reduction::sum); });
}

TEST_CASE("gaussian_nll_loss matches PyTorch including the eps clamp and a broadcast variance", "[reference][loss]") {
  const std::vector<std::string> all{"input", "target", "var"};
  run_loss("gaussian_nll", all, all, [](Args& a) { return gaussian_nll_loss(a["input"], a["target"], a["var"]); });
  run_loss("gaussian_nll_full_sum", all, all, [](Args& a) {  // var [5,1] against input [5,4]
    return gaussian_nll_loss(a["input"], a["target"], a["var"], {.full = true, .reduction = Reduction::sum});
  });
}

TEST_CASE("kl_normal matches -0.5 sum(1 + logvar - mu^2 - exp(logvar)) computed by PyTorch", "[reference][loss]") {
  run_loss("kl_normal", {"mu", "logvar"}, {"mu", "logvar"}, [](Args& a) { return kl_normal(a["mu"], a["logvar"]); });
}

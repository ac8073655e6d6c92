// Anomaly mode (opt-in, per thread): every op's output is checked for NaN (and, strictly, Inf) and every gradient a
// backward rule returns for NaN and Inf; the first one found throws a ValueError naming the op. Off by default; when
// off it costs one thread-local bool read per op.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "node.hpp"

namespace latent::autograd {

namespace anomaly_detail {
inline bool& anomaly_flag() noexcept {
  thread_local bool enabled = false;
  return enabled;
}
inline bool& anomaly_forward_inf_flag() noexcept {
  thread_local bool enabled = false;
  return enabled;
}
// The op whose backward rule is running in anomaly mode, or nullptr. Inside a rule the ops it calls are not
// checked one by one (a rule may build an infinite intermediate and mask it with where, as pow's does); the
// gradients it returns are.
inline const char*& anomaly_backward_op() noexcept {
  thread_local const char* name = nullptr;
  return name;
}
}  // namespace anomaly_detail

/// True when anomaly checks run on this thread.
inline bool is_anomaly_enabled() noexcept { return anomaly_detail::anomaly_flag(); }

/// Turns anomaly checks on or off for this thread (like torch.autograd.set_detect_anomaly). Forward outputs are
/// checked for NaN, and also for Inf when `forward_inf` is set: off by default because ops produce infinities on
/// purpose (binary_cross_entropy's log(0) before PyTorch's clamp at -100, -inf attention masks), and an infinity
/// that matters turns into a NaN or an infinite gradient, which are caught. Gradients are checked for both.
/// Prefer AnomalyGuard, which restores the previous setting.
inline void set_detect_anomaly(bool enabled, bool forward_inf = false) noexcept {
  anomaly_detail::anomaly_flag() = enabled;
  anomaly_detail::anomaly_forward_inf_flag() = forward_inf;
}

/// Anomaly checks on (or off) in a scope, restoring the previous setting on exit:
///   { autograd::AnomalyGuard anomaly; auto loss = model.loss(x); loss.backward(); }
/// throws e.g. "[latent.value] anomaly: log produced NaN at index 3 of [4]" or "[latent.value] anomaly: gradient
/// for input 0 has Inf at index 1 of [2] in the backward of sqrt". See set_detect_anomaly for `forward_inf`.
class AnomalyGuard {
 public:
  explicit AnomalyGuard(bool enabled = true, bool forward_inf = false)
      : previous_(anomaly_detail::anomaly_flag()), previous_inf_(anomaly_detail::anomaly_forward_inf_flag()) {
    set_detect_anomaly(enabled, forward_inf);
  }
  ~AnomalyGuard() { set_detect_anomaly(previous_, previous_inf_); }
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool previous_, previous_inf_;
};

namespace anomaly_detail {

/// "3" for a vector, "[1,2]" for higher ranks: where the flat index `i` sits in `shape`.
inline std::string anomaly_position(const Shape& shape, std::int64_t i) {
  if (shape.rank() <= 1) return std::to_string(i);
  std::string s;
  for (int d = shape.rank() - 1; d >= 0; --d) {
    s = std::to_string(i % shape[d]) + (s.empty() ? "" : ",") + s;
    i /= shape[d];
  }
  return "[" + s + "]";
}

/// Throws when `t` holds a NaN (or, with `inf`, an infinity): "anomaly: <what> NaN at index 3 of [4]<where>".
template <class T>
void check_finite(const Tensor<T>& t, bool inf, const std::string& what, const std::string& where) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!t.defined()) return;
    const T* p = t.data();
    const std::int64_t n = t.numel();
    for (std::int64_t i = 0; i < n; ++i)
      if (std::isnan(p[i]) || (inf && std::isinf(p[i])))
        throw ValueError("anomaly: " + what + (std::isnan(p[i]) ? " NaN" : " Inf") + " at index " + anomaly_position(t.shape(), i) + " of " +
                         t.shape().str() + where);
  }
}

/// make_node's hook: an op's forward output (outside backward rules).
template <class T>
void check_op_output(const Tensor<T>& out, const char* op) {
  if (anomaly_backward_op() == nullptr) check_finite(out, anomaly_forward_inf_flag(), std::string(op) + " produced", "");
}

/// The engine's hook: runs a node's rule in anomaly mode and checks each gradient it returns.
template <class T>
void run_rule_checked(Node<T>& node, const Tensor<T>& grad_output, TensorList<T>& grads) {
  struct Scope {
    const char* previous = anomaly_backward_op();
    explicit Scope(const char* name) { anomaly_backward_op() = name; }
    ~Scope() { anomaly_backward_op() = previous; }
  } scope(node.name);
  node.backward(node, grad_output, grads);
  for (std::size_t i = 0; i < grads.size(); ++i)
    check_finite(grads[i], true, "gradient for input " + std::to_string(i) + " has", std::string(" in the backward of ") + node.name);
}

}  // namespace anomaly_detail
}  // namespace latent::autograd

// Node: one recorded op. It keeps its input tensors (the graph's edges), whatever its backward rule
// saved, and a plain function pointer to that rule. The rule is written with differentiable ops, so
// running it with recording on (create_graph) gives gradients of gradients.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "../core/tensor.hpp"
#include "../core/small_vector.hpp"

namespace latent::autograd {

template <class T>
using TensorList = detail::SmallVector<Tensor<T>, 4>;

template <class T>
struct Node {
  /// Computes the gradient of each input from the gradient of the output. It writes grads[i] only
  /// where needs_grad(i); an absent (undefined) gradient means zero.
  using BackwardFn = void (*)(Node& node, const Tensor<T>& grad_output, TensorList<T>& grads);

  const char* name = "";
  BackwardFn backward = nullptr;
  TensorList<T> inputs;                 // edges of the graph, in the op's argument order
  TensorList<T> saved;                  // extra tensors the rule needs (masks, statistics, ...)
  Tensor<std::int64_t> saved_index;     // integer tensor the rule needs (gather/embedding indices)
  std::array<index_t, 8> ints{};        // integer attributes (dims, strides, paddings)
  std::array<double, 4> reals{};        // real attributes (exponents, slopes, eps)
  Shape shape;                          // a shape attribute (e.g. the input shape of a reduction)
  std::weak_ptr<detail::TensorImpl<T>> output;  // never owning: the output owns this node

  // Engine bookkeeping, reset on every backward pass.
  Tensor<T> grad;          // gradient of the output, accumulated from its consumers
  int pending = 0;         // consumers not yet processed
  unsigned visit_epoch = 0;
  bool released = false;  // saved state freed after a backward without retain_graph

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Destroying a long chain (a graph nobody ran backward on) recursively would overflow the stack,
  /// so the nodes of inputs that die with this one are destroyed in a loop instead.
  ~Node() {
    thread_local std::vector<std::shared_ptr<Node>> doomed;
    thread_local bool draining = false;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& impl = inputs[i].impl_ptr();
      if (impl && impl.use_count() == 1 && impl->grad_fn) doomed.push_back(std::move(impl->grad_fn));
    }
    inputs.clear();
    if (draining) return;
    draining = true;
    while (!doomed.empty()) {
      std::shared_ptr<Node> n = std::move(doomed.back());
      doomed.pop_back();
      n.reset();  // may push that node's own inputs' nodes
    }
    draining = false;
  }

  bool needs_grad(std::size_t i) const { return inputs[i].requires_grad(); }

  /// The op's output as a tensor that carries its own history (e.g. exp's backward uses it).
  Tensor<T> output_tensor() const {
    auto impl = output.lock();
    if (!impl) throw AutogradError(std::string(name) + ": output of the op was freed before its backward ran");
    return Tensor<T>(std::move(impl));
  }

  void release() {
    inputs.clear();
    saved.clear();
    saved_index = Tensor<std::int64_t>();
    released = true;
  }
};

}  // namespace latent::autograd

// Node: one recorded op. It keeps its input tensors (the graph's edges), whatever its backward rule
// saved, and a plain function pointer to that rule. The rule is written with differentiable ops, so
// running it with recording on (create_graph) gives gradients of gradients. A backward without
// retain_graph frees each node's inputs and saved tensors as soon as its rule has run.
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
  /// Set by ops whose rule calls output_tensor() (exp, tanh, softmax, ...). The output lives only as long as
  /// someone holds it, usually the consumers' nodes, which a backward frees before this node's rule runs; so
  /// for such nodes the engine holds the output strongly from the start of the sweep until the rule has run.
  bool reads_output = false;

  // Engine bookkeeping, reset on every backward pass.
  Tensor<T> grad;          // gradient of the output, accumulated from its consumers
  int pending = 0;         // consumers not yet processed
  unsigned visit_epoch = 0;
  bool released = false;  // saved state freed after a backward without retain_graph
  // The output, held during a sweep that frees nodes early (reads_output only). A cycle (the output owns
  // this node through grad_fn) that the engine always breaks: release(), or the engine's exit (an exception mid-sweep).
  Tensor<T> held_output;

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

  /// For ops whose rule reads only the shape of input i (add, mul by a scalar, relu written with its output):
  /// the node keeps a stand-in with the input's shape and history but no storage, so that an activation no
  /// other rule needs dies in the forward pass (PyTorch saves only what a rule needs). Leaves and tensors
  /// without history stay as they are (leaf gradients accumulate through the tensor itself), and so do outputs
  /// of ops that read their own output: consumers holding those keep them alive for that op's rule.
  void keep_shape_only(std::size_t i) {
    const auto& impl = inputs[i].impl_ptr();
    if (!impl || !impl->grad_fn || impl->grad_fn->reads_output) return;
    auto stand_in = std::allocate_shared<detail::TensorImpl<T>>(detail::PoolAllocator<detail::TensorImpl<T>>{});
    stand_in->shape = impl->shape;
    stand_in->requires_grad = impl->requires_grad;
    stand_in->grad_fn = impl->grad_fn;
    inputs[i] = Tensor<T>(std::move(stand_in));
  }

  /// The op's output as a tensor that carries its own history (e.g. exp's backward uses it).
  Tensor<T> output_tensor() const {
    if (!reads_output)  // a rule that reads its output must say so, or early freeing would lose the output
      throw AutogradError(std::string(name) + ": the backward rule reads the op's output but the op did not set reads_output");
    auto impl = output.lock();
    if (!impl) throw AutogradError(std::string(name) + ": output of the op was freed before its backward ran");
    return Tensor<T>(std::move(impl));
  }

  /// Frees what only the rule needed (after it ran in a backward without retain_graph). Input nodes stay
  /// alive as long as the engine or other tensors own them.
  void release() {
    inputs.clear();
    saved.clear();
    saved_index = Tensor<std::int64_t>();
    held_output = Tensor<T>();
    released = true;
  }
};

}  // namespace latent::autograd

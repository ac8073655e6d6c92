// The backward engine: a topological order of the nodes reachable from the outputs (Kahn), then one
// reverse sweep that runs each node's rule and accumulates gradients into its inputs. Without
// retain_graph each node is freed right after its rule ran (PyTorch's behaviour), so the forward
// activations die during the sweep rather than after it.
// Tensor::backward() accumulates into leaves' .grad; grad() returns gradients instead (penalties).
#pragma once

#include <cstring>
#include <span>
#include <vector>

#include "function.hpp"

namespace latent {

// Differentiable addition, defined in ops/elementwise.hpp: gradients that meet are summed with it
// when create_graph is on, so the sum itself has history.
template <Scalar T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b);

namespace autograd {
namespace detail {

inline unsigned next_epoch() {
  thread_local unsigned epoch = 0;
  return ++epoch;
}

/// a += b elementwise (same shape), no history.
template <class T>
void add_in_place(Tensor<T>& a, const Tensor<T>& b) {
  T* __restrict pa = a.data();
  const T* __restrict pb = b.data();
  const index_t n = a.numel();
  for (index_t i = 0; i < n; ++i) pa[i] += pb[i];
}

template <class T>
bool uniquely_owned(const Tensor<T>& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1;
}

/// acc += g, where acc may be undefined. Without create_graph the sum reuses acc's buffer when no one
/// else can see it.
template <class T>
void accumulate(Tensor<T>& acc, Tensor<T>&& g, bool create_graph) {
  if (!acc.defined()) {
    acc = std::move(g);
  } else if (create_graph) {
    acc = add(acc, g);
  } else if (uniquely_owned(acc)) {
    add_in_place(acc, g);
  } else {
    Tensor<T> sum = acc.clone_detached();
    add_in_place(sum, g);
    acc = std::move(sum);
  }
}

/// leaf.grad += g. Without create_graph the leaf owns its gradient buffer (a shared incoming
/// gradient is copied once) and later passes add into it in place, as PyTorch does.
template <class T>
void accumulate_leaf(const Tensor<T>& leaf, Tensor<T>&& g, bool create_graph) {
  auto& slot = leaf.impl()->grad;
  if (!slot) {
    slot = create_graph || uniquely_owned(g) ? g.impl_ptr() : g.clone_detached().impl_ptr();
  } else if (create_graph || slot->requires_grad) {
    slot = add(Tensor<T>(slot), g).impl_ptr();
  } else {
    Tensor<T> acc(slot);
    add_in_place(acc, g);
  }
}

/// Runs the backward sweep from `roots` (seeded with `root_grads`). With `captures` non-empty the
/// gradients of those tensors are returned in `captured` and no .grad is touched (grad());
/// otherwise leaves accumulate into .grad (backward()).
template <class T>
void run_backward(std::span<const Tensor<T>> roots, std::span<const Tensor<T>> root_grads, bool retain_graph, bool create_graph,
                  const std::vector<Tensor<T>>* captures, std::vector<Tensor<T>>* captured) {
  // `stack` owns every reached node for the whole sweep: releasing a node's inputs may drop the last
  // other reference to a node still waiting in `ready`.
  thread_local std::vector<std::shared_ptr<Node<T>>> stack;
  thread_local std::vector<Node<T>*> ready;
  stack.clear();
  ready.clear();
  struct ClearOnExit {
    ~ClearOnExit() {
      for (const auto& n : stack) n->held_output = Tensor<T>();  // breaks output -> node -> output if a rule threw
      stack.clear();
    }
  } clear_on_exit;
  // Outputs that rules read (exp, tanh, softmax) are held from pass 1 on: their consumers, which hold
  // them as inputs, are freed before the producer's rule runs.
  auto hold_output = [&](Node<T>* n) {
    if (!retain_graph && n->reads_output) n->held_output = Tensor<T>(n->output.lock());
  };
  const unsigned epoch = next_epoch();
  const bool capturing = captures != nullptr;

  auto capture_slot = [&](const void* impl) -> int {
    if (!capturing) return -1;
    for (std::size_t k = 0; k < captures->size(); ++k)
      if ((*captures)[k].impl() == impl) return static_cast<int>(k);
    return -1;
  };

  // Pass 1: find every node reachable from the roots and count its consumers.
  for (const auto& r : roots) {
    Node<T>* n = r.grad_fn().get();
    if (n && n->visit_epoch != epoch) {
      n->visit_epoch = epoch;
      n->pending = 0;
      n->grad = Tensor<T>();
      stack.push_back(r.grad_fn());
      hold_output(n);
    }
  }
  for (std::size_t s = 0; s < stack.size(); ++s) {
    Node<T>* n = stack[s].get();
    if (n->released)
      throw AutogradError(std::string("backward through '") + n->name +
                          "' a second time: its saved tensors were freed; pass retain_graph = true to the first backward");
    for (std::size_t i = 0; i < n->inputs.size(); ++i) {
      Node<T>* c = n->inputs[i].defined() ? n->inputs[i].grad_fn().get() : nullptr;
      if (!c) continue;
      if (c->visit_epoch != epoch) {
        c->visit_epoch = epoch;
        c->pending = 0;
        c->grad = Tensor<T>();
        stack.push_back(n->inputs[i].grad_fn());
        hold_output(c);
      }
      c->pending++;
    }
  }

  // Seed the roots.
  for (std::size_t r = 0; r < roots.size(); ++r) {
    Tensor<T> g = root_grads[r];
    if (Node<T>* n = roots[r].grad_fn().get()) {
      accumulate(n->grad, std::move(g), create_graph);
    } else if (capturing) {
      const int k = capture_slot(roots[r].impl());
      if (k >= 0) accumulate((*captured)[static_cast<std::size_t>(k)], std::move(g), create_graph);
    } else if (roots[r].requires_grad()) {
      accumulate_leaf(roots[r], std::move(g), create_graph);
    }
  }
  for (const auto& n : stack)
    if (n->pending == 0) ready.push_back(n.get());

  // Pass 2: reverse sweep in topological order.
  EnableGradGuard mode(create_graph);
  TensorList<T> grads;
  while (!ready.empty()) {
    Node<T>* n = ready.back();
    ready.pop_back();
    Tensor<T> g = std::move(n->grad);
    n->grad = Tensor<T>();
    if (capturing && g.defined()) {
      auto out = n->output.lock();
      const int k = capture_slot(out.get());
      if (k >= 0) accumulate((*captured)[static_cast<std::size_t>(k)], Tensor<T>(g), create_graph);
    }
    grads.clear();
    grads.resize(n->inputs.size());
    if (g.defined()) {
      if (anomaly_detail::anomaly_flag()) [[unlikely]]
        anomaly_detail::run_rule_checked(*n, g, grads);  // anomaly mode: the rule's gradients are checked for NaN/Inf
      else
        n->backward(*n, g, grads);
    }
    g = Tensor<T>();
    for (std::size_t i = 0; i < n->inputs.size(); ++i) {
      const Tensor<T>& in = n->inputs[i];
      if (!in.defined()) continue;
      Node<T>* c = in.grad_fn().get();
      if (grads[i].defined() && in.requires_grad()) {
        if (!(grads[i].shape() == in.shape()))
          throw AutogradError(std::string("backward of '") + n->name + "' returned a gradient of shape " +
                              grads[i].shape().str() + " for input " + std::to_string(i) + " of shape " + in.shape().str());
        if (c) {
          accumulate(c->grad, std::move(grads[i]), create_graph);
        } else if (capturing) {
          const int k = capture_slot(in.impl());
          if (k >= 0) accumulate((*captured)[static_cast<std::size_t>(k)], std::move(grads[i]), create_graph);
        } else {
          accumulate_leaf(in, std::move(grads[i]), create_graph);
        }
      }
      if (c && --c->pending == 0) ready.push_back(c);
    }
    // Its inputs, saved tensors and held output are needed by no other rule; `stack` keeps the node
    // itself (its name for the second-backward error, and nodes other raw pointers still point to).
    if (!retain_graph) n->release();
  }
}

template <class T>
Tensor<T> default_root_grad(const Tensor<T>& root, const Tensor<T>& given, const char* what) {
  if (given.defined()) {
    LATENT_CHECK(given.shape() == root.shape(), ShapeError,
                 std::string(what) + ": grad_output " + given.shape().str() + " does not match output " + root.shape().str());
    return given;
  }
  LATENT_CHECK(root.numel() == 1, AutogradError,
               std::string(what) + ": output " + root.shape().str() + " is not a scalar; pass a grad_output of its shape");
  auto one = Tensor<T>::empty(root.shape());
  one.data()[0] = T(1);
  return one;
}

}  // namespace detail
}  // namespace autograd

template <Element T>
void Tensor<T>::backward(const Tensor& grad_output, bool retain_graph, bool create_graph) const {
  if constexpr (Scalar<T>) {
    LATENT_CHECK(requires_grad(), AutogradError, "backward: the tensor does not require grad and has no grad_fn");
    const Tensor seed = autograd::detail::default_root_grad(*this, grad_output, "backward");
    autograd::detail::run_backward<T>(std::span<const Tensor>(this, 1), std::span<const Tensor>(&seed, 1), retain_graph || create_graph,
                                      create_graph, nullptr, nullptr);
  } else {
    throw AutogradError("backward: integer tensors have no gradients");
  }
}

/// Gradients of sum(outputs[i] * grad_outputs[i]) with respect to `inputs`, without touching .grad.
/// With create_graph the results carry history (gradient penalties: WGAN-GP, R1).
/// An input the outputs do not depend on gets an undefined tensor if allow_unused, else an error.
template <Scalar T>
std::vector<Tensor<T>> grad(const std::vector<Tensor<T>>& outputs, const std::vector<Tensor<T>>& inputs,
                            const std::vector<Tensor<T>>& grad_outputs = {}, bool create_graph = false,
                            bool allow_unused = false, bool retain_graph = false) {
  LATENT_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ValueError,
               "grad: " + std::to_string(grad_outputs.size()) + " grad_outputs for " + std::to_string(outputs.size()) + " outputs");
  std::vector<Tensor<T>> seeds;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    LATENT_CHECK(outputs[i].requires_grad(), AutogradError, "grad: output " + std::to_string(i) + " does not require grad");
    seeds.push_back(autograd::detail::default_root_grad(outputs[i], grad_outputs.empty() ? Tensor<T>() : grad_outputs[i], "grad"));
  }
  for (std::size_t i = 0; i < inputs.size(); ++i)
    LATENT_CHECK(inputs[i].requires_grad(), AutogradError, "grad: input " + std::to_string(i) + " does not require grad");
  std::vector<Tensor<T>> result(inputs.size());
  autograd::detail::run_backward<T>(std::span<const Tensor<T>>(outputs), std::span<const Tensor<T>>(seeds), retain_graph || create_graph,
                                    create_graph, &inputs, &result);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!result[i].defined() && !allow_unused)
      throw AutogradError("grad: input " + std::to_string(i) + " " + inputs[i].shape().str() +
                          " was not used to compute the outputs (pass allow_unused = true)");
    if (result[i].defined() && !create_graph && !result[i].requires_grad() && result[i].shares_storage(inputs[i]))
      result[i] = result[i].clone_detached();
  }
  return result;
}

}  // namespace latent

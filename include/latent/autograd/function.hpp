// make_node: the one way an op attaches itself to the graph (micrograd's shape: the forward
// computes, then records its inputs and backward rule when any input requires a gradient).
#pragma once

#include <initializer_list>

#include "anomaly.hpp"
#include "grad_mode.hpp"
#include "node.hpp"

namespace latent::autograd {

/// Records `out` as produced by the op `name` from `inputs` with rule `backward`. Returns the node
/// so that the op can save what its rule needs, or nullptr when nothing is recorded (grad mode
/// off, or no input requires a gradient).
template <class T, class Range>
Node<T>* make_node_n(Tensor<T>& out, const char* name, typename Node<T>::BackwardFn backward, const Range& inputs) {
  if (anomaly_detail::anomaly_flag()) [[unlikely]]
    anomaly_detail::check_op_output(out, name);  // anomaly mode: every output, recorded or not
  if (!is_grad_enabled()) return nullptr;
  bool any = false;
  for (const auto& t : inputs) any = any || t.requires_grad();
  if (!any) return nullptr;
  auto node = std::allocate_shared<Node<T>>(detail::PoolAllocator<Node<T>>{});
  node->name = name;
  node->backward = backward;
  for (const auto& t : inputs) node->inputs.push_back(t);
  node->output = out.impl_ptr();
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = node;
  return node.get();
}

template <class T>
Node<T>* make_node(Tensor<T>& out, const char* name, typename Node<T>::BackwardFn backward,
                   std::initializer_list<Tensor<T>> inputs) {
  return make_node_n<T>(out, name, backward, inputs);
}

}  // namespace latent::autograd

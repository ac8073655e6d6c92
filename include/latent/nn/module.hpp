// Module<T>: the base of every layer, PyTorch's nn.Module in C++: registered parameters, buffers and
// children with dotted names, train/eval, state_dict/load_state_dict. UnaryModule<T>: tensor -> tensor.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../core/state_dict.hpp"

namespace latent::nn {

/// A module owns named parameters (trainable leaves), buffers (state that is saved but not trained,
/// e.g. BatchNorm's running statistics) and child modules. Modules are neither copyable nor movable:
/// children and optimizers refer to them by address, as parameters are referred to by identity.
///
/// Names follow PyTorch: `named_parameters()` of a VAE gives "encoder.fc1.weight", and state_dict()
/// lists, module by module (depth first, in registration order), its parameters, then its buffers,
/// then its children's entries, which is the order of PyTorch's state_dict. A parameter registered as
/// an undefined tensor (Linear without bias) is absent everywhere, like PyTorch's `None` parameters.
template <Scalar T>
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  /// A one-line description, PyTorch's repr: "Linear(in_features=784, out_features=400, bias=true)".
  /// Layers use it to name themselves in error messages.
  virtual std::string repr() const { return "Module"; }

  /// Parameters with dotted names, own first, then each child's in registration order. A tensor
  /// registered under two names (tied weights) is listed once, under its first name, as in PyTorch.
  std::vector<std::pair<std::string, Tensor<T>>> named_parameters(bool recurse = true) const {
    std::vector<std::pair<std::string, Tensor<T>>> out;
    std::set<const void*> seen;
    collect_parameters("", recurse, seen, out);
    return out;
  }
  std::vector<Tensor<T>> parameters(bool recurse = true) const {
    std::vector<Tensor<T>> out;
    for (auto& [name, p] : named_parameters(recurse)) out.push_back(p);
    return out;
  }
  /// Floating-point buffers with dotted names (the int64 num_batches_tracked of BatchNorm is only in
  /// state_dict()).
  std::vector<std::pair<std::string, Tensor<T>>> named_buffers(bool recurse = true) const {
    std::vector<std::pair<std::string, Tensor<T>>> out;
    collect_buffers("", recurse, out);
    return out;
  }
  std::vector<Tensor<T>> buffers(bool recurse = true) const {
    std::vector<Tensor<T>> out;
    for (auto& [name, b] : named_buffers(recurse)) out.push_back(b);
    return out;
  }
  /// Direct children with their names.
  std::vector<std::pair<std::string, Module*>> named_children() const { return children_; }
  /// This module ("") and every descendant, depth first, with dotted names.
  std::vector<std::pair<std::string, Module*>> named_modules() {
    std::vector<std::pair<std::string, Module*>> out;
    collect_modules("", out);
    return out;
  }

  /// Every parameter and buffer under its PyTorch name, as tensors sharing storage with the module
  /// (like PyTorch; clone them for a snapshot). Tied weights appear under each name.
  StateDict state_dict() const {
    StateDict sd;
    write_state("", sd);
    return sd;
  }

  /// Copies the values of `sd` into the parameters and buffers, in place (the tensors keep their
  /// identity, so optimizers holding them see the new values). Everything is checked before anything
  /// is copied: a key the module lacks ("unexpected"), a key of the module absent from `sd`
  /// ("missing"; both only when `strict`), a shape or element-type mismatch (always) throws StateError
  /// and leaves the module unchanged.
  void load_state_dict(const StateDict& sd, bool strict = true) {
    std::vector<StateSlot> slots;
    collect_slots("", slots);
    std::set<std::string> known;
    std::vector<std::string> missing;
    for (const auto& s : slots) {
      known.insert(s.name);
      if (!sd.contains(s.name)) {
        missing.push_back(s.name);
        continue;
      }
      const AnyTensor& src = sd.at(s.name);
      const AnyTensor dst = s.value();
      LATENT_CHECK(src.index() == dst.index(), StateError,
                   "load_state_dict: '" + s.name + "' is " + dtype_of(src) + " in the state_dict, the module expects " +
                       dtype_of(dst));
      LATENT_CHECK(shape_of(src) == shape_of(dst), StateError,
                   "load_state_dict: '" + s.name + "' has shape " + shape_of(src).str() +
                       " in the state_dict, the module expects " + shape_of(dst).str());
    }
    if (strict) {
      std::vector<std::string> unexpected;
      for (const auto& [name, t] : sd)
        if (!known.count(name)) unexpected.push_back(name);
      std::string problems;
      if (!missing.empty()) problems += (missing.size() == 1 ? "missing key " : "missing keys ") + quoted_list(missing);
      if (!unexpected.empty())
        problems += (problems.empty() ? "" : "; ") +
                    std::string(unexpected.size() == 1 ? "unexpected key " : "unexpected keys ") +
                    quoted_list(unexpected);
      LATENT_CHECK(problems.empty(), StateError, "load_state_dict: " + problems);
    }
    for (const auto& s : slots)
      if (sd.contains(s.name)) s.copy_from(sd.at(s.name));
  }

  /// Training mode (Dropout active, BatchNorm on batch statistics) for this module and its children.
  void train(bool on = true) {
    training_ = on;
    for (auto& [name, child] : children_) child->train(on);
  }
  void eval() { train(false); }
  bool is_training() const noexcept { return training_; }

  /// Number of scalar parameters (tied weights counted once).
  index_t parameter_count() const {
    index_t n = 0;
    for (const auto& p : parameters()) n += p.numel();
    return n;
  }
  /// Sets every parameter's gradient to undefined (PyTorch's set_to_none = True): the next backward
  /// writes fresh gradients instead of adding to stale ones.
  void zero_grad() {
    for (auto& p : parameters()) p.set_grad(Tensor<T>());
  }

 protected:
  /// Registers a trainable parameter (a leaf with requires_grad) and returns the stored handle, which
  /// stays valid for the module's lifetime. An undefined `t` registers an absent parameter (no bias).
  Tensor<T>& register_parameter(const std::string& name, Tensor<T> t) {
    check_new_name(name);
    if (t.defined()) {
      if (!t.is_leaf()) t = t.detach();
      t.set_requires_grad(true);
    }
    return parameters_.emplace_back(name, std::move(t)).second;
  }
  /// Registers a buffer: saved in state_dict, moved by load_state_dict, never trained.
  Tensor<T>& register_buffer(const std::string& name, Tensor<T> t) {
    check_new_name(name);
    buffer_order_.push_back({false, buffers_.size()});
    return buffers_.emplace_back(name, std::move(t)).second;
  }
  /// An int64 buffer (BatchNorm's num_batches_tracked): in state_dict as int64, as PyTorch saves it.
  Tensor<std::int64_t>& register_buffer(const std::string& name, Tensor<std::int64_t> t) {
    check_new_name(name);
    buffer_order_.push_back({true, index_buffers_.size()});
    return index_buffers_.emplace_back(name, std::move(t)).second;
  }
  /// Registers `child` (a member of this module, or owned by it) under `name`.
  void register_module(const std::string& name, Module& child) {
    check_new_name(name);
    LATENT_CHECK(&child != this, ValueError, "register_module: a module cannot be its own child ('" + name + "')");
    children_.emplace_back(name, &child);
  }

 private:
  // One state_dict entry of this module tree, with a way to read and to overwrite it.
  struct StateSlot {
    std::string name;
    Tensor<T>* real = nullptr;
    Tensor<std::int64_t>* index = nullptr;
    AnyTensor value() const { return real ? AnyTensor(*real) : AnyTensor(*index); }
    void copy_from(const AnyTensor& src) const {
      NoGradGuard no_grad;
      if (real)
        real->copy_(std::get<Tensor<T>>(src));
      else
        index->copy_(std::get<Tensor<std::int64_t>>(src));
    }
  };

  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }
  static std::string quoted_list(const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", '" : "'") + names[i] + "'";
    return s;
  }

  void check_new_name(const std::string& name) const {
    LATENT_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError,
                 "register: name '" + name + "' must be non-empty and contain no '.'");
    auto taken = [&](const auto& list) {
      for (const auto& entry : list)
        if (entry.first == name) return true;
      return false;
    };
    LATENT_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(index_buffers_) && !taken(children_), ValueError,
                 "register: name '" + name + "' is already used in " + repr());
  }

  void collect_parameters(const std::string& prefix, bool recurse, std::set<const void*>& seen,
                          std::vector<std::pair<std::string, Tensor<T>>>& out) const {
    for (const auto& [name, p] : parameters_)
      if (p.defined() && seen.insert(p.impl()).second) out.emplace_back(join(prefix, name), p);
    if (recurse)
      for (const auto& [name, child] : children_) child->collect_parameters(join(prefix, name), true, seen, out);
  }
  void collect_buffers(const std::string& prefix, bool recurse,
                       std::vector<std::pair<std::string, Tensor<T>>>& out) const {
    for (const auto& [name, b] : buffers_)
      if (b.defined()) out.emplace_back(join(prefix, name), b);
    if (recurse)
      for (const auto& [name, child] : children_) child->collect_buffers(join(prefix, name), true, out);
  }
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out) {
    out.emplace_back(prefix, this);
    for (auto& [name, child] : children_) child->collect_modules(join(prefix, name), out);
  }
  // PyTorch's order: own parameters, own buffers (registration order), then each child.
  void collect_slots(const std::string& prefix, std::vector<StateSlot>& out) {
    for (auto& [name, p] : parameters_)
      if (p.defined()) out.push_back({join(prefix, name), &p, nullptr});
    for (const auto& [is_index, i] : buffer_order_) {
      if (is_index) {
        auto& [name, b] = index_buffers_[i];
        if (b.defined()) out.push_back({join(prefix, name), nullptr, &b});
      } else {
        auto& [name, b] = buffers_[i];
        if (b.defined()) out.push_back({join(prefix, name), &b, nullptr});
      }
    }
    for (auto& [name, child] : children_) child->collect_slots(join(prefix, name), out);
  }
  void write_state(const std::string& prefix, StateDict& sd) const {
    std::vector<StateSlot> slots;
    const_cast<Module*>(this)->collect_slots(prefix, slots);  // read-only use: values are detached views
    for (const auto& s : slots) {
      if (s.real)
        sd.set(s.name, s.real->detach());
      else
        sd.set(s.name, s.index->detach());
    }
  }

  // deques: the references handed out by register_* stay valid as more entries are added.
  std::deque<std::pair<std::string, Tensor<T>>> parameters_;
  std::deque<std::pair<std::string, Tensor<T>>> buffers_;
  std::deque<std::pair<std::string, Tensor<std::int64_t>>> index_buffers_;
  std::vector<std::pair<bool, std::size_t>> buffer_order_;  // (is int64, index) in registration order
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

/// A module mapping one tensor to one tensor: what Sequential chains.
template <Scalar T>
class UnaryModule : public Module<T> {
 public:
  virtual Tensor<T> forward(const Tensor<T>& x) = 0;
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }
};

namespace detail {
// Helpers for the layers' option checks and reprs.
inline std::string bool_str(bool b) { return b ? "true" : "false"; }
/// Numbers as Python prints them in reprs and messages: 0.1 -> "0.1", 1e-5 -> "1e-05", 0.0 -> "0".
inline std::string double_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
inline void check_positive(const char* layer, const char* what, index_t v) {
  LATENT_CHECK(v > 0, ValueError, std::string(layer) + ": " + what + " = " + std::to_string(v) + " must be positive");
}
}  // namespace detail

}  // namespace latent::nn

// Containers: Sequential (a chain of owned UnaryModules named "0", "1", ... like PyTorch's) and
// ModuleList (an indexable list of owned modules of one base type, for loops over blocks).
#pragma once

#include <concepts>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "module.hpp"

namespace latent::nn {

/// y = mₙ(…m₁(m₀(x))). Owns its modules; their state_dict names are "<index>.<name>" as in PyTorch.
template <Scalar T>
class Sequential : public UnaryModule<T> {
 public:
  Sequential() = default;
  /// Sequential(std::make_unique<Linear<float>>(...), std::make_unique<ReLU<float>>())
  template <std::derived_from<UnaryModule<T>>... Ms>
  explicit Sequential(std::unique_ptr<Ms>... modules) {
    (push_back(std::move(modules)), ...);
  }

  /// Appends an owned module and returns it.
  template <std::derived_from<UnaryModule<T>> M>
  M& push_back(std::unique_ptr<M> module) {
    LATENT_CHECK(module != nullptr, ValueError, "Sequential::push_back: null module");
    M& ref = *module;
    this->register_module(std::to_string(modules_.size()), ref);
    modules_.push_back(std::move(module));
    return ref;
  }
  /// Constructs an M from `args` at the end and returns it: seq.emplace<Linear<float>>(LinearOptions{...}, rng).
  template <std::derived_from<UnaryModule<T>> M, class... Args>
  M& emplace(Args&&... args) {
    return push_back(std::make_unique<M>(std::forward<Args>(args)...));
  }

  std::size_t size() const noexcept { return modules_.size(); }
  bool empty() const noexcept { return modules_.empty(); }
  UnaryModule<T>& operator[](std::size_t i) {
    LATENT_CHECK(
        i < modules_.size(), ValueError,
        "Sequential: index " + std::to_string(i) + " out of range for " + std::to_string(modules_.size()) + " modules");
    return *modules_[i];
  }

  std::string repr() const override {
    std::string s = "Sequential(";
    for (std::size_t i = 0; i < modules_.size(); ++i) s += (i ? ", " : "") + modules_[i]->repr();
    return s + ")";
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    Tensor<T> y = x;
    for (auto& m : modules_) y = m->forward(y);
    return y;
  }

 private:
  std::vector<std::unique_ptr<UnaryModule<T>>> modules_;
};

/// An indexable list of owned modules of base type M (any Module<T> by default), named "0", "1", ...:
/// `ModuleList<float, Block<float>> blocks; for (auto& b : blocks) x = b(x);`.
template <Scalar T, std::derived_from<Module<T>> M = Module<T>>
class ModuleList : public Module<T> {
 public:
  template <std::derived_from<M> Sub>
  Sub& push_back(std::unique_ptr<Sub> module) {
    LATENT_CHECK(module != nullptr, ValueError, "ModuleList::push_back: null module");
    Sub& ref = *module;
    this->register_module(std::to_string(modules_.size()), ref);
    modules_.push_back(std::move(module));
    return ref;
  }
  template <std::derived_from<M> Sub = M, class... Args>
  Sub& emplace_back(Args&&... args) {
    return push_back(std::make_unique<Sub>(std::forward<Args>(args)...));
  }

  std::size_t size() const noexcept { return modules_.size(); }
  bool empty() const noexcept { return modules_.empty(); }
  M& operator[](std::size_t i) const {
    LATENT_CHECK(
        i < modules_.size(), ValueError,
        "ModuleList: index " + std::to_string(i) + " out of range for " + std::to_string(modules_.size()) + " modules");
    return *modules_[i];
  }

  /// Iteration yields M&.
  class iterator {
   public:
    using inner = typename std::vector<std::unique_ptr<M>>::const_iterator;
    explicit iterator(inner it) : it_(it) {}
    M& operator*() const { return **it_; }
    iterator& operator++() {
      ++it_;
      return *this;
    }
    bool operator==(const iterator& o) const { return it_ == o.it_; }

   private:
    inner it_;
  };
  iterator begin() const { return iterator(modules_.begin()); }
  iterator end() const { return iterator(modules_.end()); }

  std::string repr() const override {
    std::string s = "ModuleList(";
    for (std::size_t i = 0; i < modules_.size(); ++i) s += (i ? ", " : "") + modules_[i]->repr();
    return s + ")";
  }

 private:
  std::vector<std::unique_ptr<M>> modules_;
};

}  // namespace latent::nn

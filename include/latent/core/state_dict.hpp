// StateDict: an ordered map from PyTorch-style dotted names ("encoder.fc1.weight") to tensors of any
// element type. Modules, optimizers and checkpoint files all speak it.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tensor.hpp"

namespace latent {

using AnyTensor = std::variant<Tensor<float>, Tensor<double>, Tensor<std::int64_t>>;

inline const Shape& shape_of(const AnyTensor& t) {
  return std::visit([](const auto& x) -> const Shape& { return x.shape(); }, t);
}
inline const char* dtype_of(const AnyTensor& t) {
  return std::visit([](const auto& x) { return type_name<typename std::decay_t<decltype(x)>::value_type>(); }, t);
}

class StateDict {
 public:
  /// Adds or replaces `name`; insertion order is kept (it is the order files are written in).
  void set(const std::string& name, AnyTensor t) {
    auto it = index_.find(name);
    if (it != index_.end()) {
      items_[it->second].second = std::move(t);
      return;
    }
    index_.emplace(name, items_.size());
    items_.emplace_back(name, std::move(t));
  }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const AnyTensor& at(const std::string& name) const {
    auto it = index_.find(name);
    LATENT_CHECK(it != index_.end(), StateError, "state_dict has no entry '" + name + "'");
    return items_[it->second].second;
  }
  /// The entry as Tensor<T>; throws naming the entry when it holds another element type.
  template <Element T>
  Tensor<T> get(const std::string& name) const {
    const AnyTensor& t = at(name);
    LATENT_CHECK(std::holds_alternative<Tensor<T>>(t), StateError,
                 "state_dict entry '" + name + "' is " + dtype_of(t) + ", expected " + type_name<T>());
    return std::get<Tensor<T>>(t);
  }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  const std::vector<std::pair<std::string, AnyTensor>>& items() const noexcept { return items_; }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

  /// Entries whose names start with `prefix` + ".", with the prefix removed.
  StateDict sub(const std::string& prefix) const {
    StateDict out;
    const std::string p = prefix + ".";
    for (const auto& [name, t] : items_)
      if (name.compare(0, p.size(), p) == 0) out.set(name.substr(p.size()), t);
    return out;
  }
  /// Adds every entry of `other` under `prefix` + ".".
  void merge(const std::string& prefix, const StateDict& other) {
    for (const auto& [name, t] : other.items_) set(prefix.empty() ? name : prefix + "." + name, t);
  }

 private:
  std::vector<std::pair<std::string, AnyTensor>> items_;
  std::map<std::string, std::size_t> index_;
};

}  // namespace latent

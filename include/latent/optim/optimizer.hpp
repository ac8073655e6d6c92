// Optimizer<T>: what every optimizer shares — parameters in groups, each group with its own options,
// zero_grad(), the learning rate per group, and state_dict()/load_state_dict() in PyTorch's layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/state_dict.hpp"
#include "../core/tensor.hpp"

#define LATENT_INSIDE_OPTIM
#include "detail/format.hpp"
#undef LATENT_INSIDE_OPTIM

namespace latent::optim {

/// Parameters with their dotted names, as a module's named_parameters() gives them.
template <Scalar T>
using NamedParameters = std::vector<std::pair<std::string, Tensor<T>>>;

/// A group of parameters with its own options (an entry of PyTorch's param_groups). `names`, when given,
/// has one name per parameter; the optimizer's state_dict then keys state by name instead of by index.
template <Scalar T, class Options>
struct ParamGroup {
  std::vector<Tensor<T>> params;
  Options options{};
  // Spelled with a size: g++ 12 crashes (internal compiler error in nothrow_spec_p) on `names{}` when a
  // braced list of groups is passed to an optimizer's constructor.
  std::vector<std::string> names = std::vector<std::string>(std::size_t{0});
};

/// nanoGPT's configure_optimizers, for any model: two groups with `options`, weight decay on the parameters with 2
/// or more dimensions (matmul weights, embeddings), none (weight_decay = 0) on biases and norm weights. Takes
/// module.named_parameters():
///   optim::AdamW<float> opt(optim::weight_decay_groups(gpt.named_parameters(), AdamWOptions{.weight_decay = 0.1}));
template <Scalar T, class Options>
std::vector<ParamGroup<T, Options>> weight_decay_groups(
    const std::vector<std::pair<std::string, Tensor<T>>>& named_parameters, const Options& options) {
  ParamGroup<T, Options> decay{{}, options}, no_decay{{}, options};
  no_decay.options.weight_decay = 0.0;
  for (const auto& [name, p] : named_parameters) {
    auto& g = p.rank() >= 2 ? decay : no_decay;
    g.params.push_back(p);
    g.names.push_back(name);
  }
  return {decay, no_decay};
}

/// The interface of every optimizer. Parameters are numbered 0, 1, ... across groups in order, as in
/// PyTorch; state_dict() holds
///   param_groups.<g>.<option>   0-dim float64 (int64 for flags), betas as [2]; params: int64 indices;
///   state.<i>.<buffer>          the per-parameter state (exp_avg, momentum_buffer, ...; step is int64),
/// with <i> the parameter's name instead of its index when the optimizer was given names. A parameter
/// that never had a gradient has no state entries, as in PyTorch.
template <Scalar T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient; parameters without one are skipped (PyTorch).
  virtual void step() = 0;

  /// Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)): the next backward pass
  /// writes fresh gradients instead of adding to old ones, and step() skips parameters it did not reach.
  void zero_grad() {
    for (auto& p : params_) p.set_grad(Tensor<T>());
  }

  /// "SGD", "Adam", "AdamW": the name errors start with.
  const std::string& name() const noexcept { return name_; }
  std::size_t num_param_groups() const noexcept { return group_begin_.size() - 1; }
  /// Every parameter, in index order.
  const std::vector<Tensor<T>>& parameters() const noexcept { return params_; }
  /// The parameters of one group.
  std::vector<Tensor<T>> params(std::size_t group) const {
    check_group(group, "params");
    return {params_.begin() + static_cast<std::ptrdiff_t>(group_begin_[group]),
            params_.begin() + static_cast<std::ptrdiff_t>(group_begin_[group + 1])};
  }
  /// The names given at construction ("" for unnamed parameters), in index order.
  const std::vector<std::string>& param_names() const noexcept { return names_; }

  double lr(std::size_t group = 0) const {
    check_group(group, "lr");
    return group_lr(group);
  }
  /// Sets one group's learning rate (schedules call this every step).
  void set_lr(std::size_t group, double lr) {
    check_group(group, "set_lr");
    LATENT_CHECK(lr >= 0.0, ValueError, name_ + ": lr = " + detail::format_number(lr) + " must be >= 0");
    set_group_lr(group, lr);
  }
  /// Sets every group's learning rate.
  void set_lr(double lr) {
    for (std::size_t g = 0; g < num_param_groups(); ++g) set_lr(g, lr);
  }
  /// The learning rate a group was created with (PyTorch's 'initial_lr'): the base that schedules scale.
  double initial_lr(std::size_t group = 0) const {
    check_group(group, "initial_lr");
    return initial_lr_[group];
  }
  double weight_decay(std::size_t group = 0) const {
    check_group(group, "weight_decay");
    return group_weight_decay(group);
  }

  /// A snapshot of the hyper-parameters and the per-parameter state (copies: later steps do not change it).
  virtual StateDict state_dict() const = 0;
  /// Restores a state_dict() of an optimizer of the same kind over parameters of the same shapes, so that
  /// training resumes bit for bit. Every entry is checked before anything changes; a missing, unexpected
  /// or mismatched entry throws StateError and leaves the optimizer as it was.
  virtual void load_state_dict(const StateDict& dict) = 0;

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}
  Optimizer(Optimizer&&) noexcept = default;
  Optimizer& operator=(Optimizer&&) noexcept = default;

  virtual double group_lr(std::size_t group) const = 0;
  virtual void set_group_lr(std::size_t group, double lr) = 0;
  virtual double group_weight_decay(std::size_t group) const = 0;

  /// Appends a group's parameters after checking them: defined, leaves, each once, named all or none.
  void append_params(const std::vector<Tensor<T>>& params, const std::vector<std::string>& names, double lr) {
    const std::size_t group = num_param_groups();
    LATENT_CHECK(!params.empty(), ValueError,
                 name_ + ": parameter group " + std::to_string(group) + " has an empty parameter list");
    LATENT_CHECK(names.empty() || names.size() == params.size(), ValueError,
                 name_ + ": parameter group " + std::to_string(group) + " has " + std::to_string(params.size()) +
                     " parameters but " + std::to_string(names.size()) + " names");
    LATENT_CHECK(params_.empty() || !names.empty() == named_, ValueError,
                 name_ + ": parameter group " + std::to_string(group) + (names.empty() ? " is unnamed" : " is named") +
                     " but the first group " + (named_ ? "is named" : "is not") + "; name all groups or none");
    for (std::size_t k = 0; k < params.size(); ++k) {
      const std::string index = std::to_string(params_.size() + k);
      LATENT_CHECK(params[k].defined(), ValueError, name_ + ": parameter " + index + " is undefined");
      LATENT_CHECK(params[k].is_leaf(), ValueError,
                   name_ + ": parameter " + index + " is not a leaf (it was computed by '" + params[k].grad_fn()->name +
                       "'); optimize leaf tensors");
      for (std::size_t j = 0; j < params_.size() + k; ++j) {
        const Tensor<T>& other = j < params_.size() ? params_[j] : params[j - params_.size()];
        LATENT_CHECK(!other.same(params[k]), ValueError,
                     name_ + ": parameter " + index + " is the same tensor as parameter " + std::to_string(j));
      }
      if (!names.empty()) {
        LATENT_CHECK(!names[k].empty(), ValueError, name_ + ": parameter " + index + " has an empty name");
        for (std::size_t j = 0; j < names_.size(); ++j)
          LATENT_CHECK(names_[j] != names[k], ValueError,
                       name_ + ": parameter name '" + names[k] + "' is used twice (parameters " + std::to_string(j) +
                           " and " + index + ")");
        for (std::size_t j = 0; j < k; ++j)
          LATENT_CHECK(names[j] != names[k], ValueError,
                       name_ + ": parameter name '" + names[k] + "' is used twice (parameters " +
                           std::to_string(params_.size() + j) + " and " + index + ")");
      }
    }
    named_ = !names.empty();
    params_.insert(params_.end(), params.begin(), params.end());
    if (names.empty()) names_.resize(params_.size());
    else names_.insert(names_.end(), names.begin(), names.end());
    group_begin_.push_back(params_.size());
    initial_lr_.push_back(lr);
  }

  std::size_t group_begin(std::size_t group) const { return group_begin_[group]; }
  std::size_t group_end(std::size_t group) const { return group_begin_[group + 1]; }
  /// "state.<i>" or "state.<name>": the prefix of parameter i's state entries.
  std::string state_prefix(std::size_t i) const { return "state." + (named_ ? names_[i] : std::to_string(i)); }

  std::string name_;
  std::vector<Tensor<T>> params_;
  std::vector<std::string> names_;
  std::vector<std::size_t> group_begin_{0};  // group g holds params_[group_begin_[g], group_begin_[g + 1])
  std::vector<double> initial_lr_;
  bool named_ = false;

 private:
  void check_group(std::size_t group, const char* what) const {
    LATENT_CHECK(group < num_param_groups(), ValueError,
                 name_ + "." + what + ": parameter group " + std::to_string(group) + " out of range (the optimizer has " +
                     std::to_string(num_param_groups()) + ")");
  }
};

namespace detail {

/// Reads a state_dict for load_state_dict: typed, shape-checked copies of entries, and a final check that
/// nothing was left over. Messages start with "<Optimizer>.load_state_dict: ".
class StateReader {
 public:
  StateReader(const StateDict& dict, std::string who) : dict_(dict), who_(std::move(who) + ".load_state_dict: ") {}

  bool contains(const std::string& key) const { return dict_.contains(key); }

  /// A copy of entry `key`, which must hold element type U and have `shape`.
  template <Element U>
  Tensor<U> tensor(const std::string& key, const Shape& shape) {
    LATENT_CHECK(dict_.contains(key), StateError, who_ + "missing entry '" + key + "'");
    const AnyTensor& any = dict_.at(key);
    LATENT_CHECK(std::holds_alternative<Tensor<U>>(any), StateError,
                 who_ + "entry '" + key + "' is " + dtype_of(any) + ", expected " + type_name<U>());
    const Tensor<U>& t = std::get<Tensor<U>>(any);
    LATENT_CHECK(t.shape() == shape, StateError,
                 who_ + "entry '" + key + "' has shape " + t.shape().str() + ", expected " + shape.str());
    used_.insert(key);
    return t.clone_detached();
  }
  double real(const std::string& key) { return tensor<double>(key, Shape{}).item(); }
  std::int64_t integer(const std::string& key) { return tensor<std::int64_t>(key, Shape{}).item(); }
  bool flag(const std::string& key) {
    const std::int64_t v = integer(key);
    LATENT_CHECK(v == 0 || v == 1, StateError, who_ + "entry '" + key + "' = " + std::to_string(v) + " is not a flag (0 or 1)");
    return v == 1;
  }
  /// Throws on the first entry nothing asked for (a parameter or option this optimizer does not have).
  void finish() const {
    for (const auto& [key, value] : dict_)
      LATENT_CHECK(used_.count(key) != 0, StateError, who_ + "unexpected entry '" + key + "'");
  }
  const std::string& who() const noexcept { return who_; }

 private:
  const StateDict& dict_;
  std::string who_;
  std::set<std::string> used_;
};

/// step() accepts a gradient only of its parameter's shape.
template <Scalar T>
void check_gradient(const std::string& who, std::size_t index, const Tensor<T>& param, const Tensor<T>& grad) {
  LATENT_CHECK(grad.shape() == param.shape(), ShapeError,
               who + ".step: parameter " + std::to_string(index) + " " + param.shape().str() + " has a gradient of shape " +
                   grad.shape().str());
}

inline Tensor<double> real_entry(double v) {
  Tensor<double> t = Tensor<double>::empty(Shape{});
  *t.data() = v;
  return t;
}
inline Tensor<std::int64_t> integer_entry(std::int64_t v) {
  Tensor<std::int64_t> t = Tensor<std::int64_t>::empty(Shape{});
  *t.data() = v;
  return t;
}

/// The groups and per-parameter state that SGD and Adam share: per-group Options (with at least lr and
/// weight_decay) and a State per parameter. A subclass supplies validation, the update, and how its
/// options and state are spelled in a state_dict.
template <Scalar T, class Options, class State>
class BasicOptimizer : public Optimizer<T> {
 public:
  using Group = ParamGroup<T, Options>;

  /// Adds a group (PyTorch's add_param_group); its parameters get the next indices.
  void add_param_group(const Group& group) {
    validate(group.options);
    this->append_params(group.params, group.names, group.options.lr);
    options_.push_back(group.options);
    state_.resize(this->params_.size());
  }
  const Options& options(std::size_t group = 0) const {
    LATENT_CHECK(group < options_.size(), ValueError,
                 this->name_ + ".options: parameter group " + std::to_string(group) + " out of range (the optimizer has " +
                     std::to_string(options_.size()) + ")");
    return options_[group];
  }
  /// Replaces a group's options (validated).
  void set_options(std::size_t group, const Options& options) {
    (void)this->options(group);
    validate(options);
    options_[group] = options;
  }

  StateDict state_dict() const override {
    StateDict out;
    for (std::size_t i = 0; i < state_.size(); ++i) write_state(out, this->state_prefix(i) + ".", state_[i]);
    for (std::size_t g = 0; g < options_.size(); ++g) {
      const std::string prefix = "param_groups." + std::to_string(g) + ".";
      write_options(out, prefix, options_[g]);
      out.set(prefix + "initial_lr", real_entry(this->initial_lr_[g]));
      const std::size_t begin = this->group_begin(g), end = this->group_end(g);
      Tensor<std::int64_t> indices = Tensor<std::int64_t>::empty(Shape{static_cast<index_t>(end - begin)});
      for (std::size_t i = begin; i < end; ++i) indices.data()[i - begin] = static_cast<std::int64_t>(i);
      out.set(prefix + "params", indices);
    }
    return out;
  }

  void load_state_dict(const StateDict& dict) override {
    StateReader in(dict, this->name_);
    const std::size_t groups = options_.size();
    std::size_t saved_groups = 0;
    while (dict.contains("param_groups." + std::to_string(saved_groups) + ".params")) ++saved_groups;
    LATENT_CHECK(saved_groups == groups, StateError,
                 in.who() + "the state_dict has " + std::to_string(saved_groups) + " parameter groups, the optimizer has " +
                     std::to_string(groups));
    // Everything is read into copies first, so that a bad entry leaves the optimizer untouched.
    std::vector<Options> options(groups);
    std::vector<double> initial_lr(groups);
    std::vector<State> state(state_.size());
    for (std::size_t g = 0; g < groups; ++g) {
      const std::string prefix = "param_groups." + std::to_string(g) + ".";
      const std::size_t begin = this->group_begin(g), end = this->group_end(g);
      check_indices(dict, in, prefix + "params", g, begin, end);
      options[g] = read_options(in, prefix);
      validate(options[g]);
      initial_lr[g] = in.real(prefix + "initial_lr");
      for (std::size_t i = begin; i < end; ++i) state[i] = read_state(in, this->state_prefix(i) + ".", this->params_[i], options[g]);
    }
    in.finish();
    options_ = std::move(options);
    this->initial_lr_ = std::move(initial_lr);
    state_ = std::move(state);
  }

 protected:
  explicit BasicOptimizer(std::string name) : Optimizer<T>(std::move(name)) {}

  /// Throws ValueError naming the bad option and its value.
  virtual void validate(const Options& options) const = 0;
  virtual void write_options(StateDict& out, const std::string& prefix, const Options& options) const = 0;
  virtual Options read_options(StateReader& in, const std::string& prefix) const = 0;
  /// Writes nothing for a parameter without state (never stepped).
  virtual void write_state(StateDict& out, const std::string& prefix, const State& state) const = 0;
  /// An empty State when the dict has none for this parameter.
  virtual State read_state(StateReader& in, const std::string& prefix, const Tensor<T>& param, const Options& options) const = 0;

  double group_lr(std::size_t group) const override { return options_[group].lr; }
  void set_group_lr(std::size_t group, double lr) override { options_[group].lr = lr; }
  double group_weight_decay(std::size_t group) const override { return options_[group].weight_decay; }

  /// Adds the groups of a constructor (call from the subclass's constructor, where validate() dispatches).
  void add_groups(const std::vector<Group>& groups) {
    LATENT_CHECK(!groups.empty(), ValueError, this->name_ + ": got no parameter groups");
    for (const Group& g : groups) add_param_group(g);
  }
  static std::vector<Group> single_group(std::vector<Tensor<T>> params, const Options& options) {
    return {Group{std::move(params), options, {}}};
  }
  static std::vector<Group> single_group(const NamedParameters<T>& named, const Options& options) {
    Group group{{}, options, {}};
    for (const auto& [name, tensor] : named) {
      group.names.push_back(name);
      group.params.push_back(tensor);
    }
    return {group};
  }

  std::vector<Options> options_;  // per group
  std::vector<State> state_;      // per parameter, by index

 private:
  // param_groups.<g>.params must list exactly the indices of the optimizer's group g.
  static void check_indices(const StateDict& dict, StateReader& in, const std::string& key, std::size_t g,
                                           std::size_t begin, std::size_t end) {
    LATENT_CHECK(dict.contains(key), StateError, in.who() + "missing entry '" + key + "'");
    const AnyTensor& any = dict.at(key);
    const Shape saved_shape = shape_of(any);
    LATENT_CHECK(saved_shape.rank() == 1 && saved_shape[0] == static_cast<index_t>(end - begin), StateError,
                 in.who() + "entry '" + key + "' has shape " + saved_shape.str() + ": parameter group " + std::to_string(g) +
                     " of the optimizer has " + std::to_string(end - begin) + " parameters");
    const Tensor<std::int64_t> indices = in.tensor<std::int64_t>(key, saved_shape);
    for (std::size_t i = begin; i < end; ++i)
      LATENT_CHECK(indices.data()[i - begin] == static_cast<std::int64_t>(i), StateError,
                   in.who() + "entry '" + key + "' lists parameter " + std::to_string(indices.data()[i - begin]) +
                       " at position " + std::to_string(i - begin) + ", the optimizer has parameter " + std::to_string(i) + " there");
  }
};

}  // namespace detail

}  // namespace latent::optim

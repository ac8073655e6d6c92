// Whether ops record the graph: NoGradGuard turns recording off in a scope (thread-local),
// EnableGradGuard sets it explicitly (the engine uses it for create_graph).
#pragma once

namespace latent {

namespace detail {
inline bool& grad_enabled_flag() noexcept {
  thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

/// True when ops record autograd history on this thread.
inline bool is_grad_enabled() noexcept { return detail::grad_enabled_flag(); }

/// Sets whether this thread records autograd history, and restores the previous setting on exit.
class EnableGradGuard {
 public:
  explicit EnableGradGuard(bool enabled) : previous_(detail::grad_enabled_flag()) { detail::grad_enabled_flag() = enabled; }
  ~EnableGradGuard() { detail::grad_enabled_flag() = previous_; }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

/// No autograd history inside this scope (sampling, evaluation, optimizer updates).
class NoGradGuard : public EnableGradGuard {
 public:
  NoGradGuard() : EnableGradGuard(false) {}
};

}  // namespace latent

// latent::Error and its kinds. Every message starts with a stable prefix "[latent.<kind>] ".
// Library code throws on bad user input; it never calls exit or abort.
#pragma once

#include <stdexcept>
#include <string>

namespace latent {

/// Base of every exception latent throws. what() = "[latent.<kind>] <message>".
class Error : public std::runtime_error {
 public:
  Error(const std::string& kind, const std::string& message)
      : std::runtime_error("[latent." + kind + "] " + message), kind_(kind) {}
  const std::string& kind() const noexcept { return kind_; }

 private:
  std::string kind_;
};

/// Shapes that do not fit an op: "[latent.shape] matmul: [32,64] x [32,10]: ...".
struct ShapeError : Error {
  explicit ShapeError(const std::string& m) : Error("shape", m) {}
};
/// A value out of its domain (bad option, index out of range, NaN where forbidden).
struct ValueError : Error {
  explicit ValueError(const std::string& m) : Error("value", m) {}
};
/// Autograd misuse (backward twice through a freed graph, grad of a tensor without requires_grad).
struct AutogradError : Error {
  explicit AutogradError(const std::string& m) : Error("autograd", m) {}
};
/// Files: the file, the byte offset and what is wrong.
struct IoError : Error {
  explicit IoError(const std::string& m) : Error("io", m) {}
};
/// A state_dict that does not match a module or optimizer.
struct StateError : Error {
  explicit StateError(const std::string& m) : Error("state", m) {}
};

}  // namespace latent

/// Throws `Kind(message)` when `cond` is false. `message` is only built on failure.
#define LATENT_CHECK(cond, Kind, message)     \
  do {                                        \
    if (!(cond)) throw ::latent::Kind(message); \
  } while (0)

// A number as Python's repr() spells it, for optim's error messages: "lr = -0.001", "eps = 1e-08",
// "weight_decay = 0.0001" (the shortest digits that read back to the same double).
#pragma once
#ifndef LATENT_INSIDE_OPTIM
#error "latent/optim/detail/format.hpp is internal: include <latent/optim/optimizer.hpp>"
#endif

#include <charconv>
#include <cmath>
#include <string>

namespace latent::optim::detail {

inline std::string format_number(double value) {
  if (value == 0.0) return std::signbit(value) ? "-0" : "0";
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto scientific = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string text(buffer, scientific.ptr);
  // Python switches to scientific notation below 1e-4 and from 1e16 on.
  const int exponent = std::stoi(text.substr(text.find('e') + 1));
  if (exponent < -4 || exponent >= 16) return text;
  const auto fixed = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);  // < 40 chars here
  return std::string(buffer, fixed.ptr);
}

}  // namespace latent::optim::detail

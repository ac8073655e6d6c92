// What the nn tests share: names of a state_dict and the relative error against a reference tensor.
#pragma once

#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace latent_nn_test {

inline std::vector<std::string> names_of(const latent::StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& [name, t] : sd) out.push_back(name);
  return out;
}

/// max |a - b| over max |b|.
template <latent::Scalar T>
double relative_error(const latent::Tensor<T>& a, const latent::Tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  double err = 0, scale = 0;
  for (latent::index_t i = 0; i < a.numel(); ++i) {
    err = std::max(err, std::abs(double(a.data()[i]) - double(b.data()[i])));
    scale = std::max(scale, std::abs(double(b.data()[i])));
  }
  return err / scale;
}

}  // namespace latent_nn_test

// Shared by tests/reference/*.cpp: where the committed PyTorch vectors live and how they are compared.
#pragma once

#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace reference {

using namespace latent;

/// tests/reference/data/<case>, found through LATENT_SOURCE_DIR (environment first, then the compile definition).
inline std::filesystem::path case_dir(const std::string& name) {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  const std::string root = env && *env ? env : LATENT_SOURCE_DIR;
  return std::filesystem::path(root) / "tests" / "reference" / "data" / name;
}

template <Element T>
Tensor<T> load(const std::string& name, const std::string& array) {
  return testing::load_npy<T>((case_dir(name) / (array + ".npy")).string());
}

/// Every "<prefix><key>.npy" of a case as a StateDict keyed by <key> (PyTorch's state_dict names).
inline StateDict load_prefixed(const std::string& name, const std::string& prefix) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(case_dir(name))) {
    const std::string f = entry.path().filename().string();
    if (f.size() > prefix.size() + 4 && f.compare(0, prefix.size(), prefix) == 0 &&
        f.compare(f.size() - 4, 4, ".npy") == 0)
      files.push_back(f);
  }
  std::sort(files.begin(), files.end());
  StateDict sd;
  for (const auto& f : files)
    sd.set(f.substr(prefix.size(), f.size() - prefix.size() - 4), testing::load_npy_any((case_dir(name) / f).string()));
  return sd;
}

// Tolerance for float32 layers: |actual - expected| <= 1e-5 |expected| + 1e-5 max|expected|. Both sides round
// in float32 (unit roundoff 6e-8) but sum in different orders (Eigen's GEMM blocking vs PyTorch's kernels); over
// the <= 150-term reductions used here that is ~1e-6 of the tensor's scale (observed worst: 1.0e-6, a BatchNorm2d
// bias gradient), so 1e-5 keeps a 10x margin, and the scale term keeps elements near zero (cancellations) from
// failing on relative error alone. Formula errors (biased vs unbiased variance, a missing eps, a dropped term)
// show up at 1e-3 and above.
inline constexpr double float_tolerance = 1e-5;
// float64 losses: the same rule at 1e-12 (unit roundoff 1e-16; the observed worst is 4e-16 of the scale).
inline constexpr double double_tolerance = 1e-12;

template <Scalar T>
void check_close(const Tensor<T>& actual, const Tensor<T>& expected, const std::string& what) {
  const double tol = std::is_same_v<T, float> ? float_tolerance : double_tolerance;
  double scale = 0;
  for (index_t i = 0; i < expected.numel(); ++i)
    scale = std::max(scale, std::abs(static_cast<double>(expected.data()[i])));
  const auto r = testing::compare(actual, expected, {.rtol = tol, .atol = tol * scale}, what);
  INFO(r.report);
  CHECK(r.ok);
}

}  // namespace reference

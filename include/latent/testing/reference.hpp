// Reference vectors: load .npy arrays (float32, float64, int64; C order; NumPy format 1.0-3.0) through
// io/npy.hpp, and compare tensors within rtol/atol, reporting the first mismatches.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../core/state_dict.hpp"
#include "../io/npy.hpp"

namespace latent::testing {

/// Reads a .npy file into an AnyTensor of its element type ('<f4', '<f8' or '<i8'; '|u1' becomes int64), through
/// io/npy.hpp: every header field and the file size are checked; errors name the file and the byte offset.
inline AnyTensor load_npy_any(const std::string& path) { return io::load_npy_any(path); }

/// Reads a .npy file whose element type must be T.
template <Element T>
Tensor<T> load_npy(const std::string& path) {
  const AnyTensor t = load_npy_any(path);
  if (!std::holds_alternative<Tensor<T>>(t))
    throw IoError("load_npy: " + path + ": holds " + dtype_of(t) + " " + shape_of(t).str() + ", expected " +
                  type_name<T>());
  return std::get<Tensor<T>>(t);
}

struct CompareOptions {
  double rtol = 1e-5;
  double atol = 1e-8;
  int max_reported = 5;  // mismatching elements listed in the report
};

struct CompareResult {
  bool ok = false;
  index_t mismatches = 0;
  double max_abs_error = 0;
  double max_rel_error = 0;  // |actual - expected| / |expected| over elements with expected != 0
  std::string report;        // empty when ok
  explicit operator bool() const noexcept { return ok; }
};

namespace detail {
inline std::string index_str(index_t flat, const Shape& s) {
  std::vector<index_t> idx(static_cast<std::size_t>(s.rank()));
  for (int d = s.rank() - 1; d >= 0; --d) {
    idx[static_cast<std::size_t>(d)] = s[d] ? flat % s[d] : 0;
    flat = s[d] ? flat / s[d] : 0;
  }
  return Shape(idx).str();
}
inline std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace detail

/// Element-wise |actual - expected| <= atol + rtol |expected| (numpy.allclose's rule; NaN matches only
/// NaN). The report names `what`, the count of mismatches, the largest errors and the first few
/// mismatching elements with their multi-indices.
template <Scalar T>
CompareResult compare(const Tensor<T>& actual, const Tensor<T>& expected, const CompareOptions& o = {},
                      const std::string& what = "tensor") {
  CompareResult r;
  if (!(actual.shape() == expected.shape())) {
    r.report = what + ": shape " + actual.shape().str() + ", expected " + expected.shape().str();
    r.mismatches = std::max(actual.numel(), expected.numel());
    return r;
  }
  const T* a = actual.data();
  const T* e = expected.data();
  std::string listed;
  for (index_t i = 0; i < actual.numel(); ++i) {
    const double av = static_cast<double>(a[i]), ev = static_cast<double>(e[i]);
    const double err = std::abs(av - ev);
    bool bad;
    if (std::isnan(av) || std::isnan(ev))
      bad = std::isnan(av) != std::isnan(ev);
    else
      bad = !(err <= o.atol + o.rtol * std::abs(ev));
    if (!std::isnan(err)) {
      r.max_abs_error = std::max(r.max_abs_error, err);
      if (ev != 0) r.max_rel_error = std::max(r.max_rel_error, err / std::abs(ev));
    }
    if (bad) {
      if (r.mismatches < o.max_reported)
        listed += "\n  at " + detail::index_str(i, actual.shape()) + ": actual " + detail::num(av) + ", expected " +
                  detail::num(ev) + " (abs error " + detail::num(err) + ")";
      ++r.mismatches;
    }
  }
  r.ok = r.mismatches == 0;
  if (!r.ok)
    r.report = what + ": " + std::to_string(r.mismatches) + " of " + std::to_string(actual.numel()) +
               " elements differ (rtol " + detail::num(o.rtol) + ", atol " + detail::num(o.atol) + "; max abs error " +
               detail::num(r.max_abs_error) + ", max rel error " + detail::num(r.max_rel_error) + ")" + listed;
  return r;
}

}  // namespace latent::testing

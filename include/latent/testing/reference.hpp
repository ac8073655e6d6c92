// Reference vectors: load .npy arrays (float32, float64, int64; C order; NumPy format 1.0-3.0) with a
// validated header, and compare tensors within rtol/atol, reporting the first mismatches.
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

namespace latent::testing {

namespace detail {

[[noreturn]] inline void npy_error(const std::string& path, std::size_t offset, const std::string& what) {
  throw IoError("load_npy: " + path + ": byte " + std::to_string(offset) + ": " + what);
}

/// The value text of `'key': <value>` in the header dictionary, up to the next top-level comma/brace.
inline std::string npy_field(const std::string& path, const std::string& header, std::size_t header_offset,
                             const std::string& key) {
  const std::string quoted = "'" + key + "'";
  std::size_t k = header.find(quoted);
  if (k == std::string::npos) npy_error(path, header_offset, "header has no '" + key + "' field: " + header);
  std::size_t i = header.find(':', k + quoted.size());
  if (i == std::string::npos) npy_error(path, header_offset + k, "no ':' after '" + key + "'");
  ++i;
  while (i < header.size() && header[i] == ' ') ++i;
  const std::size_t start = i;
  int depth = 0;
  for (; i < header.size(); ++i) {
    const char c = header[i];
    if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    else if ((c == ',' || c == '}') && depth == 0)
      break;
  }
  if (depth != 0 || i == header.size()) npy_error(path, header_offset + start, "unterminated value of '" + key + "'");
  return header.substr(start, i - start);
}

}  // namespace detail

/// Reads a .npy file into an AnyTensor of its element type ('<f4', '<f8' or '<i8'; C order only).
/// Every header field and the file size are checked; errors name the file and the byte offset.
inline AnyTensor load_npy_any(const std::string& path) {
  static_assert(std::endian::native == std::endian::little, "load_npy reads little-endian files into native memory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("load_npy: cannot open " + path);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };

  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    detail::npy_error(path, 0, "not a .npy file (no \\x93NUMPY magic)");
  const unsigned major = byte(6);
  if (major < 1 || major > 3)
    detail::npy_error(path, 6, "unsupported format version " + std::to_string(major) + "." + std::to_string(byte(7)));
  std::size_t header_len = 0, header_offset = 10;
  if (major == 1) {
    header_len = byte(8) | (std::size_t{byte(9)} << 8);
  } else {
    if (bytes.size() < 12) detail::npy_error(path, 8, "file ends inside the header length");
    header_len = byte(8) | (std::size_t{byte(9)} << 8) | (std::size_t{byte(10)} << 16) | (std::size_t{byte(11)} << 24);
    header_offset = 12;
  }
  if (header_offset + header_len > bytes.size())
    detail::npy_error(path, 8,
                      "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                          std::to_string(bytes.size()) + " bytes)");
  const std::string header(bytes.data() + header_offset, header_len);
  if (header.empty() || header.front() != '{')
    detail::npy_error(path, header_offset, "header is not a dictionary: " + header);

  const std::string descr = detail::npy_field(path, header, header_offset, "descr");
  const std::string fortran = detail::npy_field(path, header, header_offset, "fortran_order");
  const std::string shape_text = detail::npy_field(path, header, header_offset, "shape");
  if (fortran != "False")
    detail::npy_error(
        path, header_offset,
        "fortran_order is " + fortran + "; only C-order arrays are supported (save np.ascontiguousarray(a))");

  // "(2, 3)", "(5,)", "()"
  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
    detail::npy_error(path, header_offset, "shape " + shape_text + " is not a tuple");
  Shape shape;
  {
    const std::string inner = shape_text.substr(1, shape_text.size() - 2);
    std::size_t i = 0;
    while (i < inner.size()) {
      while (i < inner.size() && (inner[i] == ' ' || inner[i] == ',')) ++i;
      if (i == inner.size()) break;
      std::size_t j = i;
      while (j < inner.size() && inner[j] >= '0' && inner[j] <= '9') ++j;
      if (j == i) detail::npy_error(path, header_offset, "shape " + shape_text + " has a non-integer entry");
      if (shape.rank() == Shape::max_rank)
        detail::npy_error(path, header_offset, "shape " + shape_text + " has more than LATENT_MAX_RANK dimensions");
      shape.push_back(std::stoll(inner.substr(i, j - i)));
      i = j;
    }
  }

  std::size_t item = 0;
  if (descr == "'<f4'")
    item = 4;
  else if (descr == "'<f8'")
    item = 8;
  else if (descr == "'<i8'")
    item = 8;
  else
    detail::npy_error(path, header_offset,
                      "dtype " + descr + " is not supported (float32 '<f4', float64 '<f8' or int64 '<i8')");

  const std::size_t data_offset = header_offset + header_len;
  const std::size_t expected = static_cast<std::size_t>(shape.numel()) * item;
  if (bytes.size() - data_offset != expected)
    detail::npy_error(path, data_offset,
                      "data has " + std::to_string(bytes.size() - data_offset) + " bytes, shape " + shape.str() +
                          " of " + descr + " needs " + std::to_string(expected));

  auto fill = [&](auto tag) -> AnyTensor {
    using T = decltype(tag);
    auto t = Tensor<T>::empty(shape);
    if (expected) std::memcpy(t.data(), bytes.data() + data_offset, expected);
    return t;
  };
  if (descr == "'<f4'") return fill(float{});
  if (descr == "'<f8'") return fill(double{});
  return fill(std::int64_t{});
}

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

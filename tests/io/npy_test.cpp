// io/npy.hpp: round trips (oracle: the bytes NumPy itself writes, committed in tests/io/data by
// make_interop.py), dtype conversion, and whole error messages for malformed files.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <limits>

#include "io_test_util.hpp"

using namespace latent;
using latent_io_test::raw;
using latent_io_test::io_error_detail;
using latent_io_test::read_bytes;
using latent_io_test::TempDir;
using latent_io_test::write_bytes;

namespace {

/// NumPy's layout by hand: magic, version, header length, header padded with spaces to a multiple of 64 ending
/// in '\n', data.
std::string npy_bytes(const std::string& dict, const std::string& data, char major = 1) {
  std::string header = dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + major + '\0';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>((header.size() >> 8) & 0xFF);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

std::string f4_dict(const std::string& shape) { return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"; }

}  // namespace

TEST_CASE("save_npy writes the bytes NumPy writes for float32, float64, int64 and uint8", "[io][npy]") {
  TempDir dir;
  // The same arrays make_interop.py saves with np.save.
  std::vector<float> f(6);
  for (int i = 0; i < 6; ++i) f[static_cast<std::size_t>(i)] = static_cast<float>(i) * 0.5f - 1.0f;
  io::save_npy(dir / "f32.npy", from_vector<float>(f, {2, 3}));
  CHECK(read_bytes(dir / "f32.npy") == read_bytes(latent_io_test::data_file("numpy_f32_2x3.npy")));
  io::save_npy(dir / "f64.npy", from_vector<double>({0.1, -2.5, 1e300}, {3}));
  CHECK(read_bytes(dir / "f64.npy") == read_bytes(latent_io_test::data_file("numpy_f64_3.npy")));
  auto scalar = Tensor<std::int64_t>::empty({});
  *scalar.data() = -7;
  io::save_npy(dir / "i64.npy", scalar);
  CHECK(read_bytes(dir / "i64.npy") == read_bytes(latent_io_test::data_file("numpy_i64_scalar.npy")));
  io::save_npy_u8(dir / "u8.npy", {0, 1, 127, 128, 254, 255, 3, 4}, Shape{2, 2, 2});
  CHECK(read_bytes(dir / "u8.npy") == read_bytes(latent_io_test::data_file("numpy_u8_2x2x2.npy")));
  // Only the target files remain: the temporary files were renamed.
  CHECK(dir.files() == std::vector<std::string>{"f32.npy", "f64.npy", "i64.npy", "u8.npy"});
}

TEST_CASE("load_npy reads NumPy's files back to the same values, in any rank", "[io][npy]") {
  TempDir dir;
  const auto f = io::load_npy<float>(latent_io_test::data_file("numpy_f32_2x3.npy"));
  CHECK(f.shape() == Shape{2, 3});
  CHECK(f.to_vector() == std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f});
  const auto d = io::load_npy<double>(latent_io_test::data_file("numpy_f64_3.npy"));
  CHECK(d.to_vector() == std::vector<double>{0.1, -2.5, 1e300});
  const auto i = io::load_npy<std::int64_t>(latent_io_test::data_file("numpy_i64_scalar.npy"));
  CHECK(i.shape() == Shape{});
  CHECK(i.item() == -7);
  const auto u = io::load_npy_u8(latent_io_test::data_file("numpy_u8_2x2x2.npy"));
  CHECK(u.shape == Shape{2, 2, 2});
  CHECK(u.values == std::vector<std::uint8_t>{0, 1, 127, 128, 254, 255, 3, 4});

  // Special values survive bit for bit; an empty array has a shape but no data.
  const float inf = std::numeric_limits<float>::infinity();
  const auto special = from_vector<float>({-0.0f, inf, -inf, std::numeric_limits<float>::denorm_min()}, {4});
  io::save_npy(dir / "special.npy", special);
  const auto back = io::load_npy<float>(dir / "special.npy");
  CHECK(std::memcmp(back.data(), special.data(), 16) == 0);
  io::save_npy(dir / "empty.npy", Tensor<double>::empty({0, 3}));
  CHECK(io::load_npy<double>(dir / "empty.npy").shape() == Shape{0, 3});
  const auto five = io::load_npy<std::int64_t>(write_bytes(
      dir / "rank5.npy",
      npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1, 2, 1, 1), }", raw<std::int64_t>({5, -5}))));
  CHECK(five.shape() == Shape{1, 1, 2, 1, 1});
  CHECK(five.to_vector() == std::vector<std::int64_t>{5, -5});
}

TEST_CASE("load_npy reads format versions 2.0 and 3.0 and converts element types", "[io][npy]") {
  TempDir dir;
  const auto v2 = write_bytes(dir / "v2.npy", npy_bytes(f4_dict("(2,)"), raw<float>({1.5f, -2.0f}), 2));
  CHECK(io::load_npy<float>(v2).to_vector() == std::vector<float>{1.5f, -2.0f});
  const auto v3 = write_bytes(dir / "v3.npy", npy_bytes(f4_dict("(1,)"), raw<float>({4.0f}), 3));
  CHECK(io::load_npy<float>(v3).item() == 4.0f);
  // float32 → float64 is exact; uint8 and int64 become floats; int64 ← uint8 widens.
  CHECK(io::load_npy<double>(v2).to_vector() == std::vector<double>{1.5, -2.0});
  const auto u8 = write_bytes(dir / "u8.npy",
                              npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", std::string("\x00\x80\xff", 3)));
  CHECK(io::load_npy<float>(u8).to_vector() == std::vector<float>{0.0f, 128.0f, 255.0f});
  CHECK(io::load_npy<std::int64_t>(u8).to_vector() == std::vector<std::int64_t>{0, 128, 255});
  CHECK(std::get<Tensor<std::int64_t>>(io::load_npy_any(u8)).to_vector() == std::vector<std::int64_t>{0, 128, 255});
  const auto i8 = write_bytes(
      dir / "i8.npy", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", raw<std::int64_t>({-3, 9})));
  CHECK(io::load_npy<float>(i8).to_vector() == std::vector<float>{-3.0f, 9.0f});
  CHECK(std::holds_alternative<Tensor<float>>(io::load_npy_any(v2)));
  // Floats are never rounded into integers silently.
  REQUIRE_THROWS_WITH(io::load_npy<std::int64_t>(v2),
                      "[latent.io] load_npy: " + v2 +
                          ": holds float32 values, which are not converted to int64 (load it as float32 or float64)");
  REQUIRE_THROWS_WITH(io::load_npy_u8(v2), "[latent.io] load_npy_u8: " + v2 + ": holds '<f4', expected uint8 '|u1'");
}

TEST_CASE("load_npy rejects malformed headers naming the file, the byte offset and the problem", "[io][npy][errors]") {
  TempDir dir;
  auto message = [&](const std::string& name, const std::string& bytes) {
    return io_error_detail("load_npy", write_bytes(dir / name, bytes), [](const std::string& p) { io::load_npy_any(p); });
  };
  const std::string four_floats = raw<float>({1, 2, 3, 4});

  CHECK(message("magic.npy", "PK\x03\x04 not numpy at all") == "byte 0: not a .npy file (no \\x93NUMPY magic)");
  CHECK(message("empty.npy", "") == "byte 0: not a .npy file (no \\x93NUMPY magic)");
  CHECK(message("version.npy", npy_bytes(f4_dict("(1,)"), raw<float>({1}), 4)) ==
        "byte 6: unsupported format version 4.0 (1.0, 2.0 and 3.0 are read)");
  CHECK(message("cut_length.npy", std::string("\x93NUMPY\x01\x00\x40", 9)) ==
        "byte 8: file ends inside the header length (file has 9 bytes)");
  CHECK(message("cut_header.npy", npy_bytes(f4_dict("(1,)"), "").substr(0, 40)) ==
        "byte 8: header length 118 runs past the end of the file (40 bytes)");
  CHECK(message("fortran.npy", npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four_floats)) ==
        "byte 10: fortran_order is True; only C-order arrays are supported (save np.ascontiguousarray(a))");
  CHECK(message("big_endian.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "abcd")) ==
        "byte 10: dtype '>f4' is not supported (float32 '<f4', float64 '<f8', int64 '<i8' or uint8 '|u1')");
  CHECK(message("int32.npy", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd")) ==
        "byte 10: dtype '<i4' is not supported (float32 '<f4', float64 '<f8', int64 '<i8' or uint8 '|u1')");
  CHECK(message("not_dict.npy", npy_bytes("['descr', '<f4']", "")) == "byte 10: the header is not a dictionary (expected '{')");
  CHECK(message("no_shape.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False}", "")) ==
        "byte 10: the header has no 'shape' key");
  CHECK(message("twice.npy", npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "")) ==
        "byte 27: the header has the key 'descr' twice");
  CHECK(message("unknown.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", "abcd")) ==
        "byte 64: unknown header key 'x' (expected 'descr', 'fortran_order' and 'shape')");
  CHECK(message("negative.npy", npy_bytes(f4_dict("(2, -2)"), four_floats)) ==
        "byte 64: shape entries must be non-negative integers");
  CHECK(message("not_tuple.npy", npy_bytes(f4_dict("(4)"), four_floats)) ==
        "byte 60: shape (n) is not a tuple; a 1-d shape is written (n,)");
  CHECK(message("leading_zero.npy", npy_bytes(f4_dict("(04,)"), four_floats)) ==
        "byte 61: shape entries must not have leading zeros");
  CHECK(message("huge_entry.npy", npy_bytes(f4_dict("(99999999999999999999,)"), "")) ==
        "byte 61: shape entry is larger than 2^63 - 1");
  CHECK(message("rank9.npy", npy_bytes(f4_dict("(1, 1, 1, 1, 1, 1, 1, 1, 1)"), "abcd")) ==
        "byte 60: shape has more than 8 dimensions (LATENT_MAX_RANK)");
  CHECK(message("fortran_value.npy", npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "abcd")) ==
        "byte 44: expected True or False");
  CHECK(message("garbage.npy", npy_bytes(f4_dict("(1,)") + " x", "abcd")) ==
        "byte 68: unexpected text after the header dictionary");
  CHECK(message("open.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "abcd")) ==
        "byte 128: the header ends inside its dictionary");
}

TEST_CASE("load_npy checks the data length against the shape and never trusts an absurd shape", "[io][npy][errors]") {
  TempDir dir;
  const auto short_data = write_bytes(dir / "short.npy", npy_bytes(f4_dict("(2, 2)"), raw<float>({1, 2, 3})));
  REQUIRE_THROWS_WITH(io::load_npy<float>(short_data),
                      "[latent.io] load_npy: " + short_data + ": byte 128: data has 12 bytes, shape [2,2] of '<f4' needs 16");
  const auto long_data = write_bytes(dir / "long.npy", npy_bytes(f4_dict("(1,)"), raw<float>({1, 2})));
  REQUIRE_THROWS_WITH(io::load_npy<float>(long_data),
                      "[latent.io] load_npy: " + long_data + ": byte 128: data has 8 bytes, shape [1] of '<f4' needs 4");
  // 2^32 × 2^32 × 4 bytes wraps around to 0 in 64-bit arithmetic: the check must see the overflow.
  const auto wrap = write_bytes(dir / "wrap.npy", npy_bytes(f4_dict("(4294967296, 4294967296)"), ""));
  REQUIRE_THROWS_WITH(io::load_npy<float>(wrap), "[latent.io] load_npy: " + wrap +
                                                     ": byte 10: shape [4294967296,4294967296] of '<f4' has more elements than 64-bit sizes can count");
  // A later 0 does not excuse an overflowing product before it (Shape::numel multiplies in order; a fuzzer finding).
  const auto zero = write_bytes(dir / "zero.npy", npy_bytes(f4_dict("(1099511627776, 1099511627776, 0)"), ""));
  REQUIRE_THROWS_WITH(io::load_npy<float>(zero), "[latent.io] load_npy: " + zero +
                                                     ": byte 10: shape [1099511627776,1099511627776,0] of '<f4' has more elements than 64-bit sizes can count");
  // A huge but representable shape is compared with the file before any allocation.
  const auto huge = write_bytes(dir / "huge.npy", npy_bytes(f4_dict("(1000000000000,)"), "abcd"));
  REQUIRE_THROWS_WITH(io::load_npy<float>(huge), "[latent.io] load_npy: " + huge +
                                                     ": byte 128: data has 4 bytes, shape [1000000000000] of '<f4' needs 4000000000000");
  const auto missing = dir / "absent.npy";
  REQUIRE_THROWS_WITH(io::load_npy<float>(missing), "[latent.io] load_npy: cannot open " + missing);
  REQUIRE_THROWS_WITH(io::load_npy<float>(dir.path.string()), "[latent.io] load_npy: cannot open " + dir.path.string());
}

TEST_CASE("parse_npy reads an in-memory file with the same checks", "[io][npy]") {
  const std::string bytes = npy_bytes(f4_dict("(2,)"), raw<float>({3.0f, -1.0f}));
  const auto span = std::as_bytes(std::span(bytes.data(), bytes.size()));
  CHECK(io::parse_npy<float>(span, "memory").to_vector() == std::vector<float>{3.0f, -1.0f});
  const io::NpyHeader h = io::parse_npy_header(span, "memory");
  CHECK(h.dtype == io::NpyDtype::float32);
  CHECK(h.data_offset == 128);
  CHECK(h.data_size == 8);
  // An empty array converted from another dtype (a fuzzer finding: memcpy from a null buffer).
  const std::string empty_u8 = npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 2), }", "");
  CHECK(io::parse_npy<float>(std::as_bytes(std::span(empty_u8.data(), empty_u8.size())), "memory").shape() == Shape{0, 2});
  REQUIRE_THROWS_WITH(io::parse_npy<float>(span.first(134), "memory"),
                      "[latent.io] load_npy: memory: byte 128: data has 6 bytes, shape [2] of '<f4' needs 8");
}

TEST_CASE("save_npy reports a folder it cannot write to and leaves nothing behind", "[io][npy][errors]") {
  TempDir dir;
  const std::string target = dir / "missing_folder/x.npy";
  // The temporary file's name ends with a per-process counter, so the middle of the message is not fixed.
  REQUIRE_THROWS_WITH(io::save_npy(target, zeros<float>({2})),
                      Catch::Matchers::StartsWith("[latent.io] save_npy: " + target + ": cannot create a temporary file " +
                                                  dir.path.string() + "/missing_folder/.x.npy.tmp-" +
                                                  std::to_string(::getpid()) + "-") &&
                          Catch::Matchers::EndsWith(" next to it (No such file or directory)"));
  REQUIRE_THROWS_WITH(io::save_npy_u8(dir / "u8.npy", {1, 2, 3}, Shape{2, 2}),
                      "[latent.shape] save_npy_u8: " + (dir / "u8.npy") + ": 3 values for shape [2,2] (4 elements)");
  CHECK(dir.files().empty());
}

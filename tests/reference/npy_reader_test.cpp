// testing/reference.hpp: the .npy reader (oracle: files written byte by byte here in NumPy's format 1.0) and
// compare()'s report.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace latent;

namespace {

/// A fresh temporary directory, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "latent_npy_XXXXXX").string();
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

/// NumPy format 1.0: magic, version, little-endian header length, header padded with spaces to a multiple of 64
/// and ended by '\n', then the raw data.
std::string npy_bytes(const std::string& dict, const std::string& data, char major = 1) {
  std::string header = dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + major + '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}

std::string write(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string p = (dir.path / name).string();
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

}  // namespace

TEST_CASE("load_npy reads float32, float64 and int64 arrays of any rank, including 0-d", "[testing][npy]") {
  TempDir dir;
  const auto f = testing::load_npy<float>(write(
      dir, "f.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", raw<float>({1, 2, 3, 4, 5, 6.5f}))));
  CHECK(f.shape() == Shape{2, 3});
  CHECK(f.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6.5f});
  const auto d = testing::load_npy<double>(
      write(dir, "d.npy",
            npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", raw<double>({0.1, -2.0}), 2)));
  CHECK(d.to_vector() == std::vector<double>{0.1, -2.0});
  const auto i = testing::load_npy<std::int64_t>(write(
      dir, "i.npy", npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", raw<std::int64_t>({42}))));
  CHECK(i.shape() == Shape{});
  CHECK(i.item() == 42);
}

TEST_CASE("load_npy rejects malformed files naming the file and the byte offset", "[testing][npy][errors]") {
  TempDir dir;
  const std::string bad_magic = write(dir, "magic.npy", "PK\x03\x04 not numpy at all");
  CHECK_THROWS_WITH(testing::load_npy_any(bad_magic),
                    "[latent.io] load_npy: " + bad_magic + ": byte 0: not a .npy file (no \\x93NUMPY magic)");

  const std::string fortran =
      write(dir, "fortran.npy",
            npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", raw<float>({1, 2, 3, 4})));
  CHECK_THROWS_WITH(
      testing::load_npy_any(fortran),
      "[latent.io] load_npy: " + fortran +
          ": byte 10: fortran_order is True; only C-order arrays are supported (save np.ascontiguousarray(a))");

  const std::string short_data =
      write(dir, "short.npy",
            npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", raw<float>({1, 2, 3})));
  CHECK_THROWS_WITH(
      testing::load_npy_any(short_data),
      "[latent.io] load_npy: " + short_data + ": byte 128: data has 12 bytes, shape [2,2] of '<f4' needs 16");

  const std::string big_endian =
      write(dir, "be.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", raw<float>({1})));
  CHECK_THROWS_WITH(testing::load_npy_any(big_endian),
                    "[latent.io] load_npy: " + big_endian +
                        ": byte 10: dtype '>f4' is not supported (float32 '<f4', float64 '<f8', int64 '<i8' or uint8 '|u1')");

  const std::string floats =
      write(dir, "floats.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", raw<float>({1})));
  CHECK_THROWS_WITH(testing::load_npy<double>(floats),
                    "[latent.io] load_npy: " + floats + ": holds float32 [1], expected float64");

  const std::string missing = (dir.path / "absent.npy").string();
  CHECK_THROWS_WITH(testing::load_npy_any(missing), "[latent.io] load_npy: cannot open " + missing);
}

TEST_CASE("compare applies rtol and atol and reports the first mismatches", "[testing][npy]") {
  const auto expected = from_vector<double>({1.0, 2.0, 0.0, -4.0}, {2, 2});
  CHECK(testing::compare(from_vector<double>({1.0 + 1e-9, 2.0, 1e-9, -4.0}, {2, 2}), expected,
                         {.rtol = 1e-6, .atol = 1e-8})
            .ok);
  const auto r = testing::compare(from_vector<double>({1.0, 2.5, 0.0, -4.1}, {2, 2}), expected,
                                  {.rtol = 1e-6, .atol = 1e-8, .max_reported = 1}, "y");
  CHECK_FALSE(r.ok);
  CHECK(r.mismatches == 2);
  CHECK(r.report ==
        "y: 2 of 4 elements differ (rtol 1e-06, atol 1e-08; max abs error 0.5, max rel error 0.25)\n"
        "  at [0,1]: actual 2.5, expected 2 (abs error 0.5)");
  const auto shape = testing::compare(zeros<float>({2}), zeros<float>({1, 2}));
  CHECK(shape.report == "tensor: shape [2], expected [1,2]");
}

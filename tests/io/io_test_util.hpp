// Helpers shared by the tests/io files: a fresh temporary folder per test, and raw file bytes.
#pragma once

#include <catch2/catch.hpp>
#include <latent/core/error.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace latent_io_test {

/// A fresh temporary directory, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "latent_io_XXXXXX").string();
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  /// Names of the files in the folder, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}
template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return s;
}
/// Committed test data: tests/io/data/<name>.
inline std::string data_file(const std::string& name) {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  return std::string(env ? env : LATENT_SOURCE_DIR) + "/tests/io/data/" + name;
}

/// The message of the IoError that load(path) throws, after its "[latent.io] <op>: <path>: " prefix (which must be
/// there); fails the test when nothing is thrown.
template <class Load>
std::string io_error_detail(const std::string& op, const std::string& path, Load&& load) {
  try {
    load(path);
  } catch (const latent::IoError& e) {
    const std::string prefix = "[latent.io] " + op + ": " + path + ": ";
    REQUIRE(std::string(e.what()).rfind(prefix, 0) == 0);
    return std::string(e.what()).substr(prefix.size());
  }
  FAIL("no error for " + path);
  return std::string();
}

}  // namespace latent_io_test

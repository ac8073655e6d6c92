// Helpers shared by the tests/data files: the shipped data/ folder, and IDX/gzip byte builders.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <zlib.h>

#include "../io/io_test_util.hpp"

namespace latent_data_test {

using latent_io_test::read_bytes;
using latent_io_test::TempDir;
using latent_io_test::write_bytes;

/// A file of the repository's data/ folder, found through LATENT_SOURCE_DIR (environment first, then the macro).
inline std::string shipped(const std::string& relative) {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  return (std::filesystem::path(env && *env ? env : LATENT_SOURCE_DIR) / "data" / relative).string();
}

inline std::string big_endian(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

/// An IDX file: 0, 0, type, rank, big-endian dims, then `data`.
inline std::string idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims, const std::string& data) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (auto d : dims) s += big_endian(d);
  return s + data;
}

/// `bytes` as a gzip stream; level 0 stores the data verbatim (a byte layout fixed by RFC 1951, not by zlib's version).
inline std::string gzip(const std::string& bytes, int level = Z_DEFAULT_COMPRESSION) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(bytes.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

/// The last four bytes of a gzip stream (ISIZE, little-endian) replaced by `size`.
inline std::string with_isize(std::string gz, std::uint32_t size) {
  for (int i = 0; i < 4; ++i) gz[gz.size() - 4 + static_cast<std::size_t>(i)] = static_cast<char>(size >> (8 * i));
  return gz;
}

}  // namespace latent_data_test

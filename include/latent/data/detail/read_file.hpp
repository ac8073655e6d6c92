// Whole-file reads for the data/ loaders: the bytes of a file, with IoError naming the file when it cannot be read.
#pragma once
#ifndef LATENT_INSIDE_DATA
#error "latent/data/detail/read_file.hpp is internal: include <latent/data/idx.hpp>, <latent/data/digits.hpp> or <latent/data/text.hpp>"
#endif

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "../../core/error.hpp"

namespace latent::data::detail {

/// The whole file as a string. Reads in one go after checking the size, so a missing, unreadable or special file
/// (a directory, a FIFO) is an IoError, never a hang or a crash.
inline std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw IoError(path.string() + ": no such file");
  if (!std::filesystem::is_regular_file(status)) throw IoError(path.string() + ": not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError(path.string() + ": cannot read its size (" + ec.message() + ")");

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.string().c_str(), "rb"), &std::fclose);
  if (!file) throw IoError(path.string() + ": cannot open for reading");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  const std::size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), file.get());
  if (got != bytes.size())
    throw IoError(path.string() + ": read " + std::to_string(got) + " of " + std::to_string(size) + " bytes");
  return bytes;
}

}  // namespace latent::data::detail

// The UCI "Optical Recognition of Handwritten Digits" 8x8 set as scikit-learn ships it (digits.csv): 1797 lines of
// 64 pixel counts 0..16 and a label 0..9. Every field is validated; errors give the line and column.
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "../core/factory.hpp"
#include "dataset.hpp"

#define LATENT_INSIDE_DATA
#include "detail/read_file.hpp"
#undef LATENT_INSIDE_DATA

namespace latent::data {

/// Parses digits.csv text: each non-empty line is 65 comma-separated integers (64 pixels row-major in 0..16, where
/// 16 is a fully inked 4x4 block of the original 32x32 bitmap, then the label 0..9). Returns images [N,1,8,8] as
/// pixel / 16 in [0,1] and labels [N]. `name` names the source in errors: "name: line 3, column 65: ...".
inline LabelledImages parse_uci_digits(std::string_view text, std::string_view name) {
  constexpr int fields = 65;
  std::vector<float> pixels;
  std::vector<std::int64_t> labels;
  std::size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;

    const auto fail = [&](int column, const std::string& message) {
      throw IoError(std::string(name) + ": line " + std::to_string(line_no) + ", column " + std::to_string(column) + ": " + message);
    };
    std::size_t start = 0;
    for (int column = 1; column <= fields; ++column) {
      if (start > line.size()) fail(column, "missing: the line has " + std::to_string(column - 1) + " fields, expected " + std::to_string(fields));
      std::size_t comma = line.find(',', start);
      if (comma == std::string_view::npos) comma = line.size();
      const std::string_view field = line.substr(start, comma - start);
      start = comma + 1;
      if (column == fields && comma != line.size()) fail(column + 1, "more than " + std::to_string(fields) + " fields on the line");

      int value = -1;
      const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
      const int high = column == fields ? 9 : 16;
      if (field.empty() || ec != std::errc() || ptr != field.data() + field.size() || value < 0 || value > high)
        fail(column, "'" + std::string(field.substr(0, 32)) + "' is not " + (column == fields ? "a label in 0..9" : "a pixel value in 0..16"));
      if (column == fields) labels.push_back(value);
      else pixels.push_back(static_cast<float>(value) / 16.0f);
    }
  }
  if (labels.empty()) throw IoError(std::string(name) + ": no data lines");
  const auto n = static_cast<index_t>(labels.size());
  return {from_vector<float>(pixels, {n, 1, 8, 8}), from_vector<std::int64_t>(labels)};
}

/// Reads digits.csv (e.g. data/uci-digits-8x8/digits.csv): images [1797,1,8,8] in [0,1], labels [1797].
inline LabelledImages load_uci_digits(const std::filesystem::path& path) {
  return parse_uci_digits(detail::read_file(path), path.string());
}

}  // namespace latent::data

// UCI 8x8 digits: the shipped digits.csv (oracle: numpy.loadtxt of the same file) and every kind of bad field, with
// its line and column.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <array>
#include <string>

#include "data_test_util.hpp"

using namespace latent;
using namespace latent_data_test;

namespace {
std::string row(int pixel, int label) {
  std::string s;
  for (int i = 0; i < 64; ++i) s += std::to_string(pixel) + ",";
  return s + std::to_string(label);
}
}  // namespace

TEST_CASE("load_uci_digits reads the shipped 1797 digits with their class counts and pixels", "[data][digits]") {
  const auto d = data::load_uci_digits(shipped("uci-digits-8x8/digits.csv"));
  CHECK(d.images.shape() == Shape{1797, 1, 8, 8});
  CHECK(d.labels.shape() == Shape{1797});
  std::array<std::int64_t, 10> counts{};
  for (auto v : d.labels.to_vector()) ++counts[static_cast<std::size_t>(v)];
  CHECK(counts == std::array<std::int64_t, 10>{178, 182, 177, 183, 181, 182, 181, 179, 174, 180});
  // numpy: the first row is 0,0,5,13,9,1,0,0, 0,0,13,15,10,15,5,0, ... with label 0; all pixels sum to 561718.
  CHECK(d.labels.at({0}) == 0);
  CHECK(d.images.at({0, 0, 0, 2}) == 5.0f / 16.0f);
  CHECK(d.images.at({0, 0, 0, 3}) == 13.0f / 16.0f);
  CHECK(d.images.at({0, 0, 1, 3}) == 15.0f / 16.0f);
  double total = 0;
  for (float v : d.images.to_vector()) total += 16.0 * v;
  CHECK(total == 561718.0);  // exact: every value is k / 16
}

TEST_CASE("parse_uci_digits accepts CRLF line ends and blank lines", "[data][digits]") {
  const auto d = data::parse_uci_digits(row(16, 3) + "\r\n\r\n" + row(8, 9) + "\n", "mini.csv");
  CHECK(d.images.shape() == Shape{2, 1, 8, 8});
  CHECK(d.labels.to_vector() == std::vector<std::int64_t>{3, 9});
  CHECK(d.images.at({0, 0, 7, 7}) == 1.0f);
  CHECK(d.images.at({1, 0, 0, 0}) == 0.5f);
}

TEST_CASE("parse_uci_digits names the line and column of every bad field", "[data][digits][errors]") {
  const std::string good = row(1, 1) + "\n";
  const std::string text = "1,1,1,1,x" + row(1, 1).substr(9);  // field 5 of line 2
  CHECK_THROWS_WITH(data::parse_uci_digits(good + text, "d.csv"), "[latent.io] d.csv: line 2, column 5: 'x' is not a pixel value in 0..16");
  CHECK_THROWS_WITH(data::parse_uci_digits("17," + row(1, 1).substr(2), "d.csv"),
                    "[latent.io] d.csv: line 1, column 1: '17' is not a pixel value in 0..16");
  CHECK_THROWS_WITH(data::parse_uci_digits(row(1, 10), "d.csv"), "[latent.io] d.csv: line 1, column 65: '10' is not a label in 0..9");
  CHECK_THROWS_WITH(data::parse_uci_digits(row(-1, 1), "d.csv"), "[latent.io] d.csv: line 1, column 1: '-1' is not a pixel value in 0..16");
  CHECK_THROWS_WITH(data::parse_uci_digits("1,,2", "d.csv"), "[latent.io] d.csv: line 1, column 2: '' is not a pixel value in 0..16");
  CHECK_THROWS_WITH(data::parse_uci_digits(row(1, 1).substr(2), "d.csv"),
                    "[latent.io] d.csv: line 1, column 65: missing: the line has 64 fields, expected 65");
  CHECK_THROWS_WITH(data::parse_uci_digits(good + good + row(1, 1) + ",4", "d.csv"),
                    "[latent.io] d.csv: line 3, column 66: more than 65 fields on the line");
  CHECK_THROWS_WITH(data::parse_uci_digits(row(1, 1) + " ", "d.csv"), "[latent.io] d.csv: line 1, column 65: '1 ' is not a label in 0..9");
  CHECK_THROWS_WITH(data::parse_uci_digits("\n\r\n", "d.csv"), "[latent.io] d.csv: no data lines");
  TempDir dir;
  CHECK_THROWS_WITH(data::load_uci_digits(dir / "none.csv"), "[latent.io] " + (dir / "none.csv") + ": no such file");
}

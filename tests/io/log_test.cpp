// CsvLog (header, full-precision rows read back, row-width errors) and Progress (line formats, throttling)
// with an injected clock and stream.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/io/log.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "io_test_util.hpp"

using namespace latent;

namespace {

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream ss(line);
  for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
  return fields;
}

}  // namespace

TEST_CASE("CsvLog writes a header and rows that parse back to the same doubles", "[io][log]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "log.csv";
  const std::vector<double> awkward{0.1, 1.0 / 3.0, -2.5e-300, 6.02214076e23, 1e-5, 12345678901234567.0, 0.0};
  {
    io::CsvLog log(path, {"step", "loss"});
    for (std::size_t i = 0; i < awkward.size(); ++i) log.row({static_cast<double>(i), awkward[i]});
    // Flushed per row: the file is complete while the log is still open.
    REQUIRE(read_lines(path).size() == awkward.size() + 1);
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == awkward.size() + 1);
  CHECK(lines[0] == "step,loss");
  CHECK(lines[1] == "0,0.1");  // shortest round-trip form, not 0.10000000000000001
  for (std::size_t i = 0; i < awkward.size(); ++i) {
    const auto fields = split(lines[i + 1]);
    REQUIRE(fields.size() == 2);
    CHECK(std::stod(fields[0]) == static_cast<double>(i));
    CHECK(std::stod(fields[1]) == awkward[i]);  // exact: the text must round-trip bit for bit
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("CsvLog writes non-finite values as nan and inf and quotes text columns", "[io][log]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "log.csv";
  {
    io::CsvLog log(path, {"step", "loss"}, {"phase"});
    log.row({1, std::numeric_limits<double>::quiet_NaN()}, {"warm, up"});
    log.row({2, -std::numeric_limits<double>::infinity()}, {"say \"hi\""});
    log.row({3, std::numeric_limits<double>::infinity()}, {"main"});
  }
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "step,loss,phase");
  CHECK(lines[1] == "1,nan,\"warm, up\"");
  CHECK(lines[2] == "2,-inf,\"say \"\"hi\"\"\"");
  CHECK(lines[3] == "3,inf,main");
  std::filesystem::remove_all(dir);
}

TEST_CASE("CsvLog truncates an existing file", "[io][log]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "log.csv";
  std::ofstream(path) << "old,content\n1,2\n3,4\n";
  {
    io::CsvLog log(path, {"a"});
    log.row({7});
  }
  CHECK(read_lines(path) == std::vector<std::string>{"a", "7"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("CsvLog rejects rows whose width differs from the header", "[io][log]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "log.csv";
  io::CsvLog log(path, {"step", "loss"});
  REQUIRE_THROWS_WITH(log.row({1, 2, 3}), "[latent.value] " + path.string() +
                                              ": CSV row has 3 numbers and 0 text fields, the header has 2 numeric and 0 text columns");
  REQUIRE_THROWS_AS(log.row({1}), ValueError);
  log.row({1, 2});
  CHECK(read_lines(path) == std::vector<std::string>{"step,loss", "1,2"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("CsvLog reports a file it cannot create", "[io][log]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "no_such_folder" / "log.csv";
  REQUIRE_THROWS_WITH(io::CsvLog(path, {"a"}), "[latent.io] " + path.string() + ": cannot open the CSV log for writing");
  std::filesystem::remove_all(dir);
}

TEST_CASE("Progress in plain mode prints a line per interval and a final line", "[io][log]") {
  std::ostringstream out;
  double t = 100.0;  // the injected clock: seconds from an arbitrary origin
  io::Progress progress(20000, "train", {.mode = io::ProgressMode::plain, .interval = 5.0, .stream = &out, .clock = [&] { return t; }});
  t = 102.0;
  progress.update(1000, {{"loss", 0.9}});
  CHECK(out.str().empty());  // less than 5 s since the start: nothing yet
  t = 111.0;
  progress.update(8400, {{"loss", 0.41234}, {"kl", 2.5}});
  // 8400 steps in 11 s = 763.6 it/s; (20000 - 8400) / 763.6 = 15.19 s left.
  CHECK(out.str() == "train  42% 8400/20000 [00:11<00:15, 764 it/s] loss 0.4123 kl 2.5\n");
  t = 112.0;
  progress.update(9000, {{"loss", 0.4}, {"kl", 2.0}});
  CHECK(out.str() == "train  42% 8400/20000 [00:11<00:15, 764 it/s] loss 0.4123 kl 2.5\n");  // throttled
  t = 126.0;
  progress.update(20000, {{"loss", 0.25}, {"kl", 1.0}});
  progress.finish();
  progress.finish();  // idempotent
  CHECK(out.str() ==
        "train  42% 8400/20000 [00:11<00:15, 764 it/s] loss 0.4123 kl 2.5\n"
        "train 100% 20000/20000 [00:26<00:00, 769 it/s] loss 0.25 kl 1\n"
        "train 100% 20000/20000 [00:26<00:00, 769 it/s] loss 0.25 kl 1\n");
}

TEST_CASE("Progress in live mode redraws one line with a bar", "[io][log]") {
  std::ostringstream out;
  double t = 0.0;
  {
    io::Progress progress(20000, "train", {.mode = io::ProgressMode::live, .refresh = 0.5, .stream = &out, .clock = [&] { return t; }});
    t = 11.0;
    progress.update(8400, {{"loss", 0.412}});
    // 4.2 of 10 cells: four full blocks and one eighth (0.2 * 8 = 1.6 eighths, rounded down).
    CHECK(out.str() == "\rtrain  42% |████▏     | 8400/20000 [00:11<00:15, 764 it/s] loss 0.412\x1b[K");
    t = 11.2;
    progress.update(8500, {{"loss", 0.4}});
    CHECK(out.str().size() == std::string("\rtrain  42% |████▏     | 8400/20000 [00:11<00:15, 764 it/s] loss 0.412\x1b[K").size());
    t = 4000.0;
    progress.update(20000, {{"loss", 0.3}});
  }  // the destructor finishes: last redraw plus a newline
  const std::string s = out.str();
  CHECK(s.substr(s.rfind('\r')) == "\rtrain 100% |██████████| 20000/20000 [1:06:40<00:00, 5.00 it/s] loss 0.3\x1b[K\n");
}

TEST_CASE("Progress handles an unknown total and slow steps", "[io][log]") {
  std::ostringstream out;
  double t = 0.0;
  io::Progress progress(0, "sample", {.mode = io::ProgressMode::plain, .interval = 1.0, .stream = &out, .clock = [&] { return t; }});
  t = 8.0;
  progress.update(2);
  CHECK(out.str() == "sample 2 it [00:08, 4.00 s/it]\n");
  CHECK(progress.line(8.0, true) == "sample 2 it [00:08, 4.00 s/it]");
}

TEST_CASE("Progress validates its options", "[io][log]") {
  REQUIRE_THROWS_WITH(io::Progress(10, "x", {.interval = 0}), "[latent.value] Progress: interval must be > 0 seconds, got 0.000000");
  REQUIRE_THROWS_WITH(io::Progress(-1, "x"), "[latent.value] Progress: total must be >= 0 (0: unknown), got -1");
  REQUIRE_THROWS_WITH(io::Progress(10, "x", {.bar_width = 0}), "[latent.value] Progress: bar_width must be in [1, 200], got 0");
}

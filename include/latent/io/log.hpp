// Training logs: CsvLog writes one numeric row per call (flushed, full precision), Progress shows a live
// progress bar on a terminal and a plain line every few seconds otherwise, both on stderr by default.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include "../core/error.hpp"

namespace latent::io {

/// A CSV file with a header row and one row of numbers per call: `CsvLog log("log.csv", {"step", "loss"});
/// log.row({step, loss});`. Numbers are written in the shortest form that reads back to the same double
/// (std::to_chars), NaN and infinities as nan/inf/-inf (what Python's float() and pandas accept). Each row
/// is flushed, so a killed run leaves every finished row on disk. Opening truncates an existing file.
/// Optional text columns (`extra`) follow the numeric ones, e.g. a phase name; they are quoted when needed.
class CsvLog {
 public:
  CsvLog(const std::filesystem::path& path, std::vector<std::string> columns, std::vector<std::string> extra = {})
      : path_(path), columns_(std::move(columns)), extra_(std::move(extra)) {
    LATENT_CHECK(!columns_.empty() || !extra_.empty(), IoError, path_.string() + ": a CSV log needs at least one column");
    file_ = std::fopen(path_.string().c_str(), "w");
    LATENT_CHECK(file_ != nullptr, IoError, path_.string() + ": cannot open the CSV log for writing");
    std::string header;
    for (const auto& c : columns_) append_field(header, c);
    for (const auto& c : extra_) append_field(header, c);
    header.back() = '\n';
    write(header);
  }
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;
  CsvLog(CsvLog&& other) noexcept
      : path_(std::move(other.path_)), columns_(std::move(other.columns_)), extra_(std::move(other.extra_)), file_(other.file_) {
    other.file_ = nullptr;
  }
  CsvLog& operator=(CsvLog&& other) noexcept {
    if (this != &other) {
      close();
      path_ = std::move(other.path_), columns_ = std::move(other.columns_), extra_ = std::move(other.extra_);
      file_ = std::exchange(other.file_, nullptr);
    }
    return *this;
  }
  ~CsvLog() { close(); }

  /// Appends one row: one number per numeric column and one string per extra column.
  void row(std::span<const double> values, std::span<const std::string> text = {}) {
    LATENT_CHECK(values.size() == columns_.size() && text.size() == extra_.size(), ValueError,
                 path_.string() + ": CSV row has " + std::to_string(values.size()) + " numbers and " + std::to_string(text.size()) +
                     " text fields, the header has " + std::to_string(columns_.size()) + " numeric and " +
                     std::to_string(extra_.size()) + " text columns");
    LATENT_CHECK(file_ != nullptr, IoError, path_.string() + ": the CSV log was moved from");
    line_.clear();
    for (double v : values) append_number(line_, v);
    for (const auto& s : text) append_field(line_, s);
    line_.back() = '\n';
    write(line_);
  }
  void row(std::initializer_list<double> values, std::initializer_list<std::string> text = {}) {
    row(std::span<const double>(values.begin(), values.size()), std::span<const std::string>(text.begin(), text.size()));
  }

  const std::filesystem::path& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  static void append_number(std::string& out, double v) {
    if (std::isnan(v)) {
      out += "nan,";
    } else if (std::isinf(v)) {
      out += v > 0 ? "inf," : "-inf,";
    } else {
      char buffer[32];
      const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);  // shortest round-trip form
      out.append(buffer, ec == std::errc() ? end : buffer);
      out += ',';
    }
  }
  // RFC 4180: a field holding a comma, quote or line break is quoted, with quotes doubled.
  static void append_field(std::string& out, const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) {
      out += s;
    } else {
      out += '"';
      for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
      out += '"';
    }
    out += ',';
  }
  void write(const std::string& s) {
    const bool ok = std::fwrite(s.data(), 1, s.size(), file_) == s.size() && std::fflush(file_) == 0;
    LATENT_CHECK(ok, IoError, path_.string() + ": writing the CSV log failed (disk full?)");
  }
  void close() noexcept {
    if (file_) std::fclose(file_);
    file_ = nullptr;
  }

  std::filesystem::path path_;
  std::vector<std::string> columns_, extra_;
  std::FILE* file_ = nullptr;
  std::string line_;  // reused: no allocation per row in the steady state
};

enum class ProgressMode {
  automatic,  // live when the stream is std::cerr and stderr is a terminal, plain otherwise
  live,       // one line redrawn in place (\r) with a bar
  plain,      // a new line every `interval` seconds and a final line: for log files and CI
};

struct ProgressOptions {
  ProgressMode mode = ProgressMode::automatic;
  double interval = 5.0;         // seconds between lines in plain mode
  double refresh = 0.1;          // seconds between redraws in live mode
  int bar_width = 10;            // characters of the bar in live mode
  std::ostream* stream = nullptr;  // nullptr: std::cerr
  std::function<double()> clock = {};  // seconds from any origin; empty: std::chrono::steady_clock

  void validate() const {
    LATENT_CHECK(interval > 0, ValueError, "Progress: interval must be > 0 seconds, got " + std::to_string(interval));
    LATENT_CHECK(refresh >= 0, ValueError, "Progress: refresh must be >= 0 seconds, got " + std::to_string(refresh));
    LATENT_CHECK(bar_width >= 1 && bar_width <= 200, ValueError, "Progress: bar_width must be in [1, 200], got " + std::to_string(bar_width));
  }
};

/// Progress of a loop of `total` steps (0: unknown), tqdm-style:
///   live:  "train  42% |████▏     | 8400/20000 [00:11<00:15, 742 it/s] loss 0.412"
///   plain: "train  42% 8400/20000 [00:11<00:15, 742 it/s] loss 0.412"
/// update() reads the clock once and formats nothing unless a line is due, so calling it every step costs
/// nanoseconds. The rate is measured from construction. finish() (or the destructor) writes the final line.
class Progress {
 public:
  using Values = std::initializer_list<std::pair<std::string_view, double>>;

  explicit Progress(std::int64_t total, std::string label = "", ProgressOptions options = {})
      : total_(total), label_(std::move(label)), options_(std::move(options)) {
    options_.validate();
    LATENT_CHECK(total >= 0, ValueError, "Progress: total must be >= 0 (0: unknown), got " + std::to_string(total));
    stream_ = options_.stream ? options_.stream : &std::cerr;
    live_ = options_.mode == ProgressMode::live ||
            (options_.mode == ProgressMode::automatic && stream_ == &std::cerr && ::isatty(STDERR_FILENO));
    start_ = now();
    last_line_ = live_ ? -std::numeric_limits<double>::infinity() : start_;
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() {
    try {
      finish();
    } catch (...) {  // a destructor must not throw; the final line is a courtesy
    }
  }

  /// Records that `step` steps are done, with the latest values to show (e.g. {{"loss", 0.41}}).
  void update(std::int64_t step, Values values = {}) {
    step_ = step;
    store(values);
    const double t = now();
    if (t - last_line_ >= (live_ ? options_.refresh : options_.interval)) {
      last_line_ = t;
      emit(t, false);
    }
  }

  /// Writes the final line (in live mode: the last redraw and a newline). Idempotent.
  void finish() {
    if (finished_) return;
    finished_ = true;
    emit(now(), true);
  }

  /// The line that update() would print now (without \r or newline): for tests and custom sinks.
  std::string line(double time, bool bar) const {
    const double elapsed = std::max(0.0, time - start_);
    const double rate = elapsed > 0 ? static_cast<double>(step_) / elapsed : 0.0;
    std::string s = label_;
    if (!s.empty()) s += ' ';
    if (total_ > 0) {
      const double fraction = std::clamp(static_cast<double>(step_) / static_cast<double>(total_), 0.0, 1.0);
      s += format("%3d%% ", static_cast<int>(fraction * 100));
      if (bar) s += "|" + bar_string(fraction) + "| ";
      s += std::to_string(step_) + "/" + std::to_string(total_) + " [" + clock_string(elapsed);
      s += "<" + (rate > 0 ? clock_string(static_cast<double>(std::max<std::int64_t>(total_ - step_, 0)) / rate) : std::string("?"));
    } else {
      s += std::to_string(step_) + " it [" + clock_string(elapsed);
    }
    s += ", " + rate_string(rate) + "]";
    for (const auto& [name, value] : values_) s += " " + name + " " + format("%.4g", value);
    return s;
  }

 private:
  double now() const {
    if (options_.clock) return options_.clock();
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  // Keeps the latest values; in the steady state (same names every call) only the numbers are copied.
  void store(Values values) {
    bool same = values.size() == values_.size();
    for (std::size_t i = 0; same && i < values.size(); ++i) same = values_[i].first == values.begin()[i].first;
    if (!same) {
      values_.clear();
      for (const auto& [name, value] : values) values_.emplace_back(std::string(name), value);
    } else {
      for (std::size_t i = 0; i < values.size(); ++i) values_[i].second = values.begin()[i].second;
    }
  }

  void emit(double t, bool final_line) {
    if (live_) {
      // \r returns to the line start; ESC[K clears what a longer previous line left behind.
      *stream_ << '\r' << line(t, true) << "\x1b[K";
      if (final_line) *stream_ << '\n';
    } else {
      *stream_ << line(t, false) << '\n';
    }
    stream_->flush();
  }

  std::string bar_string(double fraction) const {
    // Eighth blocks give the bar 8x the resolution of its width.
    static constexpr const char* eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    const int w = options_.bar_width;
    const int units = static_cast<int>(fraction * w * 8);
    const int full = std::min(units / 8, w), rest = full < w ? units % 8 : 0;
    std::string s;
    for (int i = 0; i < full; ++i) s += "█";
    s += eighths[rest];
    s.append(static_cast<std::size_t>(w - full - (rest ? 1 : 0)), ' ');
    return s;
  }

  static std::string clock_string(double seconds) {
    if (!std::isfinite(seconds) || seconds > 359999) return "?";
    const auto s = static_cast<long>(seconds);
    return s >= 3600 ? format("%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60) : format("%02ld:%02ld", s / 60, s % 60);
  }

  static std::string rate_string(double rate) {
    if (rate <= 0) return "? it/s";
    if (rate < 1) return format("%.2f s/it", 1 / rate);
    return format(rate < 10 ? "%.2f it/s" : rate < 100 ? "%.1f it/s" : "%.0f it/s", rate);
  }

  template <class... Args>
  static std::string format(const char* pattern, Args... args) {
    char buffer[64];
    const int n = std::snprintf(buffer, sizeof buffer, pattern, args...);
    return std::string(buffer, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buffer) - 1)));
  }

  std::int64_t total_;
  std::string label_;
  ProgressOptions options_;
  std::ostream* stream_ = nullptr;
  bool live_ = false, finished_ = false;
  double start_ = 0, last_line_ = 0;
  std::int64_t step_ = 0;
  std::vector<std::pair<std::string, double>> values_;
};

}  // namespace latent::io

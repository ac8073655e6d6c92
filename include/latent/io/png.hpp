// PNG output through libpng: raw images, image grids (gray/RGB, padding, upscaling), 2-D scatter/density plots and
// line plots for loss curves (built-in bitmap font for labels), every file with provenance tEXt chunks. Atomic writes.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"
#include "../version.hpp"

#include "../core/atomic_file.hpp"

#if defined(LATENT_HAVE_PNG)
#include <png.h>
#endif

namespace latent::io {

/// Key/value pairs written as PNG tEXt chunks.
using Provenance = std::vector<std::pair<std::string, std::string>>;

/// The provenance every picture carries: software, model, seed, step and the command line.
inline Provenance provenance(const std::string& model, std::uint64_t seed, std::int64_t step, int argc = 0, char** argv = nullptr) {
  std::string command;
  for (int i = 0; i < argc; ++i) {
    // Appended piece by piece: g++ 12 -O3 warns (falsely, -Warray-bounds) on `"literal" + std::string(...)` here.
    if (i > 0) command += ' ';
    command += argv[i];
  }
  Provenance p{{"Software", std::string("latent ") + LATENT_VERSION_STRING},
               {"Model", model},
               {"Seed", std::to_string(seed)},
               {"Step", std::to_string(step)}};
  if (!command.empty()) p.emplace_back("Command", command);
  return p;
}

/// An 8-bit picture in memory: gray (channels = 1) or RGB (channels = 3), rows top to bottom.
struct Image {
  int width = 0, height = 0, channels = 3;
  std::vector<std::uint8_t> pixels;  // height * width * channels, row-major, channels interleaved

  Image() = default;
  Image(int w, int h, int c, std::uint8_t fill = 255)
      : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * static_cast<std::size_t>(c), fill) {}
  std::uint8_t* at(int x, int y) { return pixels.data() + (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * static_cast<std::size_t>(channels); }
  const std::uint8_t* at(int x, int y) const { return const_cast<Image*>(this)->at(x, y); }
};

namespace png_detail {

#if defined(LATENT_HAVE_PNG)
inline void append_bytes(png_structp png, png_bytep data, png_size_t size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + size);
}

// libpng reports errors with longjmp, which must not skip C++ destructors: this function holds no object with
// one (its caller owns the text chunks, row pointers and output), and returns false instead of throwing.
inline bool encode_rows(png_bytep* rows, int width, int height, int channels, png_textp chunks, int chunk_count, std::vector<std::uint8_t>* out) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, &append_bytes, nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (chunk_count > 0) png_set_text(png, info, chunks, chunk_count);
  png_set_rows(png, info, rows);
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

inline bool encode(const std::uint8_t* pixels, int width, int height, int channels, const Provenance& text, std::vector<std::uint8_t>& out) {
  std::vector<png_text> chunks(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
    chunks[i].key = const_cast<char*>(text[i].first.c_str());
    chunks[i].text = const_cast<char*>(text[i].second.c_str());
    chunks[i].text_length = text[i].second.size();
  }
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y)
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(pixels + static_cast<std::size_t>(y) * static_cast<std::size_t>(width) * static_cast<std::size_t>(channels));
  return encode_rows(rows.data(), width, height, channels, chunks.data(), static_cast<int>(chunks.size()), &out);
}
#endif

}  // namespace png_detail

/// The bytes of a PNG file holding 8-bit gray (channels = 1) or RGB (channels = 3) pixels, row-major, with
/// `text` as tEXt chunks. `name` is used in error messages.
inline std::vector<std::uint8_t> encode_png(const std::uint8_t* pixels, int width, int height, int channels, const Provenance& text = {},
                                            const std::string& name = "<memory>") {
  LATENT_CHECK(channels == 1 || channels == 3, IoError, name + ": PNG channels must be 1 or 3, got " + std::to_string(channels));
  LATENT_CHECK(width > 0 && height > 0, IoError, name + ": empty image " + std::to_string(width) + "x" + std::to_string(height));
  for (const auto& [key, value] : text)
    LATENT_CHECK(!key.empty() && key.size() <= 79, IoError,
                 name + ": PNG text key '" + key + "' must have 1 to 79 characters");
#if defined(LATENT_HAVE_PNG)
  std::vector<std::uint8_t> out;
  LATENT_CHECK(png_detail::encode(pixels, width, height, channels, text, out), IoError, name + ": libpng failed while encoding");
  return out;
#else
  (void)pixels;
  throw IoError(name + ": PNG output needs libpng (build with LATENT_HAVE_PNG, Debian package libpng-dev)");
#endif
}

/// Writes 8-bit gray (channels = 1) or RGB (channels = 3) pixels, row-major. Atomic: a temporary
/// file in the same folder is renamed over `path` only once complete.
inline void save_png(const std::filesystem::path& path, const std::uint8_t* pixels, int width, int height, int channels,
                     const Provenance& text = {}) {
  const auto bytes = encode_png(pixels, width, height, channels, text, path.string());
  write_file_atomically(path, std::as_bytes(std::span<const std::uint8_t>(bytes)), "save_png");
}

inline void save_png(const std::filesystem::path& path, const Image& image, const Provenance& text = {}) {
  LATENT_CHECK(image.pixels.size() == static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * static_cast<std::size_t>(image.channels),
               IoError, path.string() + ": image buffer does not match " + std::to_string(image.width) + "x" + std::to_string(image.height));
  save_png(path, image.pixels.data(), image.width, image.height, image.channels, text);
}

struct GridOptions {
  int nrow = 8;            // images per row (torchvision's make_grid name)
  int padding = 2;         // pixels between images and around the grid, before upscaling
  int scale = 1;           // integer upscaling of the whole grid (each pixel becomes scale x scale)
  float low = 0.0f;        // value mapped to black
  float high = 1.0f;       // value mapped to white
  float pad_value = 0.0f;  // value of the padding, in the same units as the images

  void validate(const std::string& name) const {
    LATENT_CHECK(nrow > 0, IoError, name + ": GridOptions.nrow must be > 0, got " + std::to_string(nrow));
    LATENT_CHECK(padding >= 0, IoError, name + ": GridOptions.padding must be >= 0, got " + std::to_string(padding));
    LATENT_CHECK(scale > 0 && scale <= 64, IoError, name + ": GridOptions.scale must be in [1, 64], got " + std::to_string(scale));
    LATENT_CHECK(high > low, IoError, name + ": GridOptions needs high > low, got low " + std::to_string(low) + ", high " + std::to_string(high));
  }
};

/// A grid of images [N, C, H, W] (C = 1 gray or 3 RGB), values mapped linearly from [low, high] to 0..255
/// (clipped; NaN becomes black), laid out as torchvision.utils.make_grid does and then upscaled.
inline Image image_grid(const Tensor<float>& images, const GridOptions& o = {}, const std::string& name = "image_grid") {
  LATENT_CHECK(images.rank() == 4 && (images.size(1) == 1 || images.size(1) == 3) && images.size(0) > 0 && images.size(2) > 0 && images.size(3) > 0,
               IoError, name + ": image grid needs [N > 0, 1 or 3, H, W], got " + images.shape().str());
  o.validate(name);
  const index_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const index_t cols = std::min<index_t>(o.nrow, n), rows = (n + cols - 1) / cols;
  const index_t W = (cols * (w + o.padding) + o.padding) * o.scale, H = (rows * (h + o.padding) + o.padding) * o.scale;
  LATENT_CHECK(W <= 1 << 15 && H <= 1 << 15, IoError,
               name + ": a grid of " + std::to_string(W) + "x" + std::to_string(H) + " pixels is too large (32768 at most)");
  auto to_byte = [&](float v) {
    const float t = std::clamp((v - o.low) / (o.high - o.low), 0.0f, 1.0f);
    return static_cast<std::uint8_t>(std::isnan(t) ? 0 : std::lround(t * 255));
  };
  Image img(static_cast<int>(W), static_cast<int>(H), static_cast<int>(c), to_byte(o.pad_value));
  const float* d = images.data();
  for (index_t i = 0; i < n; ++i) {
    const index_t x0 = (o.padding + (i % cols) * (w + o.padding)) * o.scale, y0 = (o.padding + (i / cols) * (h + o.padding)) * o.scale;
    for (index_t y = 0; y < h * o.scale; ++y)
      for (index_t x = 0; x < w * o.scale; ++x)
        for (index_t ch = 0; ch < c; ++ch)
          img.at(static_cast<int>(x0 + x), static_cast<int>(y0 + y))[ch] = to_byte(d[((i * c + ch) * h + y / o.scale) * w + x / o.scale]);
  }
  return img;
}

/// Writes image_grid(images, o) as a PNG (atomically, with `text` as provenance chunks).
inline void save_image_grid(const std::filesystem::path& path, const Tensor<float>& images, const GridOptions& o = {}, const Provenance& text = {}) {
  save_png(path, image_grid(images, o, path.string()), text);
}

struct ScatterOptions {
  int size = 512;                        // square image, pixels
  float x_min = 0, x_max = 0;            // plot range; equal values mean: fit all points with a margin
  float y_min = 0, y_max = 0;
  std::array<std::uint8_t, 3> color{31, 119, 180};      // points
  std::array<std::uint8_t, 3> reference_color{200, 200, 200};  // reference points drawn underneath
};

/// Renders 2-D points [N, 2] as a density-shaded scatter plot on white, optionally over reference
/// points (e.g. the training data) in grey.
inline void save_scatter(const std::filesystem::path& path, const Tensor<float>& points, const ScatterOptions& o = {},
                         const Provenance& text = {}, const Tensor<float>& reference = Tensor<float>()) {
  LATENT_CHECK(points.rank() == 2 && points.size(1) == 2, IoError, path.string() + ": scatter needs points [N, 2], got " + points.shape().str());
  LATENT_CHECK(o.size >= 16 && o.size <= 8192, IoError, path.string() + ": scatter size " + std::to_string(o.size) + " is outside [16, 8192]");
  LATENT_CHECK(!reference.defined() || (reference.rank() == 2 && reference.size(1) == 2), IoError,
               path.string() + ": scatter reference points must be [M, 2], got " + reference.shape().str());
  float x0 = o.x_min, x1 = o.x_max, y0 = o.y_min, y1 = o.y_max;
  if (!(x1 > x0) || !(y1 > y0)) {
    x0 = y0 = 1e30f;
    x1 = y1 = -1e30f;
    for (const Tensor<float>* t : {&points, &reference}) {
      if (!t->defined()) continue;
      for (index_t i = 0; i < t->size(0); ++i) {
        const float x = t->data()[2 * i], y = t->data()[2 * i + 1];
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
    }
    if (!(x1 > x0)) x0 -= 1, x1 += 1;
    if (!(y1 > y0)) y0 -= 1, y1 += 1;
    const float mx = 0.05f * (x1 - x0), my = 0.05f * (y1 - y0);
    x0 -= mx, x1 += mx, y0 -= my, y1 += my;
  }
  const int S = o.size;
  std::vector<float> density(static_cast<std::size_t>(S) * S, 0), ref(static_cast<std::size_t>(S) * S, 0);
  auto splat = [&](const Tensor<float>& t, std::vector<float>& grid) {
    for (index_t i = 0; i < t.size(0); ++i) {
      const float x = t.data()[2 * i], y = t.data()[2 * i + 1];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const int px = static_cast<int>((x - x0) / (x1 - x0) * static_cast<float>(S - 1));
      const int py = static_cast<int>((y1 - y) / (y1 - y0) * static_cast<float>(S - 1));
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int qx = px + dx, qy = py + dy;
          if (qx >= 0 && qx < S && qy >= 0 && qy < S) grid[static_cast<std::size_t>(qy) * S + qx] += 1;
        }
    }
  };
  if (reference.defined()) splat(reference, ref);
  splat(points, density);
  float peak = 0;
  for (float v : density) peak = std::max(peak, v);
  std::vector<std::uint8_t> px(static_cast<std::size_t>(S) * S * 3, 255);
  for (std::size_t i = 0; i < density.size(); ++i) {
    std::array<float, 3> c{255, 255, 255};
    if (ref[i] > 0)
      for (int k = 0; k < 3; ++k) c[static_cast<std::size_t>(k)] = o.reference_color[static_cast<std::size_t>(k)];
    if (density[i] > 0) {
      // Log-scaled density: sparse points stay visible next to dense modes.
      const float a = 0.35f + 0.65f * std::log1p(density[i]) / std::log1p(peak);
      for (int k = 0; k < 3; ++k)
        c[static_cast<std::size_t>(k)] = (1 - a) * c[static_cast<std::size_t>(k)] + a * o.color[static_cast<std::size_t>(k)];
    }
    for (int k = 0; k < 3; ++k) px[i * 3 + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(std::lround(c[static_cast<std::size_t>(k)]));
  }
  save_png(path, px.data(), S, S, 3, text);
}

// ---------------------------------------------------------------------------------------------------------------------
// Text and line plots. The font is a 3x5 bitmap designed for this file: digits, A-Z and a few symbols; lowercase
// letters are drawn as capitals, anything else as '?'. Each font pixel becomes a scale x scale block.

using Color = std::array<std::uint8_t, 3>;

namespace png_detail {

struct Glyph {
  char c;
  const char* rows;  // 5 rows of 3 pixels, top to bottom, '1' = ink
};
inline constexpr Glyph font3x5[] = {
    {'0', "111101101101111"}, {'1', "010110010010111"}, {'2', "111001111100111"}, {'3', "111001111001111"},
    {'4', "101101111001001"}, {'5', "111100111001111"}, {'6', "111100111101111"}, {'7', "111001001001001"},
    {'8', "111101111101111"}, {'9', "111101111001111"}, {'A', "010101111101101"}, {'B', "110101110101110"},
    {'C', "011100100100011"}, {'D', "110101101101110"}, {'E', "111100110100111"}, {'F', "111100110100100"},
    {'G', "011100101101011"}, {'H', "101101111101101"}, {'I', "111010010010111"}, {'J', "001001001101010"},
    {'K', "101101110101101"}, {'L', "100100100100111"}, {'M', "101111111101101"}, {'N', "110101101101101"},
    {'O', "010101101101010"}, {'P', "110101110100100"}, {'Q', "010101101110011"}, {'R', "110101110101101"},
    {'S', "011100010001110"}, {'T', "111010010010010"}, {'U', "101101101101111"}, {'V', "101101101101010"},
    {'W', "101101111111101"}, {'X', "101101010101101"}, {'Y', "101101010010010"}, {'Z', "111001010100111"},
    {'.', "000000000000010"}, {'-', "000000111000000"}, {'+', "000010111010000"}, {':', "000010000010000"},
    {'_', "000000000000111"}, {'/', "001001010100100"}, {'(', "001010010010001"}, {')', "100010010010100"},
    {',', "000000000010100"}, {'=', "000111000111000"}, {'%', "101001010100101"}, {' ', "000000000000000"},
    {'?', "111001010000010"}, {'<', "001010100010001"}, {'>', "100010001010100"}, {'[', "011010010010011"},
    {']', "110010010010110"}, {'*', "000101010101000"}, {'\'', "010010000000000"}, {'!', "010010010000010"},
};

inline const char* glyph(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const auto& g : font3x5)
    if (g.c == c) return g.rows;
  return glyph('?');
}

inline void fill_rect(Image& img, int x0, int y0, int w, int h, const Color& color, int clip_x0, int clip_y0, int clip_x1, int clip_y1) {
  const int xa = std::max(x0, clip_x0), ya = std::max(y0, clip_y0);
  const int xb = std::min(x0 + w, clip_x1), yb = std::min(y0 + h, clip_y1);
  for (int y = ya; y < yb; ++y)
    for (int x = xa; x < xb; ++x) {
      std::uint8_t* p = img.at(x, y);
      if (img.channels == 1) p[0] = static_cast<std::uint8_t>((299 * color[0] + 587 * color[1] + 114 * color[2]) / 1000);  // luma
      else p[0] = color[0], p[1] = color[1], p[2] = color[2];
    }
}
inline void fill_rect(Image& img, int x0, int y0, int w, int h, const Color& color) {
  fill_rect(img, x0, y0, w, h, color, 0, 0, img.width, img.height);
}

/// "%.3g" without the exponent's plus sign and leading zeros: 0.001, 2.5e-5, 1e3.
inline std::string tick_label(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", v);
  std::string s = buffer;
  const auto e = s.find('e');
  if (e == std::string::npos) return s == "-0" ? "0" : s;
  std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
  const bool negative = exponent[0] == '-';
  exponent = exponent.substr(exponent[0] == '-' || exponent[0] == '+' ? 1 : 0);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return mantissa + "e" + (negative ? "-" : "") + exponent;
}

/// About `target` round ticks (1, 2 or 5 times a power of ten) covering [lo, hi].
inline std::vector<double> nice_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  const double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step && ticks.size() < 50; t += step)
    ticks.push_back(std::abs(t) < 1e-9 * step ? 0.0 : t);
  return ticks;
}

}  // namespace png_detail

/// Width in pixels of `text` drawn with draw_text at `scale`.
inline int text_width(std::string_view text, int scale = 2) {
  return text.empty() ? 0 : (4 * static_cast<int>(text.size()) - 1) * scale;
}

/// Draws `text` with the built-in 3x5 font, top-left corner at (x, y); 5 * scale pixels high, 4 * scale per
/// character. Pixels outside the image are skipped. On a gray image the colour's luma is drawn.
inline void draw_text(Image& img, int x, int y, std::string_view text, const Color& color = {0, 0, 0}, int scale = 2) {
  for (char c : text) {
    const char* rows = png_detail::glyph(c);
    for (int r = 0; r < 5; ++r)
      for (int k = 0; k < 3; ++k)
        if (rows[r * 3 + k] == '1') png_detail::fill_rect(img, x + k * scale, y + r * scale, scale, scale, color);
    x += 4 * scale;
  }
}

/// One curve of a line plot: y against x (or against 0, 1, 2, ... when x is empty). Non-finite points (and,
/// with a log y axis, points <= 0) are skipped and break the line.
struct LineSeries {
  std::string name = "";       // legend entry; empty: not listed
  std::vector<double> y = {};
  std::vector<double> x = {};
};

struct LinePlotOptions {
  int width = 640, height = 400;  // pixels
  bool log_y = false;             // logarithmic y axis (loss curves spanning decades)
  std::string title = "";         // drawn above the plot
  std::string x_label = "step";   // drawn under the x axis
  std::string y_label = "";       // drawn above the y axis
  int line_width = 2;             // pixels
  int font_scale = 2;             // each pixel of the 3x5 font becomes font_scale x font_scale pixels

  void validate(const std::string& name) const {
    LATENT_CHECK(width >= 64 && width <= 8192 && height >= 64 && height <= 8192, IoError,
                 name + ": LinePlotOptions size must be in [64, 8192], got " + std::to_string(width) + "x" + std::to_string(height));
    LATENT_CHECK(line_width >= 1 && line_width <= 16, IoError, name + ": LinePlotOptions.line_width must be in [1, 16], got " + std::to_string(line_width));
    LATENT_CHECK(font_scale >= 1 && font_scale <= 8, IoError, name + ": LinePlotOptions.font_scale must be in [1, 8], got " + std::to_string(font_scale));
  }
};

/// The colours of successive series (matplotlib's tab10).
inline Color series_color(std::size_t i) {
  static constexpr Color palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                      {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return palette[i % 10];
}

/// Renders curves (loss against step, ...) on white: a framed plot area with grid lines, tick labels on both axes
/// (decades on a log axis), optional title and axis labels, and a legend of the named series (top right).
inline Image render_line_plot(const std::vector<LineSeries>& series, const LinePlotOptions& o = {}, const std::string& name = "line_plot") {
  using namespace png_detail;
  o.validate(name);
  LATENT_CHECK(!series.empty(), IoError, name + ": nothing to plot (no series)");
  for (std::size_t i = 0; i < series.size(); ++i)
    LATENT_CHECK(series[i].x.empty() || series[i].x.size() == series[i].y.size(), IoError,
                 name + ": series " + std::to_string(i) + " ('" + series[i].name + "') has " + std::to_string(series[i].x.size()) +
                     " x values for " + std::to_string(series[i].y.size()) + " y values");
  auto x_of = [](const LineSeries& s, std::size_t j) { return s.x.empty() ? static_cast<double>(j) : s.x[j]; };
  auto usable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!o.log_y || y > 0); };
  auto fy = [&](double y) { return o.log_y ? std::log10(y) : y; };

  // Data range; y in plotted units (log10 on a log axis), padded 5% so curves do not touch the frame.
  double x0 = HUGE_VAL, x1 = -HUGE_VAL, y0 = HUGE_VAL, y1 = -HUGE_VAL;
  for (const auto& s : series)
    for (std::size_t j = 0; j < s.y.size(); ++j)
      if (usable(x_of(s, j), s.y[j])) {
        x0 = std::min(x0, x_of(s, j)), x1 = std::max(x1, x_of(s, j));
        y0 = std::min(y0, fy(s.y[j])), y1 = std::max(y1, fy(s.y[j]));
      }
  LATENT_CHECK(x0 <= x1, IoError, name + ": nothing to plot (no finite points" + std::string(o.log_y ? " with y > 0 for the log axis)" : ")"));
  if (!(x1 > x0)) x0 -= 0.5, x1 += 0.5;
  if (!(y1 > y0)) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;

  // Ticks: round values on a linear axis; decades on a log axis spanning two or more, else round values.
  std::vector<double> y_ticks;  // in data units
  if (o.log_y && std::floor(y1) - std::ceil(y0) >= 1) {
    const int first = static_cast<int>(std::ceil(y0)), last = static_cast<int>(std::floor(y1));
    const int stride = (last - first) / 8 + 1;
    for (int k = first; k <= last; k += stride) y_ticks.push_back(std::pow(10.0, k));
  } else if (o.log_y) {
    for (double t : nice_ticks(std::pow(10.0, y0), std::pow(10.0, y1), 4))
      if (t > 0) y_ticks.push_back(t);
  } else {
    y_ticks = nice_ticks(y0, y1, 5);
  }
  const std::vector<double> x_ticks = nice_ticks(x0, x1, 6);

  const int fs = o.font_scale, text_h = 5 * fs, gap = 2 * fs;
  int label_w = 0;
  for (double t : y_ticks) label_w = std::max(label_w, text_width(tick_label(t), fs));
  const int left = gap + label_w + gap + 4;
  const int top = gap + (o.title.empty() && o.y_label.empty() ? 0 : text_h + gap) + text_h / 2;
  const int bottom = 4 + gap + text_h + (o.x_label.empty() ? 0 : gap + text_h) + gap;
  const int right = gap + text_width(tick_label(x_ticks.empty() ? x1 : x_ticks.back()), fs) / 2;
  const int pw = o.width - left - right, ph = o.height - top - bottom;
  LATENT_CHECK(pw >= 16 && ph >= 16, IoError,
               name + ": a " + std::to_string(o.width) + "x" + std::to_string(o.height) + " plot leaves no room inside its labels");
  auto px = [&](double x) { return left + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (pw - 1))); };
  auto py = [&](double y) { return top + static_cast<int>(std::lround((1 - (fy(y) - y0) / (y1 - y0)) * (ph - 1))); };

  const Color ink{40, 40, 40}, grid{225, 225, 225};
  Image img(o.width, o.height, 3, 255);
  for (double t : y_ticks) {
    const int y = py(t);
    if (y < top || y >= top + ph) continue;
    fill_rect(img, left, y, pw, 1, grid);
    fill_rect(img, left - 4, y, 4, 1, ink);
    const std::string label = tick_label(t);
    draw_text(img, left - 4 - gap - text_width(label, fs), y - text_h / 2, label, ink, fs);
  }
  for (double t : x_ticks) {
    const int x = px(t);
    fill_rect(img, x, top, 1, ph, grid);
    fill_rect(img, x, top + ph, 1, 4, ink);
    const std::string label = tick_label(t);
    const int w = text_width(label, fs);
    draw_text(img, std::clamp(x - w / 2, 0, o.width - w), top + ph + 4 + gap, label, ink, fs);
  }
  // Frame.
  fill_rect(img, left - 1, top - 1, pw + 2, 1, ink);
  fill_rect(img, left - 1, top + ph, pw + 2, 1, ink);
  fill_rect(img, left - 1, top - 1, 1, ph + 2, ink);
  fill_rect(img, left + pw, top - 1, 1, ph + 2, ink);
  if (!o.y_label.empty()) draw_text(img, gap, gap, o.y_label, ink, fs);
  if (!o.title.empty()) draw_text(img, left + (pw - text_width(o.title, fs)) / 2, gap, o.title, ink, fs);
  if (!o.x_label.empty()) draw_text(img, left + (pw - text_width(o.x_label, fs)) / 2, o.height - gap - text_h, o.x_label, ink, fs);

  // Curves: Bresenham segments between consecutive usable points, drawn with a square pen, clipped to the frame.
  const int lw = o.line_width, half = (lw - 1) / 2;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Color color = series_color(i);
    auto dot = [&](int x, int y) { fill_rect(img, x - half, y - half, lw, lw, color, left, top, left + pw, top + ph); };
    bool have_previous = false;
    int xa = 0, ya = 0;
    for (std::size_t j = 0; j < series[i].y.size(); ++j) {
      const double xv = x_of(series[i], j), yv = series[i].y[j];
      if (!usable(xv, yv)) {
        have_previous = false;
        continue;
      }
      const int xb = px(xv), yb = py(yv);
      if (!have_previous) {
        dot(xb, yb);
      } else {
        const int dx = std::abs(xb - xa), dy = -std::abs(yb - ya), sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1;
        int err = dx + dy, x = xa, y = ya;
        while (true) {
          dot(x, y);
          if (x == xb && y == yb) break;
          const int e2 = 2 * err;
          if (e2 >= dy) err += dy, x += sx;
          if (e2 <= dx) err += dx, y += sy;
        }
      }
      have_previous = true, xa = xb, ya = yb;
    }
  }

  // Legend: one row per named series, in the top-right corner of the plot area.
  int legend_w = 0, rows = 0;
  for (const auto& s : series)
    if (!s.name.empty()) legend_w = std::max(legend_w, text_width(s.name, fs)), ++rows;
  if (rows > 0) {
    const int swatch = 6 * fs, row_h = text_h + gap, box_w = gap + swatch + gap + legend_w + gap, box_h = rows * row_h + gap;
    const int bx = left + pw - box_w - gap, by = top + gap;
    fill_rect(img, bx, by, box_w, box_h, {255, 255, 255}, left, top, left + pw, top + ph);
    int row = 0;
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (series[i].name.empty()) continue;
      const int ry = by + gap + row++ * row_h;
      fill_rect(img, bx + gap, ry + text_h / 2 - half, swatch, lw, series_color(i), left, top, left + pw, top + ph);
      draw_text(img, bx + gap + swatch + gap, ry, series[i].name, ink, fs);
    }
  }
  return img;
}

/// Writes render_line_plot(series, o) as a PNG (atomically, with `text` as provenance chunks).
inline void save_line_plot(const std::filesystem::path& path, const std::vector<LineSeries>& series, const LinePlotOptions& o = {},
                           const Provenance& text = {}) {
  save_png(path, render_line_plot(series, o, path.string()), text);
}

}  // namespace latent::io

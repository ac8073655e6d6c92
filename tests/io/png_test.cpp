// PNG output decoded back with libpng: dimensions, colour type, pixels of grids (gray/RGB, padding, upscaling),
// provenance text chunks, atomic replacement, and the line plot's geometry (linear and log axes, legend, labels).
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/io/png.hpp>

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "io_test_util.hpp"

using namespace latent;

namespace {

struct Decoded {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
  std::map<std::string, std::string> text;
  std::uint8_t at(int x, int y, int c = 0) const {
    return pixels[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * static_cast<std::size_t>(channels) +
                  static_cast<std::size_t>(c)];
  }
};

// The oracle: libpng's own reader (8-bit gray or RGB only, as we write).
// libpng reports errors with longjmp, which must not skip C++ destructors: this function holds no object with one.
bool read_png(std::FILE* f, png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, f);
  png_read_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  return true;
}

Decoded decode(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.string().c_str(), "rb");
  REQUIRE(f != nullptr);
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  const bool ok = png && info && read_png(f, png, info);
  std::fclose(f);
  Decoded d;
  int depth = 0, type = -1;
  if (ok) {
    d.width = static_cast<int>(png_get_image_width(png, info));
    d.height = static_cast<int>(png_get_image_height(png, info));
    depth = png_get_bit_depth(png, info);
    type = png_get_color_type(png, info);
    d.channels = type == PNG_COLOR_TYPE_GRAY ? 1 : 3;
    const auto row_bytes = static_cast<std::size_t>(d.width) * static_cast<std::size_t>(d.channels);
    png_bytepp rows = png_get_rows(png, info);
    d.pixels.resize(row_bytes * static_cast<std::size_t>(d.height));
    for (int y = 0; y < d.height; ++y)
      std::copy(rows[y], rows[y] + row_bytes, d.pixels.data() + static_cast<std::size_t>(y) * row_bytes);
    png_textp text = nullptr;
    const int n = png_get_text(png, info, &text, nullptr);
    for (int i = 0; i < n; ++i) d.text[text[i].key] = std::string(text[i].text, text[i].text_length);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) FAIL("libpng could not decode " << path);
  REQUIRE(depth == 8);
  REQUIRE((type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_RGB));
  return d;
}

int count_color(const io::Image& img, const io::Color& c) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      if (std::equal(c.begin(), c.end(), img.at(x, y))) ++n;
  return n;
}

}  // namespace

TEST_CASE("save_image_grid writes a gray grid with padding and upscaling and provenance chunks", "[io][png]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "grid.png";
  // Three 2x2 gray images with values 0, 1/3, 2/3, 1 (image i adds nothing: the same ramp), 2 per row.
  std::vector<float> v;
  for (int i = 0; i < 3; ++i) v.insert(v.end(), {0.0f, 1.0f / 3, 2.0f / 3, 1.0f});
  const char* argv[] = {"demo", "--seed", "7"};
  const auto text = io::provenance("test model", 7, 1234, 3, const_cast<char**>(argv));
  io::save_image_grid(path, from_vector<float>(v, {3, 1, 2, 2}), {.nrow = 2, .padding = 1, .scale = 3, .pad_value = 0.5f}, text);

  const Decoded d = decode(path);
  // make_grid layout: width = (2 * (2 + 1) + 1) * 3 = 21, height = (2 rows * 3 + 1) * 3 = 21.
  REQUIRE(d.channels == 1);
  REQUIRE(d.width == 21);
  REQUIRE(d.height == 21);
  CHECK(d.at(0, 0) == 128);                   // padding at 0.5 -> round(127.5) = 128
  CHECK(d.at(3, 3) == 0);                     // image 0, pixel (0,0), upscaled block starts at 3
  CHECK(d.at(5, 5) == 0);                     // still inside that 3x3 block
  CHECK(d.at(6, 3) == 85);                    // pixel (1,0) = 1/3 -> 85
  CHECK(d.at(3, 6) == 170);                   // pixel (0,1) = 2/3 -> 170
  CHECK(d.at(8, 8) == 255);                   // pixel (1,1) = 1
  CHECK(d.at(9, 3) == 128);                   // padding between images 0 and 1
  CHECK(d.at(12, 3) == 0);                    // image 1 starts at (1 + 3) * 3 = 12
  CHECK(d.at(3, 12) == 0);                    // image 2, second row
  CHECK(d.at(12, 12) == 128);                 // the empty fourth cell keeps the padding value
  CHECK(d.text.at("Software") == std::string("latent ") + LATENT_VERSION_STRING);
  CHECK(d.text.at("Model") == "test model");
  CHECK(d.text.at("Seed") == "7");
  CHECK(d.text.at("Step") == "1234");
  CHECK(d.text.at("Command") == "demo --seed 7");
  std::filesystem::remove_all(dir);
}

TEST_CASE("save_image_grid writes RGB, clips out-of-range values and replaces the file atomically", "[io][png]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "rgb.png";
  std::ofstream(path) << "previous contents";
  // One 1x2 RGB image: pixel 0 = (1, 0, -1) with values in [-1, 1]; pixel 1 = (2, NaN, 0).
  const auto image = from_vector<float>({1, 2, 0, std::nanf(""), -1, 0}, {1, 3, 1, 2});
  io::save_image_grid(path, image, {.padding = 0, .low = -1, .high = 1});
  const Decoded d = decode(path);
  REQUIRE(d.channels == 3);
  REQUIRE(d.width == 2);
  REQUIRE(d.height == 1);
  CHECK(std::vector<int>{d.at(0, 0, 0), d.at(0, 0, 1), d.at(0, 0, 2)} == std::vector<int>{255, 128, 0});
  CHECK(std::vector<int>{d.at(1, 0, 0), d.at(1, 0, 1), d.at(1, 0, 2)} == std::vector<int>{255, 0, 128});  // 2 clipped, NaN black
  // Only the target remains in the folder: no temporary file left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("save_image_grid rejects bad shapes and options with the file name", "[io][png]") {
  REQUIRE_THROWS_WITH(io::save_image_grid("g.png", zeros<float>({2, 2, 4, 4})),
                      "[latent.io] g.png: image grid needs [N > 0, 1 or 3, H, W], got [2,2,4,4]");
  REQUIRE_THROWS_WITH(io::save_image_grid("g.png", zeros<float>({1, 1, 4, 4}), {.scale = 0}),
                      "[latent.io] g.png: GridOptions.scale must be in [1, 64], got 0");
  REQUIRE_THROWS_WITH(io::save_image_grid("g.png", zeros<float>({1, 1, 4, 4}), {.low = 1, .high = 1}),
                      "[latent.io] g.png: GridOptions needs high > low, got low 1.000000, high 1.000000");
  REQUIRE_THROWS_WITH(io::save_png("g.png", io::Image(4, 4, 2)), "[latent.io] g.png: PNG channels must be 1 or 3, got 2");
}

TEST_CASE("draw_text renders the 3x5 font at the requested scale", "[io][png]") {
  io::Image img(12, 10, 1, 255);
  io::draw_text(img, 0, 0, "1-", {0, 0, 0}, 2);
  // '1' = 010/110/010/010/111: at scale 2, font pixel (1, 0) covers image pixels x 2..3, y 0..1.
  CHECK(img.at(2, 0)[0] == 0);
  CHECK(img.at(3, 1)[0] == 0);
  CHECK(img.at(0, 0)[0] == 255);
  CHECK(img.at(0, 2)[0] == 0);    // row 1 = 110
  CHECK(img.at(4, 2)[0] == 255);
  CHECK(img.at(0, 8)[0] == 0);    // row 4 = 111
  CHECK(img.at(5, 9)[0] == 0);
  // '-' starts at x = 8 (4 font pixels per character): only its middle row (y 4..5) is inked.
  CHECK(img.at(8, 4)[0] == 0);
  CHECK(img.at(11, 5)[0] == 0);
  CHECK(img.at(8, 2)[0] == 255);
  CHECK(img.at(8, 6)[0] == 255);
  CHECK(io::text_width("1-", 2) == 14);
}

TEST_CASE("line plot draws higher values higher, one colour per series, with a legend", "[io][png]") {
  io::LineSeries low{.name = "val", .y = std::vector<double>(50, 1.0)};
  io::LineSeries high{.name = "train", .y = std::vector<double>(50, 3.0)};
  const io::Image img = io::render_line_plot({low, high}, {.width = 400, .height = 300, .line_width = 1});
  REQUIRE(img.width == 400);
  REQUIRE(img.height == 300);
  // Rows where each series' colour appears (the legend swatches lie in the top-right corner: x > 250).
  auto rows_of = [&](const io::Color& c) {
    std::vector<int> rows;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < 250; ++x)
        if (std::equal(c.begin(), c.end(), img.at(x, y))) {
          rows.push_back(y);
          break;
        }
    return rows;
  };
  const auto rows_low = rows_of(io::series_color(0)), rows_high = rows_of(io::series_color(1));
  REQUIRE(rows_low.size() == 1);   // a constant series is one horizontal line
  REQUIRE(rows_high.size() == 1);
  CHECK(rows_high[0] < rows_low[0]);  // y grows upwards
  // Both constants lie 5% inside the frame (the padding of the y range), the frame being ink-coloured.
  CHECK(count_color(img, io::series_color(0)) > 100);
  CHECK(count_color(img, io::series_color(2)) == 0);
}

TEST_CASE("line plot with a log y axis draws an exponential decay as a straight line", "[io][png]") {
  // y = 10^(-4 t / 99): on a log axis a straight line from (0, 1) to (99, 1e-4); on a linear axis a sharp elbow.
  io::LineSeries decay{.name = "loss"};
  for (int t = 0; t < 100; ++t) decay.y.push_back(std::pow(10.0, -4.0 * t / 99));
  decay.y[50] = -1;  // skipped on a log axis (and breaks the line)
  for (bool log_y : {true, false}) {
    const io::Image img = io::render_line_plot({decay}, {.width = 500, .height = 400, .log_y = log_y, .line_width = 1});
    // Collect the curve's pixels and fit a line through the first and last columns.
    // The legend's swatch (same colour) sits in the top 40 rows, which the curve crosses only near its start.
    const io::Color blue = io::series_color(0);
    std::vector<std::pair<int, int>> pts;
    for (int x = 0; x < img.width; ++x)
      for (int y = 0; y < img.height; ++y)
        if (std::equal(blue.begin(), blue.end(), img.at(x, y)) && y > 40) pts.emplace_back(x, y);
    REQUIRE(pts.size() > 50);
    const auto [xa, ya] = pts.front();
    const auto [xb, yb] = pts.back();
    double worst = 0;
    for (const auto& [x, y] : pts) worst = std::max(worst, std::abs(y - (ya + (yb - ya) * double(x - xa) / (xb - xa))));
    if (log_y) CHECK(worst <= 2.0);  // Bresenham rounding: within a pixel or two of the chord
    else CHECK(worst > 50.0);        // the same data on a linear axis is far from straight
  }
}

TEST_CASE("line plot labels its axes with tick values", "[io][png]") {
  // Over [0, 100] the ticks are multiples of 20 on both axes; the labels must appear pixel for pixel as draw_text
  // renders them (ink 40,40,40 on white), and no label outside the range may.
  io::LineSeries s{.y = {0, 100}, .x = {0, 100}};
  const io::Image plot = io::render_line_plot({s}, {.width = 300, .height = 200, .y_label = "loss", .font_scale = 1});
  auto contains_text = [&](const std::string& text) {
    io::Image t(io::text_width(text, 1), 5, 3, 255);
    io::draw_text(t, 0, 0, text, {40, 40, 40}, 1);
    for (int y0 = 0; y0 + t.height <= plot.height; ++y0)
      for (int x0 = 0; x0 + t.width <= plot.width; ++x0) {
        bool match = true;
        for (int y = 0; match && y < t.height; ++y)
          for (int x = 0; match && x < t.width; ++x) match = std::equal(t.at(x, y), t.at(x, y) + 3, plot.at(x0 + x, y0 + y));
        if (match) return true;
      }
    return false;
  };
  CHECK(contains_text("100"));
  CHECK(contains_text("80"));
  CHECK(contains_text("step"));
  CHECK(contains_text("loss"));
  CHECK_FALSE(contains_text("120"));
  CHECK(io::png_detail::tick_label(0.001) == "0.001");
  CHECK(io::png_detail::tick_label(2.5e-5) == "2.5e-5");
  CHECK(io::png_detail::tick_label(1000000) == "1e6");
  CHECK(io::png_detail::nice_ticks(0, 100, 5) == std::vector<double>{0, 20, 40, 60, 80, 100});
  const auto ticks = io::png_detail::nice_ticks(0.13, 0.61, 5);
  REQUIRE(ticks.size() == 5);
  for (std::size_t i = 0; i < ticks.size(); ++i) CHECK(ticks[i] == Approx(0.2 + 0.1 * static_cast<double>(i)).epsilon(1e-12));
}

TEST_CASE("save_line_plot writes a PNG with provenance and rejects empty or mismatched series", "[io][png]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "loss.png";
  io::save_line_plot(path, {{.name = "loss", .y = {3, 2, 1.5, 1.2}}}, {.width = 320, .height = 240, .title = "training"},
                     io::provenance("mlp", 1, 4));
  const Decoded d = decode(path);
  CHECK(d.width == 320);
  CHECK(d.height == 240);
  CHECK(d.channels == 3);
  CHECK(d.text.at("Model") == "mlp");
  REQUIRE_THROWS_WITH(io::render_line_plot({{.name = "a", .y = {1, 2}, .x = {1}}}),
                      "[latent.io] line_plot: series 0 ('a') has 1 x values for 2 y values");
  REQUIRE_THROWS_WITH(io::render_line_plot({{.y = {-1, 0}}}, {.log_y = true}),
                      "[latent.io] line_plot: nothing to plot (no finite points with y > 0 for the log axis)");
  REQUIRE_THROWS_WITH(io::render_line_plot({}), "[latent.io] line_plot: nothing to plot (no series)");
  std::filesystem::remove_all(dir);
}

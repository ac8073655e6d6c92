// PNG output through libpng: raw images, image grids and 2-D scatter/density plots, every file with
// provenance tEXt chunks (library version, model, seed, step, command line). Written atomically.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"
#include "../version.hpp"

#if defined(LATENT_HAVE_PNG)
#include <png.h>
#endif

namespace latent::io {

/// Key/value pairs written as PNG tEXt chunks.
using Provenance = std::vector<std::pair<std::string, std::string>>;

/// The provenance every picture carries: software, model, seed, step and the command line.
inline Provenance provenance(const std::string& model, std::uint64_t seed, std::int64_t step, int argc = 0, char** argv = nullptr) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  Provenance p{{"Software", std::string("latent ") + LATENT_VERSION_STRING},
               {"Model", model},
               {"Seed", std::to_string(seed)},
               {"Step", std::to_string(step)}};
  if (!command.empty()) p.emplace_back("Command", command);
  return p;
}

/// Writes 8-bit gray (channels = 1) or RGB (channels = 3) pixels, row-major. Atomic: a temporary
/// file in the same folder is renamed over `path` only once complete.
inline void save_png(const std::string& path, const std::uint8_t* pixels, int width, int height, int channels,
                     const Provenance& text = {}) {
  LATENT_CHECK(channels == 1 || channels == 3, IoError, path + ": PNG channels must be 1 or 3, got " + std::to_string(channels));
  LATENT_CHECK(width > 0 && height > 0, IoError, path + ": empty image " + std::to_string(width) + "x" + std::to_string(height));
#if defined(LATENT_HAVE_PNG)
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  LATENT_CHECK(f != nullptr, IoError, path + ": cannot open for writing");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    std::remove(tmp.c_str());
    throw IoError(path + ": libpng failed while writing");
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_text> chunks(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
    chunks[i].key = const_cast<char*>(text[i].first.c_str());
    chunks[i].text = const_cast<char*>(text[i].second.c_str());
    chunks[i].text_length = text[i].second.size();
  }
  if (!chunks.empty()) png_set_text(png, info, chunks.data(), static_cast<int>(chunks.size()));
  png_write_info(png, info);
  for (int y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(pixels + static_cast<std::size_t>(y) * static_cast<std::size_t>(width * channels)));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  const bool ok = std::fflush(f) == 0;
  std::fclose(f);
  LATENT_CHECK(ok, IoError, path + ": write failed");
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  LATENT_CHECK(!ec, IoError, path + ": cannot rename the temporary file into place: " + ec.message());
#else
  (void)pixels, (void)text;
  throw IoError(path + ": PNG output needs libpng (build with LATENT_HAVE_PNG, Debian package libpng-dev)");
#endif
}

struct GridOptions {
  int nrow = 8;        // images per row
  int padding = 2;     // pixels between images
  int scale = 1;       // integer upscaling of each pixel
  float low = 0.0f;    // value mapped to black
  float high = 1.0f;   // value mapped to white
};

/// A grid of images [N, C, H, W] (C = 1 or 3), values mapped linearly from [low, high] to 0..255.
inline void save_image_grid(const std::string& path, const Tensor<float>& images, const GridOptions& o = {}, const Provenance& text = {}) {
  LATENT_CHECK(images.rank() == 4 && (images.size(1) == 1 || images.size(1) == 3), IoError,
               path + ": image grid needs [N, 1 or 3, H, W], got " + images.shape().str());
  LATENT_CHECK(o.nrow > 0 && o.padding >= 0 && o.scale > 0 && o.high > o.low, IoError, path + ": bad grid options");
  const int n = static_cast<int>(images.size(0)), c = static_cast<int>(images.size(1));
  const int h = static_cast<int>(images.size(2)), w = static_cast<int>(images.size(3));
  const int cols = std::min(o.nrow, std::max(n, 1)), rows = (n + cols - 1) / cols;
  const int cell_w = w * o.scale + o.padding, cell_h = h * o.scale + o.padding;
  const int W = cols * cell_w + o.padding, H = rows * cell_h + o.padding;
  std::vector<std::uint8_t> px(static_cast<std::size_t>(W) * static_cast<std::size_t>(H) * static_cast<std::size_t>(c), 0);
  const float* d = images.data();
  for (int i = 0; i < n; ++i) {
    const int x0 = o.padding + (i % cols) * cell_w, y0 = o.padding + (i / cols) * cell_h;
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h * o.scale; ++y)
        for (int x = 0; x < w * o.scale; ++x) {
          const float v = d[((static_cast<std::size_t>(i) * c + ch) * h + y / o.scale) * w + x / o.scale];
          const float t = std::clamp((v - o.low) / (o.high - o.low), 0.0f, 1.0f);
          px[(static_cast<std::size_t>(y0 + y) * W + static_cast<std::size_t>(x0 + x)) * c + ch] = static_cast<std::uint8_t>(std::lround(t * 255));
        }
  }
  save_png(path, px.data(), W, H, c, text);
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
inline void save_scatter(const std::string& path, const Tensor<float>& points, const ScatterOptions& o = {},
                         const Provenance& text = {}, const Tensor<float>& reference = Tensor<float>()) {
  LATENT_CHECK(points.rank() == 2 && points.size(1) == 2, IoError, path + ": scatter needs points [N, 2], got " + points.shape().str());
  LATENT_CHECK(o.size >= 16, IoError, path + ": scatter size " + std::to_string(o.size) + " is too small");
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

}  // namespace latent::io

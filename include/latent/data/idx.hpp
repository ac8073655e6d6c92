// IDX files (the MNIST family's format), plain or gzip-compressed: a validated parser, MNIST-style image/label
// loaders, and the location of Debian's Fashion-MNIST (package dataset-fashion-mnist).
//
// IDX: bytes 0-1 zero, byte 2 the element type (only 0x08 = unsigned byte here), byte 3 the number of dimensions d,
// then d big-endian u32 sizes, then the elements row-major. Everything is checked before anything is allocated:
// magic, type, d, the product of the sizes (overflow), and the data length; a gzip stream is decompressed only up
// to the size its IDX header implies (plus one byte to detect excess), and that size must agree with the gzip
// trailer and with deflate's maximum ratio first, so a hostile file cannot make us allocate or inflate unboundedly.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/tensor.hpp"
#include "dataset.hpp"

#define LATENT_INSIDE_DATA
#include "detail/read_file.hpp"
#undef LATENT_INSIDE_DATA

#if defined(LATENT_HAVE_ZLIB)
#include <zlib.h>
#endif

namespace latent::data {

/// The decoded contents of an IDX file of unsigned bytes: its dimensions and elements (row-major).
struct IdxArray {
  Shape shape;
  std::vector<std::uint8_t> values;
};

namespace detail {

inline std::uint32_t big_endian_u32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

inline std::string hex(std::uint64_t v, int digits) {
  static const char* const symbols = "0123456789ABCDEF";
  std::string s(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = symbols[v & 15];
  return "0x" + s;
}

inline const char* idx_type_name(unsigned type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
  }
}

/// A validated IDX header: the dimensions and how many bytes header and data take.
struct IdxHeader {
  Shape shape;
  std::uint64_t header_bytes = 0;
  std::uint64_t data_bytes = 0;
};

// Reads the header from `head` (the first bytes of the decoded file). `what` says where the bytes come from in
// messages ("the file" or "the decompressed data").
inline IdxHeader parse_idx_header(std::span<const unsigned char> head, const std::string& name, const char* what) {
  const auto fail = [&](const std::string& message) { throw IoError(name + ": " + message); };
  if (head.size() < 4)
    fail("truncated: " + std::string(what) + " has " + std::to_string(head.size()) + " bytes, an IDX header needs at least 4");
  if (head[0] != 0 || head[1] != 0)
    fail("bad magic " + hex(big_endian_u32(head.data()), 8) +
         " at byte 0: an IDX file starts with two zero bytes, a type byte and a dimension count (MNIST images: 0x00000803)");
  const unsigned type = head[2], rank = head[3];
  if (type != 0x08)
    fail("element type " + hex(type, 2) + " (" + idx_type_name(type) + ") at byte 2 is not supported; only 0x08 (unsigned byte) is");
  if (rank == 0 || rank > static_cast<unsigned>(Shape::max_rank))
    fail(std::to_string(rank) + " dimensions at byte 3; expected 1 to " + std::to_string(Shape::max_rank));

  IdxHeader h;
  h.header_bytes = 4 + 4 * std::uint64_t{rank};
  if (head.size() < h.header_bytes)
    fail("truncated header: " + std::to_string(rank) + " dimensions need " + std::to_string(h.header_bytes) + " header bytes, " + what +
         " has " + std::to_string(head.size()));
  std::array<std::uint64_t, Shape::max_rank> dims{};
  bool empty = false;
  for (unsigned d = 0; d < rank; ++d) {
    dims[d] = big_endian_u32(head.data() + 4 + 4 * d);
    empty = empty || dims[d] == 0;
  }
  std::string dims_text = "[";
  for (unsigned d = 0; d < rank; ++d) {
    if (d) dims_text += ',';
    dims_text += std::to_string(dims[d]);
  }
  dims_text += "]";
  // The product must fit an index_t (and every byte count derived from it): checked by division, before multiplying.
  // Zero sizes are skipped, so that an empty array's other sizes also multiply without overflow (Shape::numel).
  constexpr std::uint64_t limit = std::uint64_t{1} << 62;
  std::uint64_t product = 1;
  for (unsigned d = 0; d < rank; ++d) {
    if (dims[d] == 0) continue;
    if (product > limit / dims[d]) fail("dimensions " + dims_text + " overflow: their product exceeds 2^62 elements");
    product *= dims[d];
  }
  h.data_bytes = empty ? 0 : product;
  for (unsigned d = 0; d < rank; ++d) h.shape.push_back(static_cast<index_t>(dims[d]));
  return h;
}

inline IdxArray parse_idx_plain(std::span<const unsigned char> bytes, const std::string& name) {
  IdxHeader h = parse_idx_header(bytes, name, "the file");
  const std::uint64_t have = bytes.size() - h.header_bytes;
  if (have < h.data_bytes)
    throw IoError(name + ": truncated: dimensions " + h.shape.str() + " need " + std::to_string(h.data_bytes) + " data bytes after the " +
                  std::to_string(h.header_bytes) + "-byte header, the file has " + std::to_string(have));
  if (have > h.data_bytes)
    throw IoError(name + ": " + std::to_string(have - h.data_bytes) + " unexpected bytes after the " + std::to_string(h.data_bytes) +
                  " data bytes of dimensions " + h.shape.str() + " (at byte " + std::to_string(h.header_bytes + h.data_bytes) + ")");
  IdxArray out{h.shape, {}};
  out.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(h.header_bytes), bytes.end());
  return out;
}

#if defined(LATENT_HAVE_ZLIB)
// One gzip stream, decompressed on demand into caller-sized pieces.
class GzipReader {
 public:
  GzipReader(std::span<const unsigned char> input, std::string name) : input_(input), name_(std::move(name)) {
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw IoError(name_ + ": cannot initialise zlib");
  }
  ~GzipReader() { inflateEnd(&zs_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  /// Decompresses up to `out.size()` bytes into `out`; fewer only when the stream ends. Returns the count.
  std::size_t read(std::span<unsigned char> out) {
    std::size_t got = 0;
    constexpr std::size_t chunk = std::size_t{1} << 30;  // zlib counts in 32-bit uInt
    while (got < out.size() && !ended_) {
      if (zs_.avail_in == 0 && consumed_ < input_.size()) {
        const std::size_t n = std::min(chunk, input_.size() - consumed_);
        zs_.next_in = const_cast<Bytef*>(input_.data() + consumed_);  // zlib's API is not const-correct
        zs_.avail_in = static_cast<uInt>(n);
        consumed_ += n;
      }
      const std::size_t want = std::min(chunk, out.size() - got);
      zs_.next_out = out.data() + got;
      zs_.avail_out = static_cast<uInt>(want);
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      got += want - zs_.avail_out;
      if (ret == Z_STREAM_END) {
        ended_ = true;
      } else if (ret == Z_BUF_ERROR || (ret == Z_OK && zs_.avail_in == 0 && consumed_ == input_.size() && zs_.avail_out != 0)) {
        throw IoError(name_ + ": truncated gzip stream: the compressed data ends after " + std::to_string(got_total() + got) +
                      " decompressed bytes");
      } else if (ret != Z_OK) {
        throw IoError(name_ + ": corrupt gzip stream (zlib: " + std::string(zs_.msg ? zs_.msg : "error " + std::to_string(ret)) + ")");
      }
    }
    total_ += got;
    return got;
  }
  bool ended() const noexcept { return ended_; }
  /// Compressed bytes left after the end of the stream.
  std::size_t bytes_after_end() const noexcept { return zs_.avail_in + (input_.size() - consumed_); }

 private:
  std::uint64_t got_total() const noexcept { return total_; }
  std::span<const unsigned char> input_;
  std::string name_;
  z_stream zs_{};
  std::size_t consumed_ = 0;
  std::uint64_t total_ = 0;
  bool ended_ = false;
};
#endif

inline IdxArray parse_idx_gzip(std::span<const unsigned char> bytes, const std::string& name) {
#if defined(LATENT_HAVE_ZLIB)
  // gzip = 10-byte header, deflate data, CRC32, ISIZE (uncompressed size mod 2^32, little-endian).
  if (bytes.size() < 18)
    throw IoError(name + ": truncated gzip stream: " + std::to_string(bytes.size()) + " bytes, a gzip file has at least 18");
  const unsigned char* t = bytes.data() + bytes.size() - 4;
  const std::uint32_t isize = std::uint32_t{t[0]} | (std::uint32_t{t[1]} << 8) | (std::uint32_t{t[2]} << 16) | (std::uint32_t{t[3]} << 24);

  GzipReader gz(bytes, name);
  std::array<unsigned char, 4 + 4 * Shape::max_rank> head{};
  std::size_t got = gz.read(std::span(head).first(4));
  if (got == 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] >= 1 && head[3] <= Shape::max_rank)
    got += gz.read(std::span(head).subspan(4, 4 * std::size_t{head[3]}));
  const IdxHeader h = parse_idx_header(std::span<const unsigned char>(head.data(), got), name, "the decompressed data");

  // Deflate expands at most 1032:1, so a header promising more than that is lying: refuse before allocating.
  const std::uint64_t total = h.header_bytes + h.data_bytes;
  const std::uint64_t max_total = 1032 * std::uint64_t{bytes.size()} + 4096;
  if (total > max_total)
    throw IoError(name + ": dimensions " + h.shape.str() + " need " + std::to_string(total) + " decompressed bytes, but " +
                  std::to_string(bytes.size()) + " compressed bytes expand to at most " + std::to_string(max_total));
  if (static_cast<std::uint32_t>(total) != isize)
    throw IoError(name + ": the gzip trailer gives the decompressed size as " + std::to_string(isize) + " (mod 2^32), dimensions " +
                  h.shape.str() + " need " + std::to_string(total) + " bytes (truncated file?)");

  IdxArray out{h.shape, std::vector<std::uint8_t>(static_cast<std::size_t>(h.data_bytes))};
  const std::size_t data_got = gz.read(std::span(out.values.data(), out.values.size()));
  if (data_got < out.values.size())
    throw IoError(name + ": truncated: dimensions " + h.shape.str() + " need " + std::to_string(h.data_bytes) +
                  " data bytes, the decompressed data has " + std::to_string(data_got));
  unsigned char extra = 0;
  if (gz.read(std::span(&extra, 1)) != 0)
    throw IoError(name + ": the decompressed data continues past the " + std::to_string(h.data_bytes) + " data bytes of dimensions " +
                  h.shape.str());
  if (gz.bytes_after_end() != 0)
    throw IoError(name + ": " + std::to_string(gz.bytes_after_end()) + " unexpected bytes after the end of the gzip stream");
  return out;
#else
  (void)bytes;
  throw IoError(name + ": gzip-compressed, but latent was built without zlib (link ZLIB::ZLIB and define LATENT_HAVE_ZLIB; Debian: zlib1g-dev)");
#endif
}

}  // namespace detail

/// Parses IDX bytes held in memory, plain or gzip (recognised by its magic bytes 1F 8B, not by a file name).
/// `name` names the source in error messages. The entry point of the fuzz harness fuzz/idx_fuzz.cpp.
inline IdxArray parse_idx(std::span<const std::byte> bytes, std::string_view name) {
  const std::span<const unsigned char> u(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  if (u.size() >= 2 && u[0] == 0x1F && u[1] == 0x8B) return detail::parse_idx_gzip(u, std::string(name));
  return detail::parse_idx_plain(u, std::string(name));
}

/// Reads an IDX file (plain or gzip).
inline IdxArray read_idx(const std::filesystem::path& path) {
  const std::string bytes = detail::read_file(path);
  return parse_idx(std::as_bytes(std::span(bytes.data(), bytes.size())), path.string());
}

/// An IDX file of images [N,H,W] as floats [N,1,H,W] in [0,1] (byte / 255, as torchvision's ToTensor).
inline Tensor<float> load_idx_images(const std::filesystem::path& path) {
  IdxArray a = read_idx(path);
  if (a.shape.rank() != 3)
    throw IoError(path.string() + ": images need 3 dimensions [N,H,W], the file has " + std::to_string(a.shape.rank()) + " " + a.shape.str());
  auto images = Tensor<float>::empty({a.shape[0], 1, a.shape[1], a.shape[2]});
  std::transform(a.values.begin(), a.values.end(), images.data(), [](std::uint8_t v) { return static_cast<float>(v) / 255.0f; });
  return images;
}

/// An IDX file of labels [N] as int64.
inline Tensor<std::int64_t> load_idx_labels(const std::filesystem::path& path) {
  IdxArray a = read_idx(path);
  if (a.shape.rank() != 1)
    throw IoError(path.string() + ": labels need 1 dimension [N], the file has " + std::to_string(a.shape.rank()) + " " + a.shape.str());
  auto labels = Tensor<std::int64_t>::empty({a.shape[0]});
  std::copy(a.values.begin(), a.values.end(), labels.data());
  return labels;
}

/// MNIST-format images and labels (plain or .gz): images [N,1,H,W] in [0,1], labels [N] in 0..9.
inline LabelledImages load_mnist(const std::filesystem::path& images_path, const std::filesystem::path& labels_path) {
  LabelledImages out{load_idx_images(images_path), load_idx_labels(labels_path)};
  const index_t n = out.images.size(0), m = out.labels.size(0);
  if (n != m)
    throw IoError(labels_path.string() + ": " + std::to_string(m) + " labels for the " + std::to_string(n) + " images of " + images_path.string());
  const std::int64_t* labels = out.labels.data();
  for (index_t i = 0; i < m; ++i)
    if (labels[i] > 9)
      throw IoError(labels_path.string() + ": label " + std::to_string(labels[i]) + " of item " + std::to_string(i) + " (byte " +
                    std::to_string(8 + i) + ") is not a digit class 0..9");
  return out;
}

/// Where Fashion-MNIST's four IDX files are: $LATENT_FASHION_MNIST_DIR when set, else Debian's
/// dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist); nullopt when neither holds
/// train-images-idx3-ubyte(.gz).
inline std::optional<std::filesystem::path> fashion_mnist_dir() {
  const auto holds_data = [](const std::filesystem::path& dir) {
    std::error_code ec;
    return std::filesystem::exists(dir / "train-images-idx3-ubyte.gz", ec) || std::filesystem::exists(dir / "train-images-idx3-ubyte", ec);
  };
  if (const char* env = std::getenv("LATENT_FASHION_MNIST_DIR"); env && *env) {
    if (holds_data(env)) return std::filesystem::path(env);
    return std::nullopt;
  }
  const std::filesystem::path debian = "/usr/share/datasets/fashion-mnist";
  if (holds_data(debian)) return debian;
  return std::nullopt;
}

/// Fashion-MNIST's ten class names, in label order.
inline const std::array<const char*, 10>& fashion_mnist_classes() {
  static const std::array<const char*, 10> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

/// The Fashion-MNIST training split (60000 images) or test split (10000), from fashion_mnist_dir().
inline LabelledImages load_fashion_mnist(bool train = true) {
  const auto dir = fashion_mnist_dir();
  if (!dir)
    throw IoError(
        "Fashion-MNIST not found: install Debian's dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist) or set "
        "LATENT_FASHION_MNIST_DIR to a folder holding train-images-idx3-ubyte.gz and the three other files");
  const std::string prefix = train ? "train" : "t10k";
  const auto pick = [&](const std::string& stem) {
    const auto gz = *dir / (stem + ".gz");
    std::error_code ec;
    return std::filesystem::exists(gz, ec) ? gz : *dir / stem;
  };
  return load_mnist(pick(prefix + "-images-idx3-ubyte"), pick(prefix + "-labels-idx1-ubyte"));
}

}  // namespace latent::data

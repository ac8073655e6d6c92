// IDX reading: the shipped MNIST-10k (oracle: the counts and pixel values of data/README.md and numpy), plain vs
// gzip agreement, every malformed-header / length / gzip case with its whole message, and Fashion-MNIST when installed.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <array>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <string>

#include "data_test_util.hpp"

using namespace latent;
using namespace latent_data_test;

namespace {
std::array<std::int64_t, 10> class_counts(const Tensor<std::int64_t>& labels) {
  std::array<std::int64_t, 10> counts{};
  for (std::int64_t v : labels.to_vector()) ++counts[static_cast<std::size_t>(v)];
  return counts;
}
// Sum of the original bytes of image i (pixels are byte/255, so byte = round(255 p) exactly).
std::int64_t byte_sum(const Tensor<float>& images, std::int64_t i) {
  const std::int64_t n = images.shape().prod(1, 4);
  std::int64_t s = 0;
  for (std::int64_t k = 0; k < n; ++k) s += std::lround(255.0f * images.data()[i * n + k]);
  return s;
}
data::IdxArray parse(const std::string& bytes, const char* name = "test.idx") {
  return data::parse_idx(std::as_bytes(std::span(bytes.data(), bytes.size())), name);
}
}  // namespace

TEST_CASE("load_mnist reads the shipped MNIST-10k with its documented counts and pixels", "[data][idx]") {
  const auto d = data::load_mnist(shipped("mnist-10k/mnist10k-images-idx3-ubyte"), shipped("mnist-10k/mnist10k-labels-idx1-ubyte"));
  CHECK(d.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(d.labels.shape() == Shape{10000});
  // data/README.md: ordered by class, 0:1001 1:1127 2:991 3:1032 4:980 5:863 6:1014 7:1070 8:944 9:978.
  CHECK(class_counts(d.labels) == std::array<std::int64_t, 10>{1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978});
  CHECK(d.labels.at({0}) == 0);
  CHECK(d.labels.at({9999}) == 9);
  // numpy on the raw bytes: image 0 sums to 31095, image 9999 to 19255; row 14 of image 0 starts 0 x7, 198, 253, 190.
  CHECK(byte_sum(d.images, 0) == 31095);
  CHECK(byte_sum(d.images, 9999) == 19255);
  CHECK(d.images.at({0, 0, 14, 7}) == 198.0f / 255.0f);
  CHECK(d.images.at({0, 0, 14, 20}) == 1.0f);
  CHECK(d.images.at({0, 0, 0, 0}) == 0.0f);
  const auto [lo, hi] = std::minmax_element(d.images.data(), d.images.data() + d.images.numel());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);
}

TEST_CASE("read_idx gives the same array from plain and gzip files, whatever their names", "[data][idx]") {
  TempDir dir;
  std::string payload;
  for (int i = 0; i < 2 * 3 * 4; ++i) payload += static_cast<char>(i * 10);
  const std::string plain = idx_bytes(0x08, {2, 3, 4}, payload);
  write_bytes(dir / "a.idx", plain);
  write_bytes(dir / "a.idx.gz", gzip(plain));
  write_bytes(dir / "gzip-without-suffix", gzip(plain, 0));  // recognised by its magic, not its name
  for (const char* name : {"a.idx", "a.idx.gz", "gzip-without-suffix"}) {
    INFO(name);
    const auto a = data::read_idx(dir / name);
    CHECK(a.shape == Shape{2, 3, 4});
    REQUIRE(a.values.size() == 24);
    CHECK(a.values[0] == 0);
    CHECK(a.values[23] == 230);
  }
}

TEST_CASE("load_mnist reads gzip-compressed MNIST files like the plain ones", "[data][idx]") {
  TempDir dir;
  write_bytes(dir / "images.gz", gzip(read_bytes(shipped("mnist-10k/mnist10k-images-idx3-ubyte")), 1));
  write_bytes(dir / "labels.gz", gzip(read_bytes(shipped("mnist-10k/mnist10k-labels-idx1-ubyte"))));
  const auto plain = data::load_mnist(shipped("mnist-10k/mnist10k-images-idx3-ubyte"), shipped("mnist-10k/mnist10k-labels-idx1-ubyte"));
  const auto packed = data::load_mnist(dir / "images.gz", dir / "labels.gz");
  CHECK(packed.images.shape() == plain.images.shape());
  CHECK(packed.images.to_vector() == plain.images.to_vector());
  CHECK(packed.labels.to_vector() == plain.labels.to_vector());
}

TEST_CASE("parse_idx rejects malformed headers with the file and what is wrong", "[data][idx][errors]") {
  CHECK_THROWS_WITH(parse(std::string("\0\0", 2)),
                    "[latent.io] test.idx: truncated: the file has 2 bytes, an IDX header needs at least 4");
  CHECK_THROWS_WITH(parse("\x12\x34\x08\x01" + big_endian(1) + "x"),
                    "[latent.io] test.idx: bad magic 0x12340801 at byte 0: an IDX file starts with two zero bytes, a type byte and a "
                    "dimension count (MNIST images: 0x00000803)");
  CHECK_THROWS_WITH(parse(idx_bytes(0x0D, {1}, "abcd")),
                    "[latent.io] test.idx: element type 0x0D (float32) at byte 2 is not supported; only 0x08 (unsigned byte) is");
  CHECK_THROWS_WITH(parse(idx_bytes(0x42, {1}, "a")),
                    "[latent.io] test.idx: element type 0x42 (not an IDX type) at byte 2 is not supported; only 0x08 (unsigned byte) is");
  CHECK_THROWS_WITH(parse(idx_bytes(0x08, {}, "")), "[latent.io] test.idx: 0 dimensions at byte 3; expected 1 to 8");
  CHECK_THROWS_WITH(parse(idx_bytes(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}, "a")), "[latent.io] test.idx: 9 dimensions at byte 3; expected 1 to 8");
  CHECK_THROWS_WITH(parse(idx_bytes(0x08, {10000, 28, 28}, "").substr(0, 10)),
                    "[latent.io] test.idx: truncated header: 3 dimensions need 16 header bytes, the file has 10");
  CHECK_THROWS_WITH(parse(idx_bytes(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, "")),
                    "[latent.io] test.idx: dimensions [4294967295,4294967295,4294967295] overflow: their product exceeds 2^62 elements");
  CHECK_THROWS_WITH(parse(idx_bytes(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0}, "")),  // empty, but its Shape would overflow numel()
                    "[latent.io] test.idx: dimensions [4294967295,4294967295,0] overflow: their product exceeds 2^62 elements");
}

TEST_CASE("parse_idx checks the data length against the dimensions before allocating", "[data][idx][errors]") {
  CHECK_THROWS_WITH(parse(idx_bytes(0x08, {10000, 28, 28}, std::string(100, '\0'))),
                    "[latent.io] test.idx: truncated: dimensions [10000,28,28] need 7840000 data bytes after the 16-byte header, the file "
                    "has 100");
  CHECK_THROWS_WITH(parse(idx_bytes(0x08, {3}, "abcde")),
                    "[latent.io] test.idx: 2 unexpected bytes after the 3 data bytes of dimensions [3] (at byte 11)");
  // A zero dimension is a valid, empty array.
  const auto empty = parse(idx_bytes(0x08, {0, 28, 28}, ""));
  CHECK(empty.shape == Shape{0, 28, 28});
  CHECK(empty.values.empty());
}

TEST_CASE("parse_idx bounds gzip decompression by the IDX header (gzip bombs, lying headers, truncation)", "[data][idx][errors]") {
  const std::string header = idx_bytes(0x08, {10}, "");
  // 10 label bytes promised, 50 MB of zeros delivered: the gzip trailer already disagrees with the header.
  const std::string bomb = gzip(header + std::string(50'000'000, '\0'), 9);
  CHECK(bomb.size() < 100'000);
  CHECK_THROWS_WITH(parse(bomb, "bomb.gz"),
                    "[latent.io] bomb.gz: the gzip trailer gives the decompressed size as 50000008 (mod 2^32), dimensions [10] need 18 "
                    "bytes (truncated file?)");
  // With a forged trailer the stream is inflated only to the 18 promised bytes plus one.
  CHECK_THROWS_WITH(parse(with_isize(bomb, 18), "bomb.gz"),
                    "[latent.io] bomb.gz: the decompressed data continues past the 10 data bytes of dimensions [10]");

  // A header promising 10^12 bytes from a few compressed ones is refused before any allocation.
  const std::string liar = gzip(idx_bytes(0x08, {1000000, 1000, 1000}, "x"), 0);
  CHECK_THROWS_WITH(parse(liar, "liar.gz"),
                    "[latent.io] liar.gz: dimensions [1000000,1000,1000] need 1000000000016 decompressed bytes, but " +
                        std::to_string(liar.size()) + " compressed bytes expand to at most " + std::to_string(1032 * liar.size() + 4096));

  // Stored (level 0) gzip: 10-byte gzip header, 5-byte block header, the 8 + 100 IDX bytes, 8-byte trailer. Cut to 60
  // bytes and given back its trailer, the stream ends after 60 - 15 + 8 = 53 decompressed bytes.
  const std::string whole = gzip(idx_bytes(0x08, {100}, std::string(100, 'a')), 0);
  REQUIRE(whole.size() == 10 + 5 + 108 + 8);
  const std::string cut = whole.substr(0, 60) + whole.substr(whole.size() - 8);
  CHECK_THROWS_WITH(parse(cut, "cut.gz"), "[latent.io] cut.gz: truncated gzip stream: the compressed data ends after 53 decompressed bytes");
  CHECK_THROWS_WITH(parse(whole.substr(0, 12), "tiny.gz"), "[latent.io] tiny.gz: truncated gzip stream: 12 bytes, a gzip file has at least 18");
  // Bytes after the end of the stream (here ending with a copy of the trailer's size, so that the size check passes).
  CHECK_THROWS_WITH(parse(whole + "zzzz" + whole.substr(whole.size() - 4), "tail.gz"),
                    "[latent.io] tail.gz: 8 unexpected bytes after the end of the gzip stream");
  // The gzip of a non-IDX payload reports the IDX problem, naming the decompressed data.
  CHECK_THROWS_WITH(parse(gzip("PK\x03\x04 not idx"), "zip.gz"),
                    "[latent.io] zip.gz: bad magic 0x504B0304 at byte 0: an IDX file starts with two zero bytes, a type byte and a "
                    "dimension count (MNIST images: 0x00000803)");
  // Corrupt deflate data: zlib's own diagnosis is passed on.
  std::string corrupt = whole;
  corrupt[10] = '\x07';  // block type 3 (reserved)
  CHECK_THROWS_WITH(parse(corrupt, "corrupt.gz"), "[latent.io] corrupt.gz: corrupt gzip stream (zlib: invalid block type)");
}

TEST_CASE("load_mnist rejects files that do not go together", "[data][idx][errors]") {
  TempDir dir;
  const std::string images = write_bytes(dir / "images", idx_bytes(0x08, {3, 2, 2}, std::string(12, '\x80')));
  const std::string two = write_bytes(dir / "two", idx_bytes(0x08, {2}, std::string("\x01\x02", 2)));
  const std::string bad = write_bytes(dir / "bad", idx_bytes(0x08, {3}, std::string("\x01\x0c\x02", 3)));
  const std::string flat = write_bytes(dir / "flat", idx_bytes(0x08, {12}, std::string(12, '\0')));
  CHECK_THROWS_WITH(data::load_mnist(images, two), "[latent.io] " + two + ": 2 labels for the 3 images of " + images);
  CHECK_THROWS_WITH(data::load_mnist(images, bad), "[latent.io] " + bad + ": label 12 of item 1 (byte 9) is not a digit class 0..9");
  CHECK_THROWS_WITH(data::load_mnist(flat, two), "[latent.io] " + flat + ": images need 3 dimensions [N,H,W], the file has 1 [12]");
  CHECK_THROWS_WITH(data::load_mnist(images, images), "[latent.io] " + images + ": labels need 1 dimension [N], the file has 3 [3,2,2]");
  CHECK_THROWS_WITH(data::read_idx(dir / "missing"), "[latent.io] " + (dir / "missing") + ": no such file");
  CHECK_THROWS_WITH(data::read_idx(dir.path), "[latent.io] " + dir.path.string() + ": not a regular file");
  const auto ok = data::load_mnist(images, write_bytes(dir / "ok", idx_bytes(0x08, {3}, std::string("\x07\x00\x09", 3))));
  CHECK(ok.images.at({2, 0, 1, 1}) == 128.0f / 255.0f);
  CHECK(ok.labels.to_vector() == std::vector<std::int64_t>{7, 0, 9});
}

TEST_CASE("fashion_mnist_dir honours LATENT_FASHION_MNIST_DIR", "[data][idx]") {
  const char* old = std::getenv("LATENT_FASHION_MNIST_DIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  TempDir dir;
  setenv("LATENT_FASHION_MNIST_DIR", dir.path.c_str(), 1);
  CHECK_FALSE(data::fashion_mnist_dir().has_value());
  CHECK_THROWS_WITH(data::load_fashion_mnist(),
                    "[latent.io] Fashion-MNIST not found: install Debian's dataset-fashion-mnist (files in "
                    "/usr/share/datasets/fashion-mnist) or set LATENT_FASHION_MNIST_DIR to a folder holding train-images-idx3-ubyte.gz "
                    "and the three other files");
  write_bytes(dir / "train-images-idx3-ubyte.gz", "");
  CHECK(data::fashion_mnist_dir() == dir.path);
  if (saved) setenv("LATENT_FASHION_MNIST_DIR", saved->c_str(), 1);
  else unsetenv("LATENT_FASHION_MNIST_DIR");
}

TEST_CASE("load_fashion_mnist reads Debian's dataset-fashion-mnist (skipped with a warning when not installed)", "[data][idx][fashion]") {
  if (!data::fashion_mnist_dir()) {
    WARN("Fashion-MNIST not found (apt install dataset-fashion-mnist, or set LATENT_FASHION_MNIST_DIR): test skipped");
    return;
  }
  // Oracle: numpy on the package's .gz files: 6000 / 1000 per class, first labels 9 0 0 3 0 / 9 2 1 1 6,
  // byte sums of image 0: 76247 / 33456.
  const auto train = data::load_fashion_mnist(true);
  CHECK(train.images.shape() == Shape{60000, 1, 28, 28});
  CHECK(class_counts(train.labels) == std::array<std::int64_t, 10>{6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000});
  CHECK(std::vector<std::int64_t>(train.labels.data(), train.labels.data() + 5) == std::vector<std::int64_t>{9, 0, 0, 3, 0});
  CHECK(byte_sum(train.images, 0) == 76247);
  const auto test = data::load_fashion_mnist(false);
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(class_counts(test.labels) == std::array<std::int64_t, 10>{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000});
  CHECK(std::vector<std::int64_t>(test.labels.data(), test.labels.data() + 5) == std::vector<std::int64_t>{9, 2, 1, 1, 6});
  CHECK(byte_sum(test.images, 0) == 33456);
  CHECK(std::string(data::fashion_mnist_classes()[9]) == "Ankle boot");
}

// 16-bit PCM WAV: exact header bytes, interleaving, clipping, round trips, and rejection of malformed files.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/io/wav.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "io_test_util.hpp"

using namespace latent;

namespace {

std::uint32_t u32_at(const std::vector<std::uint8_t>& b, std::size_t i) {
  return b[i] | b[i + 1] << 8 | b[i + 2] << 16 | static_cast<std::uint32_t>(b[i + 3]) << 24;
}
std::int16_t i16_at(const std::vector<std::uint8_t>& b, std::size_t i) {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(b[i] | b[i + 1] << 8));
}
void set_u32(std::vector<std::uint8_t>& b, std::size_t i, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) b[i + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(v >> (8 * k));
}

}  // namespace

TEST_CASE("save_wav writes the canonical 44-byte header and clipped little-endian samples", "[io][wav]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "tone.wav";
  // Oracle: the RIFF/WAVE layout (Microsoft's multimedia spec) and int16 = round(x * 32768) clipped.
  const auto samples = from_vector<float>({0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 2.0f, -3.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f / 32768}, {9});
  io::save_wav(path, samples, 22050);
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(b.size() == 44 + 18);
  CHECK(std::string(b.begin(), b.begin() + 4) == "RIFF");
  CHECK(u32_at(b, 4) == 36 + 18);
  CHECK(std::string(b.begin() + 8, b.begin() + 16) == "WAVEfmt ");
  CHECK(u32_at(b, 16) == 16);
  CHECK((b[20] | b[21] << 8) == 1);      // PCM
  CHECK((b[22] | b[23] << 8) == 1);      // channels
  CHECK(u32_at(b, 24) == 22050);         // sample rate
  CHECK(u32_at(b, 28) == 22050 * 2);     // byte rate
  CHECK((b[32] | b[33] << 8) == 2);      // block align
  CHECK((b[34] | b[35] << 8) == 16);     // bits per sample
  CHECK(std::string(b.begin() + 36, b.begin() + 40) == "data");
  CHECK(u32_at(b, 40) == 18);
  const std::vector<std::int16_t> expected{0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 1};
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(i16_at(b, 44 + 2 * i) == expected[i]);
  std::filesystem::remove_all(dir);
}

TEST_CASE("WAV stereo is interleaved frame by frame and reads back as [channels, frames]", "[io][wav]") {
  const latent_io_test::TempDir tmp;
  const auto& dir = tmp.path;
  const auto path = dir / "stereo.wav";
  // Values k / 32768 are exactly representable in 16-bit PCM, so the round trip is exact.
  const auto samples = from_vector<float>({1 / 32768.f, 2 / 32768.f, 3 / 32768.f, -1 / 32768.f, -2 / 32768.f, -3 / 32768.f}, {2, 3});
  io::save_wav(path, samples, 8000);
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(b.size() == 44 + 12);
  CHECK((b[22] | b[23] << 8) == 2);
  CHECK((b[32] | b[33] << 8) == 4);
  const std::vector<std::int16_t> interleaved{1, -1, 2, -2, 3, -3};
  for (std::size_t i = 0; i < interleaved.size(); ++i) CHECK(i16_at(b, 44 + 2 * i) == interleaved[i]);

  const auto audio = io::load_wav(path);
  CHECK(audio.sample_rate == 8000);
  REQUIRE(audio.samples.shape() == Shape{2, 3});
  CHECK(audio.samples.to_vector() == samples.to_vector());
  std::filesystem::remove_all(dir);
}

TEST_CASE("parse_wav skips unknown chunks and accepts WAVE_FORMAT_EXTENSIBLE PCM", "[io][wav]") {
  auto b = io::encode_wav(from_vector<float>({0.25f, -0.25f}, {2}), 44100);
  // Insert an odd-sized LIST chunk (with its pad byte) between fmt and data.
  const std::vector<std::uint8_t> list{'L', 'I', 'S', 'T', 3, 0, 0, 0, 'a', 'b', 'c', 0};
  b.insert(b.begin() + 36, list.begin(), list.end());
  set_u32(b, 4, static_cast<std::uint32_t>(b.size() - 8));
  auto audio = io::parse_wav(b);
  CHECK(audio.samples.to_vector() == std::vector<float>{0.25f, -0.25f});

  // Extensible: fmt grows to 40 bytes, tag 0xFFFE, subformat GUID starting with 1 (PCM).
  auto e = io::encode_wav(from_vector<float>({0.5f}, {1}), 16000);
  std::vector<std::uint8_t> ext(24, 0);
  ext[0] = 22;                 // cbSize
  ext[2] = 16;                 // valid bits
  ext[8] = 1;                  // subformat: KSDATAFORMAT_SUBTYPE_PCM starts with 0x0001
  e.insert(e.begin() + 36, ext.begin(), ext.end());
  set_u32(e, 16, 40);
  e[20] = 0xfe, e[21] = 0xff;
  audio = io::parse_wav(e);
  CHECK(audio.sample_rate == 16000);
  CHECK(audio.samples.to_vector() == std::vector<float>{0.5f});
}

TEST_CASE("parse_wav rejects malformed files with the byte offset and the reason", "[io][wav]") {
  const auto good = io::encode_wav(from_vector<float>({0.1f, 0.2f, 0.3f, 0.4f}, {4}), 8000);
  REQUIRE_NOTHROW(io::parse_wav(good, "x.wav"));

  auto b = good;
  b[0] = 'X';
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 0: not a WAV file (expected \"RIFF\" ... \"WAVE\" in the first 12 bytes)");

  b = good;
  set_u32(b, 40, 1000);  // data larger than the file
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 36: chunk \"data\" claims 1000 bytes but only 8 follow");

  b = good;
  b.resize(b.size() - 1);  // truncated: the data chunk runs past the end
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 36: chunk \"data\" claims 8 bytes but only 7 follow");

  b = good;
  b[34] = 8;  // 8-bit
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 34: 8 bits per sample; only 16-bit PCM is supported");

  b = good;
  b[20] = 3;  // IEEE float
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 20: format tag 3 is not PCM; only 16-bit PCM is supported");

  b = good;
  b[32] = 4;
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"),
                      "[latent.io] x.wav: byte 32: block align 4 for 1 channels of 16 bits (expected 2)");

  b = good;
  b[22] = 0;
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 22: 0 channels");

  b = good;
  set_u32(b, 28, 1);
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 28: byte rate 1 differs from sample rate x block align = 16000");

  b = good;
  set_u32(b, 40, 7);  // odd data size: not whole frames (the pad byte makes the chunk walk still fit)
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 40: data size 7 is not a multiple of the block align 2");

  b = std::vector<std::uint8_t>(good.begin(), good.begin() + 36);  // header without data
  REQUIRE_THROWS_WITH(io::parse_wav(b, "x.wav"), "[latent.io] x.wav: byte 12: no \"data\" chunk");

  REQUIRE_THROWS_WITH(io::load_wav("/nonexistent-latent/x.wav"), "[latent.io] /nonexistent-latent/x.wav: cannot open for reading");
}

TEST_CASE("save_wav rejects bad shapes and sample rates", "[io][wav]") {
  REQUIRE_THROWS_WITH(io::encode_wav(zeros<float>({2, 2, 2}), 8000, "a.wav"),
                      "[latent.io] a.wav: WAV samples must be [frames] or [channels, frames], got [2,2,2]");
  REQUIRE_THROWS_WITH(io::encode_wav(zeros<float>({4}), 0, "a.wav"), "[latent.io] a.wav: WAV sample rate must be > 0, got 0");
}

TEST_CASE("every seed of the WAV fuzz corpus decodes", "[io][wav]") {
  // The fuzzer starts from these files; a seed that is rejected would only exercise the error paths.
  const auto folder = std::filesystem::path(LATENT_SOURCE_DIR) / "fuzz" / "corpus" / "wav";
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    INFO(entry.path());
    const auto audio = io::load_wav(entry.path());
    CHECK(audio.sample_rate > 0);
    ++seeds;
  }
  CHECK(seeds >= 5);
}

// 16-bit PCM WAV files: save_wav writes samples in [-1, 1] (clipped), load_wav / parse_wav read them back
// after validating every chunk size and format field against the bytes actually present.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "../core/atomic_file.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace latent::io {

/// Decoded audio: samples [channels, frames] in [-1, 1) (int16 / 32768, as torchaudio and soundfile read).
struct WavAudio {
  Tensor<float> samples;
  int sample_rate = 0;
};

namespace wav_detail {

inline void put_u16(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
  out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
}
inline void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put_u16(out, v & 0xffff);
  put_u16(out, v >> 16);
}
inline std::uint32_t get_u16(const std::uint8_t* p) { return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8; }
inline std::uint32_t get_u32(const std::uint8_t* p) { return get_u16(p) | get_u16(p + 2) << 16; }

/// float in [-1, 1] -> int16: x * 32768 rounded, clipped to [-32768, 32767]; NaN becomes silence.
inline std::int16_t to_pcm16(float x) {
  if (std::isnan(x)) return 0;
  const float scaled = std::nearbyint(std::clamp(x, -1.0f, 1.0f) * 32768.0f);
  return static_cast<std::int16_t>(std::clamp(scaled, -32768.0f, 32767.0f));
}

}  // namespace wav_detail

/// The bytes of a 16-bit PCM WAV file holding `samples` ([frames] mono, or [channels, frames]).
inline std::vector<std::uint8_t> encode_wav(const Tensor<float>& samples, int sample_rate, const std::string& name = "<memory>") {
  LATENT_CHECK(samples.rank() == 1 || samples.rank() == 2, IoError,
               name + ": WAV samples must be [frames] or [channels, frames], got " + samples.shape().str());
  const std::int64_t channels = samples.rank() == 1 ? 1 : samples.size(0);
  const std::int64_t frames = samples.rank() == 1 ? samples.size(0) : samples.size(1);
  LATENT_CHECK(channels >= 1 && channels <= 65535, IoError, name + ": WAV needs 1 to 65535 channels, got " + std::to_string(channels));
  LATENT_CHECK(sample_rate > 0, IoError, name + ": WAV sample rate must be > 0, got " + std::to_string(sample_rate));
  const std::uint64_t data_bytes = static_cast<std::uint64_t>(channels) * static_cast<std::uint64_t>(frames) * 2;
  const std::uint64_t byte_rate = static_cast<std::uint64_t>(sample_rate) * static_cast<std::uint64_t>(channels) * 2;
  LATENT_CHECK(data_bytes + 36 <= 0xffffffffULL && byte_rate <= 0xffffffffULL, IoError,
               name + ": " + std::to_string(data_bytes) + " bytes of audio do not fit a WAV file (4 GiB limit)");
  using namespace wav_detail;
  std::vector<std::uint8_t> out;
  out.reserve(static_cast<std::size_t>(44 + data_bytes));
  for (char c : std::string("RIFF")) out.push_back(static_cast<std::uint8_t>(c));
  put_u32(out, static_cast<std::uint32_t>(36 + data_bytes));
  for (char c : std::string("WAVEfmt ")) out.push_back(static_cast<std::uint8_t>(c));
  put_u32(out, 16);                                         // fmt chunk size
  put_u16(out, 1);                                          // PCM
  put_u16(out, static_cast<std::uint32_t>(channels));
  put_u32(out, static_cast<std::uint32_t>(sample_rate));
  put_u32(out, static_cast<std::uint32_t>(byte_rate));
  put_u16(out, static_cast<std::uint32_t>(channels * 2));   // block align: bytes per frame
  put_u16(out, 16);                                         // bits per sample
  for (char c : std::string("data")) out.push_back(static_cast<std::uint8_t>(c));
  put_u32(out, static_cast<std::uint32_t>(data_bytes));
  const float* s = samples.data();
  for (std::int64_t f = 0; f < frames; ++f)
    for (std::int64_t c = 0; c < channels; ++c)  // interleaved: frame by frame
      put_u16(out, static_cast<std::uint16_t>(to_pcm16(s[c * frames + f])));
  return out;
}

/// Writes `samples` ([frames] or [channels, frames], values in [-1, 1]; outside is clipped) as 16-bit PCM, atomically.
inline void save_wav(const std::filesystem::path& path, const Tensor<float>& samples, int sample_rate) {
  const auto bytes = encode_wav(samples, sample_rate, path.string());
  write_file_atomically(path, std::as_bytes(std::span<const std::uint8_t>(bytes)), "save_wav");
}

/// Decodes a 16-bit PCM WAV file held in memory; `name` is used in error messages. Accepts the fmt tags
/// PCM (1) and WAVE_FORMAT_EXTENSIBLE with the PCM subformat; skips other chunks (LIST, fact, ...).
inline WavAudio parse_wav(std::span<const std::uint8_t> bytes, const std::string& name = "<memory>") {
  using namespace wav_detail;
  auto fail = [&](std::size_t offset, const std::string& what) {
    throw IoError(name + ": byte " + std::to_string(offset) + ": " + what);
  };
  const std::uint8_t* p = bytes.data();
  const std::size_t n = bytes.size();
  if (n < 12 || std::string(reinterpret_cast<const char*>(p), 4) != "RIFF" || std::string(reinterpret_cast<const char*>(p) + 8, 4) != "WAVE")
    fail(0, "not a WAV file (expected \"RIFF\" ... \"WAVE\" in the first 12 bytes)");

  std::size_t fmt_at = 0, data_at = 0, data_size = 0;
  bool have_fmt = false, have_data = false;
  std::size_t pos = 12;
  while (pos + 8 <= n) {
    const std::string id(reinterpret_cast<const char*>(p + pos), 4);
    const std::size_t size = get_u32(p + pos + 4);
    if (size > n - pos - 8)
      fail(pos, "chunk \"" + id + "\" claims " + std::to_string(size) + " bytes but only " + std::to_string(n - pos - 8) + " follow");
    if (id == "fmt ") {
      if (have_fmt) fail(pos, "a second \"fmt \" chunk");
      if (size < 16) fail(pos, "\"fmt \" chunk of " + std::to_string(size) + " bytes (at least 16 expected)");
      have_fmt = true, fmt_at = pos + 8;
      if (get_u16(p + fmt_at) == 0xfffe && size < 40)
        fail(pos, "WAVE_FORMAT_EXTENSIBLE \"fmt \" chunk of " + std::to_string(size) + " bytes (40 expected)");
    } else if (id == "data") {
      if (have_data) fail(pos, "a second \"data\" chunk");
      have_data = true, data_at = pos + 8, data_size = size;
    }
    pos += 8 + size + (size & 1);  // chunks are padded to an even size
  }
  if (!have_fmt) fail(12, "no \"fmt \" chunk");
  if (!have_data) fail(12, "no \"data\" chunk");

  const std::uint32_t tag = get_u16(p + fmt_at), channels = get_u16(p + fmt_at + 2), rate = get_u32(p + fmt_at + 4);
  const std::uint32_t byte_rate = get_u32(p + fmt_at + 8), block_align = get_u16(p + fmt_at + 12), bits = get_u16(p + fmt_at + 14);
  const bool pcm = tag == 1 || (tag == 0xfffe && get_u16(p + fmt_at + 24) == 1);
  if (!pcm) fail(fmt_at, "format tag " + std::to_string(tag) + " is not PCM; only 16-bit PCM is supported");
  if (bits != 16) fail(fmt_at + 14, std::to_string(bits) + " bits per sample; only 16-bit PCM is supported");
  if (channels == 0) fail(fmt_at + 2, "0 channels");
  if (rate == 0) fail(fmt_at + 4, "sample rate 0");
  if (block_align != channels * 2)
    fail(fmt_at + 12, "block align " + std::to_string(block_align) + " for " + std::to_string(channels) + " channels of 16 bits (expected " +
                          std::to_string(channels * 2) + ")");
  if (byte_rate != static_cast<std::uint64_t>(rate) * block_align)
    fail(fmt_at + 8, "byte rate " + std::to_string(byte_rate) + " differs from sample rate x block align = " +
                         std::to_string(static_cast<std::uint64_t>(rate) * block_align));
  if (data_size % block_align != 0)
    fail(data_at - 4, "data size " + std::to_string(data_size) + " is not a multiple of the block align " + std::to_string(block_align));
  if (rate > 0x7fffffffU) fail(fmt_at + 4, "sample rate " + std::to_string(rate) + " is out of range");

  // Sizes were checked against the file, so this allocation is at most the file's size (x2 for floats).
  const index_t frames = static_cast<index_t>(data_size / block_align);
  WavAudio audio{Tensor<float>::empty({static_cast<index_t>(channels), frames}), static_cast<int>(rate)};
  float* out = audio.samples.data();
  const std::uint8_t* d = p + data_at;
  for (index_t f = 0; f < frames; ++f)
    for (index_t c = 0; c < static_cast<index_t>(channels); ++c) {
      const auto raw = static_cast<std::int16_t>(static_cast<std::uint16_t>(get_u16(d + 2 * (f * channels + c))));
      out[c * frames + f] = static_cast<float>(raw) / 32768.0f;
    }
  return audio;
}

/// Reads a 16-bit PCM WAV file (see parse_wav).
inline WavAudio load_wav(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  LATENT_CHECK(in.good(), IoError, path.string() + ": cannot open for reading");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LATENT_CHECK(!in.bad(), IoError, path.string() + ": read error");
  return parse_wav(bytes, path.string());
}

}  // namespace latent::io

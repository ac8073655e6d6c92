// libFuzzer harness for the WAV reader: any bytes must either decode or throw latent::Error, never crash,
// read out of bounds or allocate more than the input justifies.
#include <latent/io/wav.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto audio = latent::io::parse_wav(std::span<const std::uint8_t>(data, size), "fuzz.wav");
    // A decoded file holds exactly the samples its data chunk had room for.
    if (audio.samples.numel() * 2 > static_cast<latent::index_t>(size) || audio.sample_rate <= 0) __builtin_trap();
  } catch (const latent::Error&) {
    // Rejected with a message: the expected outcome for malformed input.
  }
  return 0;
}

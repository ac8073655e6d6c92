// libFuzzer harness for the IDX reader (plain and gzip): any bytes must either decode or throw latent::Error, never
// crash, read out of bounds, inflate past what the header promises or allocate more than the input justifies.
// The gzip path needs zlib: build with LATENT_HAVE_ZLIB=1 and link zlib (without it, gzip input is an IoError).
#include <latent/data/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto array = latent::data::parse_idx(std::as_bytes(std::span(data, size)), "fuzz.idx");
    const bool gzip = size >= 2 && data[0] == 0x1F && data[1] == 0x8B;
    // The values are exactly the header's product, and no more than the input can hold: the plain data itself, or
    // deflate's 1032:1 maximum expansion of it.
    if (static_cast<latent::index_t>(array.values.size()) != array.shape.numel()) __builtin_trap();
    if (array.values.size() > (gzip ? 1032 * size + 4096 : size)) __builtin_trap();
  } catch (const latent::Error&) {
    // Rejected with a message: the expected outcome for malformed input.
  }
  return 0;
}

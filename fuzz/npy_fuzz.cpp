// libFuzzer harness for the .npy reader: any bytes must either load or throw latent::Error, never crash, read out
// of bounds or allocate more than the input holds.
#include <latent/io/npy.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const latent::io::NpyHeader header = latent::io::parse_npy_header(bytes, "fuzz.npy");
    // A header is accepted only when the data is exactly what its shape needs, up to the end of the input.
    if (header.data_offset + header.data_size != size) __builtin_trap();
    const auto t = latent::io::parse_npy<double>(bytes, "fuzz.npy");  // every dtype converts to float64
    if (static_cast<std::size_t>(t.numel()) * latent::io::detail::npy_item_size(header.dtype) != header.data_size)
      __builtin_trap();
    (void)latent::io::parse_npy<std::int64_t>(bytes, "fuzz.npy");  // throws for float data
  } catch (const latent::Error&) {
    // Rejected with a message: the expected outcome for malformed input.
  }
  return 0;
}

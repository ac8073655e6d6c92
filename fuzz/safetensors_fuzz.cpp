// libFuzzer harness for the safetensors reader: any bytes must either load or throw latent::Error, never crash,
// read out of bounds or allocate more than the input holds (every tensor's bytes come from the input).
#include <latent/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto file = latent::io::parse_safetensors(std::as_bytes(std::span(data, size)), "fuzz.safetensors");
    // The tensors tile the data section: together they hold no more bytes than the input.
    std::size_t bytes = 0;
    for (const auto& [name, t] : file.tensors) {
      if (name.empty()) __builtin_trap();
      bytes += std::visit([](const auto& x) { return static_cast<std::size_t>(x.numel()) * sizeof(*x.data()); }, t);
    }
    if (bytes > size) __builtin_trap();
  } catch (const latent::Error&) {
    // Rejected with a message: the expected outcome for malformed input.
  }
  return 0;
}

// Storage: a 64-byte-aligned, reference-counted buffer from the caching allocator, shared by a
// tensor and its views. memory_stats()/empty_cache() expose the allocator.
#pragma once

#include <cstddef>
#include <memory>

#define LATENT_INSIDE_CORE
#include "detail/allocator.hpp"
#undef LATENT_INSIDE_CORE

namespace latent {

class Storage {
 public:
  explicit Storage(std::size_t bytes) : bytes_(bytes), data_(detail::CachingAllocator::instance().allocate(bytes)) {}
  ~Storage() { detail::CachingAllocator::instance().deallocate(data_, bytes_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t bytes() const noexcept { return bytes_; }

  /// A new shared buffer of `bytes` bytes (uninitialised); handle and buffer both come from the cache.
  static std::shared_ptr<Storage> make(std::size_t bytes) {
    return std::allocate_shared<Storage>(detail::PoolAllocator<Storage>{}, bytes);
  }

 private:
  std::size_t bytes_;
  void* data_;
};

/// Counters of the caching allocator behind every tensor.
inline MemoryStats memory_stats() { return detail::CachingAllocator::instance().stats(); }
/// Returns cached small blocks and wholly free large segments to the system (detail/allocator.hpp: the policy).
inline void empty_cache() { detail::CachingAllocator::instance().empty_cache(); }

}  // namespace latent

// Caching, 64-byte-aligned allocator: freed blocks go to a free list of their size class and are
// handed out again, so a training loop in its steady state never reaches malloc. Also the pool
// behind tensor handles and autograd nodes (PoolAllocator).
#pragma once
#ifndef LATENT_INSIDE_CORE
#error "latent/core/detail/allocator.hpp is internal: include <latent/core/storage.hpp>"
#endif

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>

namespace latent {

/// Counters of the caching allocator (bytes are rounded up to size classes).
struct MemoryStats {
  std::size_t bytes_in_use = 0;     ///< handed out and not yet returned
  std::size_t bytes_cached = 0;     ///< returned and kept for reuse
  std::size_t peak_bytes_in_use = 0;
  std::size_t system_allocations = 0;  ///< blocks obtained from the system (cache misses)
  std::size_t cache_hits = 0;
};

namespace detail {

class CachingAllocator {
 public:
  static constexpr std::size_t alignment = 64;

  static CachingAllocator& instance() {
    static CachingAllocator* a = new CachingAllocator;  // leaked on purpose: outlives static tensors
    return *a;
  }

  void* allocate(std::size_t bytes) {
    const int cls = size_class(bytes);
    const std::size_t size = class_bytes(cls);
#ifndef LATENT_NO_CACHING_ALLOCATOR
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (FreeBlock* b = free_[cls]) {
        free_[cls] = b->next;
        stats_.bytes_cached -= size;
        stats_.cache_hits++;
        note_in_use(size);
        return b;
      }
    }
#endif
    void* p = ::operator new(size, std::align_val_t{alignment});
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.system_allocations++;
    note_in_use(size);
    return p;
  }

  void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    const int cls = size_class(bytes);
    const std::size_t size = class_bytes(cls);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= size;
#ifndef LATENT_NO_CACHING_ALLOCATOR
    auto* b = static_cast<FreeBlock*>(p);
    b->next = free_[cls];
    free_[cls] = b;
    stats_.bytes_cached += size;
#else
    ::operator delete(p, std::align_val_t{alignment});
#endif
  }

  /// Returns every cached block to the system.
  void empty_cache() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& head : free_) {
      while (head) {
        FreeBlock* next = head->next;
        ::operator delete(static_cast<void*>(head), std::align_val_t{alignment});
        head = next;
      }
    }
    stats_.bytes_cached = 0;
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  /// Size classes: 64 B, then four classes per power of two (at most 25% rounding waste).
  /// Class (log, q) holds blocks of 2^log + q * 2^log / 4 bytes, q = 1..4, for 2^log < bytes.
  static int size_class(std::size_t bytes) noexcept {
    if (bytes <= alignment) return 0;
    const int log = std::bit_width(bytes - 1) - 1;  // 2^log < bytes <= 2^(log+1), log >= 6
    const std::size_t base = std::size_t{1} << log, quarter = base / 4;
    const int q = static_cast<int>((bytes - base + quarter - 1) / quarter);  // 1..4
    return (log - 6) * 4 + q;
  }
  static std::size_t class_bytes(int cls) noexcept {
    if (cls == 0) return alignment;
    const int log = 6 + (cls - 1) / 4, q = (cls - 1) % 4 + 1;
    const std::size_t base = std::size_t{1} << log;
    const std::size_t size = base + base / 4 * static_cast<std::size_t>(q);
    return (size + alignment - 1) / alignment * alignment;
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static constexpr int num_classes = 4 * 64;

  void note_in_use(std::size_t size) noexcept {
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }

  std::mutex mutex_;
  FreeBlock* free_[num_classes] = {};
  MemoryStats stats_;
};

/// Standard allocator over the caching allocator, for std::allocate_shared of tensor handles and
/// graph nodes (their control blocks then never reach malloc in the steady state either).
template <class U>
struct PoolAllocator {
  using value_type = U;
  PoolAllocator() = default;
  template <class V>
  PoolAllocator(const PoolAllocator<V>&) noexcept {}
  U* allocate(std::size_t n) { return static_cast<U*>(CachingAllocator::instance().allocate(n * sizeof(U))); }
  void deallocate(U* p, std::size_t n) noexcept { CachingAllocator::instance().deallocate(p, n * sizeof(U)); }
  template <class V>
  bool operator==(const PoolAllocator<V>&) const noexcept { return true; }
};

}  // namespace detail
}  // namespace latent

// Caching, 64-byte-aligned allocator: freed blocks are kept and handed out again, so a training loop in its
// steady state never reaches malloc. Also the pool behind tensor handles and autograd nodes (PoolAllocator).
//
// Policy (CachingAllocator):
// - Small blocks (size class < large_block_bytes = 64 KiB): one free list per size class (four classes per power of
//   two, at most 25% rounding), LIFO, O(1); never given back except by empty_cache(). They are a small share of a
//   step's memory, and the per-op overhead of tiny tensors lives on this path.
// - Large blocks: carved out of segments obtained from the system, best fit over all free large blocks, split when
//   the rest is itself a large block, and merged with free neighbours when freed (the scheme of PyTorch's CUDA caching
//   allocator). Exact size classes kept one list per size: a step whose phases need different sizes (a GAN's G then
//   D, forward then backward) kept the largest count of each size at once, ~15 MiB more than the peak in use on W2;
//   splitting and merging let one phase's blocks serve the next one's sizes.
// - When a large request finds no free block that fits, segments that are wholly free are returned to the system
//   before a new one is requested, so blocks of sizes that are no longer used do not stay cached forever. In a
//   repeating step there are no misses after the first steps, hence no release and no system allocation.
// Segments come from mmap and go back with munmap (operator new where there is no mmap): through malloc, a freed
// segment would stay in glibc's heap and in the resident set. Each large block carries a 64-byte header in front
// of it (its size, its neighbours in the segment, its links in the free list); memory_stats() counts large blocks
// with their header, so bytes_in_use + bytes_cached is exactly what the allocator holds from the system
// (bytes_reserved). On W2 (DCGAN step) the bytes held at the peak fell from 61.8 to 48.1 MiB for a peak in use of
// 42.2 MiB; the allocation and free of a large block is a scan of the free large blocks (a few dozen) under the
// mutex, next to an op that reads and writes at least 64 KiB.
#pragma once
#ifndef LATENT_INSIDE_CORE
#error "latent/core/detail/allocator.hpp is internal: include <latent/core/storage.hpp>"
#endif

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define LATENT_ALLOCATOR_MMAP 1
#endif

// Under AddressSanitizer the user part of a free large block is poisoned, so a use after free (or a write running
// into a free neighbour) is reported although the memory stays in the allocator's segments.
#if defined(__SANITIZE_ADDRESS__)
#define LATENT_ALLOCATOR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LATENT_ALLOCATOR_ASAN 1
#endif
#endif
#ifdef LATENT_ALLOCATOR_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace latent {

/// Counters of the caching allocator (small blocks count their size class; large ones their request rounded up to
/// 64 bytes plus a 64-byte header, or the whole page-rounded segment when they are a new segment's only block).
struct MemoryStats {
  std::size_t bytes_in_use = 0;     ///< handed out and not yet returned
  std::size_t bytes_cached = 0;     ///< returned and kept for reuse
  std::size_t bytes_reserved = 0;   ///< held from the system: bytes_in_use + bytes_cached
  std::size_t peak_bytes_in_use = 0;
  std::size_t peak_bytes_reserved = 0;
  std::size_t system_allocations = 0;  ///< blocks or segments obtained from the system (cache misses)
  std::size_t system_releases = 0;     ///< blocks or segments given back to the system
  std::size_t cache_hits = 0;
};

namespace detail {

class CachingAllocator {
 public:
  static constexpr std::size_t alignment = 64;
  /// Requests whose size class is at least this go to the large-block heap.
  static constexpr std::size_t large_block_bytes = std::size_t{64} << 10;
  /// New segments are whole pages: a large miss reserves large_block_size(bytes) rounded up to this.
  static constexpr std::size_t page_bytes = 4096;

  static CachingAllocator& instance() {
    static CachingAllocator* a = new CachingAllocator;  // leaked on purpose: outlives static tensors
    return *a;
  }

  void* allocate(std::size_t bytes) {
    const int cls = size_class(bytes);
    const std::size_t size = class_bytes(cls);
#ifndef LATENT_NO_CACHING_ALLOCATOR
    if (size >= large_block_bytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      return allocate_large(bytes);
    }
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
    note_in_use(size);
    note_system_allocation();
    return p;
  }

  /// `bytes` must be the size given to allocate().
  void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    const int cls = size_class(bytes);
    const std::size_t size = class_bytes(cls);
    std::lock_guard<std::mutex> lock(mutex_);
#ifndef LATENT_NO_CACHING_ALLOCATOR
    if (size >= large_block_bytes) {
      deallocate_large(p);
      return;
    }
    stats_.bytes_in_use -= size;
    auto* b = static_cast<FreeBlock*>(p);
    b->next = free_[cls];
    free_[cls] = b;
    stats_.bytes_cached += size;
#else
    stats_.bytes_in_use -= size;
    stats_.system_releases++;
    ::operator delete(p, std::align_val_t{alignment});
#endif
  }

  /// Returns every cached small block and every wholly free large segment to the system.
  void empty_cache() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int cls = 0; cls < num_classes; ++cls) {
      if (!free_[cls]) continue;
      const std::size_t size = class_bytes(cls);  // only for classes in use (the last ones would overflow)
      while (FreeBlock* b = free_[cls]) {
        free_[cls] = b->next;
        ::operator delete(static_cast<void*>(b), std::align_val_t{alignment});
        stats_.bytes_cached -= size;
        stats_.system_releases++;
      }
    }
    release_free_segments();
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    MemoryStats s = stats_;
    s.bytes_reserved = s.bytes_in_use + s.bytes_cached;
    return s;
  }

  /// Small-block size classes: 64 B, then four classes per power of two (at most 25% rounding waste).
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
  /// What a large request of `bytes` occupies: the request rounded up to 64 bytes, plus the header.
  static std::size_t large_block_size(std::size_t bytes) noexcept {
    return (bytes + alignment - 1) / alignment * alignment + sizeof(LargeBlock);
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static constexpr int num_classes = 4 * 64;

  // The header in front of each large block. prev/next: the physical neighbours within the segment (null at its
  // ends); prev_free/next_free: the doubly linked list of free large blocks.
  struct alignas(64) LargeBlock {
    std::size_t size;  // with this header
    LargeBlock* prev;
    LargeBlock* next;
    LargeBlock* prev_free;
    LargeBlock* next_free;
    bool free;
  };
  static_assert(sizeof(LargeBlock) == alignment);

  // Out of line, so that allocate() and deallocate(), inlined into every tensor's creation, stay as small as the
  // small-block path they mostly run.
  [[gnu::noinline]] void* allocate_large(std::size_t bytes) {
    const std::size_t need = large_block_size(bytes);
    LargeBlock* best = nullptr;
    for (LargeBlock* b = free_large_; b; b = b->next_free) {
      if (b->size >= need && (!best || b->size < best->size)) {
        best = b;
        if (b->size == need) break;
      }
    }
    const bool cached = best != nullptr;
    if (cached) {
      unlink_free(best);
      set_poisoned(best, false);
      stats_.bytes_cached -= best->size;
      stats_.cache_hits++;
      if (best->size - need >= large_block_bytes) {  // split: the rest stays free
        auto* rest = reinterpret_cast<LargeBlock*>(reinterpret_cast<char*>(best) + need);
        *rest = LargeBlock{best->size - need, best, best->next, nullptr, nullptr, true};
        if (best->next) best->next->prev = rest;
        best->next = rest;
        best->size = need;
        set_poisoned(rest, true);
        link_free(rest);
        stats_.bytes_cached += rest->size;
      }
    } else {
      // A miss: give wholly free segments back first (they cannot hold this request), then a new segment.
      release_free_segments();
      const std::size_t segment = (need + page_bytes - 1) / page_bytes * page_bytes;
      best = static_cast<LargeBlock*>(map_segment(segment));
      *best = LargeBlock{segment, nullptr, nullptr, nullptr, nullptr, false};
    }
    best->free = false;
    note_in_use(best->size);
    if (!cached) note_system_allocation();
    return best + 1;
  }

  [[gnu::noinline]] void deallocate_large(void* p) noexcept {
    LargeBlock* b = static_cast<LargeBlock*>(p) - 1;
    stats_.bytes_in_use -= b->size;
    stats_.bytes_cached += b->size;
    b->free = true;
    if (LargeBlock* n = b->next; n && n->free) {  // merge the next block into b
      unlink_free(n);
      b->size += n->size;
      b->next = n->next;
      if (b->next) b->next->prev = b;
    }
    if (LargeBlock* q = b->prev; q && q->free) {  // merge b into the previous block (already in the list)
      q->size += b->size;
      q->next = b->next;
      if (q->next) q->next->prev = q;
      set_poisoned(q, true);
      return;
    }
    set_poisoned(b, true);
    link_free(b);
  }

  /// The user part of a large block (after its header), poisoned while the block is free (AddressSanitizer only).
  static void set_poisoned([[maybe_unused]] LargeBlock* b, [[maybe_unused]] bool poisoned) noexcept {
#ifdef LATENT_ALLOCATOR_ASAN
    if (poisoned) ASAN_POISON_MEMORY_REGION(b + 1, b->size - sizeof(LargeBlock));
    else ASAN_UNPOISON_MEMORY_REGION(b + 1, b->size - sizeof(LargeBlock));
#endif
  }

  void release_free_segments() noexcept {
    for (LargeBlock* b = free_large_; b;) {
      LargeBlock* next = b->next_free;
      if (!b->prev && !b->next) {  // the whole segment is this one free block
        unlink_free(b);
        stats_.bytes_cached -= b->size;
        stats_.system_releases++;
        set_poisoned(b, false);
        unmap_segment(b, b->size);
      }
      b = next;
    }
  }

  // Segments come straight from mmap (page-aligned) and go back with munmap, so a released segment leaves the
  // process at once; through malloc it would stay in glibc's heap (freeing an mmapped chunk raises glibc's mmap
  // threshold, and later segments would come from its heap, which is rarely trimmed).
  static void* map_segment(std::size_t bytes) {
#ifdef LATENT_ALLOCATOR_MMAP
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
#else
    return ::operator new(bytes, std::align_val_t{alignment});
#endif
  }
  static void unmap_segment(void* p, [[maybe_unused]] std::size_t bytes) noexcept {
#ifdef LATENT_ALLOCATOR_MMAP
    ::munmap(p, bytes);
#else
    ::operator delete(p, std::align_val_t{alignment});
#endif
  }

  void link_free(LargeBlock* b) noexcept {
    b->prev_free = nullptr;
    b->next_free = free_large_;
    if (free_large_) free_large_->prev_free = b;
    free_large_ = b;
  }
  void unlink_free(LargeBlock* b) noexcept {
    if (b->prev_free) b->prev_free->next_free = b->next_free;
    else free_large_ = b->next_free;
    if (b->next_free) b->next_free->prev_free = b->prev_free;
  }

  void note_in_use(std::size_t size) noexcept {
    stats_.bytes_in_use += size;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  }
  /// After a block from the system was handed out (the only way the reserved bytes, in use + cached, grow).
  void note_system_allocation() noexcept {
    stats_.system_allocations++;
    stats_.peak_bytes_reserved = std::max(stats_.peak_bytes_reserved, stats_.bytes_in_use + stats_.bytes_cached);
  }

  std::mutex mutex_;
  FreeBlock* free_[num_classes] = {};
  LargeBlock* free_large_ = nullptr;
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

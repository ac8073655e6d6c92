// The caching allocator behind every tensor (core/detail/allocator.hpp): small blocks share a free list per size
// class; large blocks are carved from segments by best fit, split and merged; wholly free segments go back to the
// system on a miss; the counters are exact. Oracles: the addresses handed out and the allocator's own counters.
// The large sizes (tens of MiB) exceed anything else the test process keeps cached, so the blocks below cannot be
// served from other tests' leftovers; they are never written, so they cost address space, not resident memory.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace latent;

namespace {

using A = detail::CachingAllocator;
constexpr std::size_t MiB = std::size_t{1} << 20;

A& alloc() { return A::instance(); }
// What a large miss reserves from the system for a request of `bytes`.
std::size_t segment_bytes(std::size_t bytes) { return (A::large_block_size(bytes) + A::page_bytes - 1) / A::page_bytes * A::page_bytes; }
char* as_bytes(void* p) { return static_cast<char*>(p); }

void check_consistent(const MemoryStats& s) {
  CHECK(s.bytes_reserved == s.bytes_in_use + s.bytes_cached);
  CHECK(s.peak_bytes_in_use >= s.bytes_in_use);
  CHECK(s.peak_bytes_reserved >= s.bytes_reserved);
}

}  // namespace

TEST_CASE("a freed small block serves a later request of a nearby size in the same class", "[allocator]") {
  // 4100 and 5000 bytes share the class (4096, 5120]: the second request gets the first one's block back.
  REQUIRE(A::size_class(4100) == A::size_class(5000));
  void* p = alloc().allocate(4100);
  alloc().deallocate(p, 4100);
  const auto before = memory_stats();
  void* q = alloc().allocate(5000);
  const auto after = memory_stats();
  CHECK(q == p);
  CHECK(after.system_allocations == before.system_allocations);
  CHECK(after.cache_hits == before.cache_hits + 1);
  CHECK(after.bytes_in_use == before.bytes_in_use + A::class_bytes(A::size_class(5000)));
  alloc().deallocate(q, 5000);
  check_consistent(memory_stats());
}

TEST_CASE("a large miss reserves one page-rounded segment and the counters account for it exactly", "[allocator]") {
  empty_cache();
  const auto before = memory_stats();
  const std::size_t bytes = 30 * MiB + 100;
  void* p = alloc().allocate(bytes);
  const auto mid = memory_stats();
  CHECK(reinterpret_cast<std::uintptr_t>(p) % A::alignment == 0);
  CHECK(mid.system_allocations == before.system_allocations + 1);
  CHECK(mid.bytes_in_use - before.bytes_in_use == segment_bytes(bytes));
  CHECK(mid.bytes_reserved - before.bytes_reserved == segment_bytes(bytes));
  CHECK(mid.peak_bytes_reserved >= mid.bytes_reserved);
  check_consistent(mid);
  alloc().deallocate(p, bytes);
  const auto after = memory_stats();
  CHECK(after.bytes_in_use == before.bytes_in_use);
  CHECK(after.bytes_cached - before.bytes_cached == segment_bytes(bytes));
  check_consistent(after);
  empty_cache();  // the segment is wholly free: it goes back to the system
  const auto emptied = memory_stats();
  CHECK(emptied.bytes_reserved == after.bytes_reserved - segment_bytes(bytes));
  CHECK(emptied.system_releases >= after.system_releases + 1);
  check_consistent(emptied);
}

TEST_CASE("a freed large block is split to serve smaller requests and merged again when they are freed", "[allocator]") {
  empty_cache();
  const std::size_t big = 40 * MiB, part = 15 * MiB;
  void* p = alloc().allocate(big);
  alloc().deallocate(p, big);
  const auto before = memory_stats();
  // Two smaller requests come out of the cached block, one after the other (best fit, no system allocation).
  void* q1 = alloc().allocate(part);
  void* q2 = alloc().allocate(part);
  const auto mid = memory_stats();
  CHECK(q1 == p);
  CHECK(as_bytes(q2) == as_bytes(q1) + A::large_block_size(part));
  CHECK(mid.system_allocations == before.system_allocations);
  CHECK(mid.cache_hits == before.cache_hits + 2);
  CHECK(mid.bytes_in_use - before.bytes_in_use == 2 * A::large_block_size(part));
  CHECK(mid.bytes_reserved == before.bytes_reserved);
  check_consistent(mid);
  // Freed in either order, the pieces merge back into one block that holds the original request again.
  alloc().deallocate(q2, part);
  alloc().deallocate(q1, part);
  void* r = alloc().allocate(big);
  CHECK(r == p);
  CHECK(memory_stats().system_allocations == before.system_allocations);
  alloc().deallocate(r, big);
  empty_cache();
}

TEST_CASE("blocks freed by one phase serve the sizes of the next phase", "[allocator]") {
  // A GAN step in miniature: phase A uses 4 blocks of 20 MiB, phase B then 6 blocks of 9 MiB. Per-size free
  // lists needed 6 new blocks for B (134 MiB held in all); splitting serves B from A's 80 MiB (two per block).
  empty_cache();
  std::vector<void*> a, b;
  for (int i = 0; i < 4; ++i) a.push_back(alloc().allocate(20 * MiB));
  for (void* p : a) alloc().deallocate(p, 20 * MiB);
  const auto before = memory_stats();
  for (int i = 0; i < 6; ++i) b.push_back(alloc().allocate(9 * MiB));
  const auto after = memory_stats();
  CHECK(after.system_allocations == before.system_allocations);
  CHECK(after.bytes_reserved == before.bytes_reserved);
  for (void* p : b) alloc().deallocate(p, 9 * MiB);
  check_consistent(memory_stats());
  empty_cache();
}

TEST_CASE("on a miss the allocator gives wholly free segments back before reserving more", "[allocator]") {
  empty_cache();
  // A 24 MiB block whose size is no longer used stays cached until a request it cannot hold misses.
  void* dead = alloc().allocate(24 * MiB);
  alloc().deallocate(dead, 24 * MiB);
  const auto cached = memory_stats();
  CHECK(cached.bytes_cached >= segment_bytes(24 * MiB));
  void* p = alloc().allocate(50 * MiB);
  const auto after = memory_stats();
  CHECK(after.system_allocations == cached.system_allocations + 1);
  CHECK(after.system_releases == cached.system_releases + 1);
  CHECK(after.bytes_cached == cached.bytes_cached - segment_bytes(24 * MiB));
  CHECK(after.bytes_reserved == cached.bytes_reserved - segment_bytes(24 * MiB) + segment_bytes(50 * MiB));
  check_consistent(after);
  // A segment that still holds a live block is kept.
  alloc().deallocate(p, 50 * MiB);
  void* live = alloc().allocate(10 * MiB);  // a piece of the 50 MiB segment
  const auto kept = memory_stats();
  void* q = alloc().allocate(60 * MiB);
  CHECK(memory_stats().system_releases == kept.system_releases);
  alloc().deallocate(q, 60 * MiB);
  alloc().deallocate(live, 10 * MiB);
  check_consistent(memory_stats());
  empty_cache();
}

TEST_CASE("a repeating pattern of mixed large sizes stops reaching the system after its first rounds", "[allocator]") {
  empty_cache();
  const std::size_t sizes[] = {21 * MiB, 9 * MiB + 4096, 33 * MiB, 17 * MiB, 9 * MiB};
  auto round = [&] {
    void* x = alloc().allocate(sizes[0]);
    void* y = alloc().allocate(sizes[1]);
    alloc().deallocate(x, sizes[0]);
    void* z = alloc().allocate(sizes[2]);
    void* w = alloc().allocate(sizes[3]);
    alloc().deallocate(y, sizes[1]);
    void* v = alloc().allocate(sizes[4]);
    alloc().deallocate(z, sizes[2]);
    alloc().deallocate(v, sizes[4]);
    alloc().deallocate(w, sizes[3]);
  };
  for (int i = 0; i < 3; ++i) round();
  const auto before = memory_stats();
  for (int i = 0; i < 5; ++i) round();
  const auto after = memory_stats();
  CHECK(after.system_allocations == before.system_allocations);
  CHECK(after.system_releases == before.system_releases);
  CHECK(after.bytes_reserved == before.bytes_reserved);
  empty_cache();
}

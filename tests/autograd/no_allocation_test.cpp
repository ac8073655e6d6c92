// A steady-state training step allocates nothing on the heap: buffers, tensor handles and graph nodes
// all come back from the caching allocator. The oracle is a replaced global operator new that counts.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

// AddressSanitizer replaces operator new itself; counting is meaningful only in plain builds.
#if !defined(__SANITIZE_ADDRESS__)

namespace {
std::atomic<long> heap_allocations{0};
thread_local bool counting = false;

void* counted_alloc(std::size_t n, std::size_t align) {
  if (counting) heap_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n, 0);
  } catch (...) {
    return nullptr;
  }
}
// The replacements below free what counted_alloc malloc'ed; GCC 12 at -O1 sees `operator new` on one side and free()
// on the other and warns (-Wmismatched-new-delete) without knowing that both are ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

using namespace latent;

TEST_CASE("a steady-state MLP training step with Adam performs zero heap allocations", "[autograd][allocation]") {
  Rng rng(3);
  auto x = randn<float>({64, 32}, rng);
  auto y = randn<float>({64, 1}, rng);
  nn::Linear<float> fc1({.in_features = 32, .out_features = 128}, rng), fc2({.in_features = 128, .out_features = 1}, rng);
  std::vector<Tensor<float>> params = fc1.parameters();
  for (const auto& p : fc2.parameters()) params.push_back(p);
  optim::Adam<float> opt(params, {.lr = 1e-3});

  // data -> forward -> zero grads -> backward -> update, as a user writes it
  auto step = [&] {
    auto loss = mse_loss(fc2(silu(fc1(x))), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    return loss.item();
  };
  const float first = step();
  for (int i = 0; i < 3; ++i) step();  // warm-up fills the allocator's caches and Adam's state

  heap_allocations = 0;
  counting = true;
  float last = 0;
  for (int i = 0; i < 5; ++i) last = step();
  counting = false;
  CHECK(heap_allocations.load() == 0);
  CHECK(last < first);  // and it is really training
}

#endif  // !__SANITIZE_ADDRESS__

# Build settings for latent's own targets (tests, examples, benchmarks, header check). None of this is put on the
# latent library target, so consumers never inherit our warnings or -march flags.

set(CMAKE_CXX_EXTENSIONS OFF)  # -std=c++20, not gnu++20: our code must build on any conforming compiler

# latent_warnings: -Wall -Wextra -Wpedantic -Werror. Dependencies (Eigen, Catch2, benchmark, libpng) come through
# imported targets, whose include directories are SYSTEM, so their own warnings cannot break -Werror.
add_library(latent_warnings INTERFACE)
if(MSVC)
  target_compile_options(latent_warnings INTERFACE /W4 /permissive- $<$<BOOL:${LATENT_WERROR}>:/WX>)
else()
  target_compile_options(latent_warnings INTERFACE -Wall -Wextra -Wpedantic $<$<BOOL:${LATENT_WERROR}>:-Werror>)
  # GCC 12 reports a false -Wrestrict inside libstdc++ for `"literal" + std::string` at -O3 (GCC bug 105329), and
  # a false -Wstringop-overflow for the same pattern once inlined (tests/io, io/safetensors.hpp with g++ 12.2), and a
  # false -Warray-bounds "pointer overflow" in its memcpy (`(i ? "," : "") + std::to_string(n)` in nn/unet.hpp, once
  # the test files no longer instantiate the ops and inline more).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(latent_warnings INTERFACE -Wno-restrict -Wno-stringop-overflow -Wno-array-bounds)
  endif()
  # GCC's sanitizer instrumentation produces -Wmaybe-uninitialized false positives (g++ 12 -O1 -fsanitize=address:
  # inside libstdc++'s std::function, via Catch2's <regex>); the unsanitized builds keep the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_FLAGS MATCHES "-fsanitize=")
    target_compile_options(latent_warnings INTERFACE -Wno-maybe-uninitialized)
  endif()
endif()

# latent_native: -march=native, plus -O3 except in Debug (examples and benchmarks).
# latent_native_release: -march=native in Release only (the tests and the shared instantiation library; Debug and
# sanitizer builds stay portable). The optimisation level is their own: -O3 for the instantiations, -O1 for tests.
add_library(latent_native INTERFACE)
add_library(latent_native_release INTERFACE)
if(LATENT_NATIVE AND NOT MSVC)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native LATENT_COMPILER_HAS_MARCH_NATIVE)
  if(LATENT_COMPILER_HAS_MARCH_NATIVE)
    set(_native_flags -march=native)
    # A GCC 12 bug (Debian 12's g++ 12.2): it warns "'__Y' is used uninitialized" inside its own AVX-512 intrinsics
    # (avx512fintrin.h's `__m512 __Y = __Y;`) wherever Eigen's AVX-512 packets are inlined -- every GEMM, exp, tanh --
    # despite -isystem. The self-initialisation idiom is exempt unless -Winit-self (part of -Wall in C++) is on, so a
    # compiler with that bug gets -Wno-init-self in native builds; -Wuninitialized stays on.
    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS "-O2 -march=native -Wall -Werror")
    check_cxx_source_compiles([[
      #include <immintrin.h>
      #ifdef __AVX512F__
      __m512 max0(__m512 a, __m512 b) { return _mm512_max_ps(a, b); }
      #endif
      int main() { return 0; }]] LATENT_NATIVE_INTRINSICS_WARNING_FREE)
    unset(CMAKE_REQUIRED_FLAGS)
    if(NOT LATENT_NATIVE_INTRINSICS_WARNING_FREE)
      list(APPEND _native_flags -Wno-init-self)
      message(STATUS "latent: this compiler's AVX-512 intrinsics trip -Winit-self; native builds add -Wno-init-self")
    endif()
    target_compile_options(latent_native INTERFACE ${_native_flags} "$<$<NOT:$<CONFIG:Debug>>:-O3>")
    target_compile_options(latent_native_release INTERFACE "$<$<CONFIG:Release>:${_native_flags}>")
  endif()
endif()

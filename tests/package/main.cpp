// Package consumer: a fresh project that includes latent the way users do and prints the version it was built
// against. tests/package/run.cmake builds it through find_package, add_subdirectory and FetchContent.
// Usage: latent_consumer [expected-version]   (exit status 1 when the headers report another version)
#include <latent/latent.hpp>
#include <latent/version.hpp>

#include <cstdio>
#include <cstring>

static_assert(LATENT_VERSION == LATENT_VERSION_MAJOR * 10000 + LATENT_VERSION_MINOR * 100 + LATENT_VERSION_PATCH,
              "LATENT_VERSION must encode MAJOR.MINOR.PATCH");

int main(int argc, char** argv) {
#ifdef LATENT_HAVE_PNG
  const char* png = "yes";
#else
  const char* png = "no";
#endif
  std::printf("latent %s (C++ %ld, png %s)\n", LATENT_VERSION_STRING, static_cast<long>(__cplusplus), png);
  if (argc > 1 && std::strcmp(argv[1], LATENT_VERSION_STRING) != 0) {
    std::fprintf(stderr, "expected latent %s, headers say %s\n", argv[1], LATENT_VERSION_STRING);
    return 1;
  }
  return 0;
}

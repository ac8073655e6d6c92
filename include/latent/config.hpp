// User-overridable configuration macros. Define them before including any latent header.
//
//   LATENT_NO_OPENMP      do not use OpenMP even when the compiler enables it (everything runs serially)
//   LATENT_DEBUG_CHECKS   extra internal consistency checks (bounds, version counters) on hot paths
//   LATENT_MAX_RANK       largest tensor rank (default 8)
//   LATENT_HAVE_CBLAS     1: large matrix products call OpenBLAS's cblas_sgemm/dgemm (set by latent's CMake package
//                         when it found OpenBLAS; then link OpenBLAS yourself if you do not use the CMake target)
#pragma once

#if defined(_OPENMP) && !defined(LATENT_NO_OPENMP)
#define LATENT_HAS_OPENMP 1
#else
#define LATENT_HAS_OPENMP 0
#endif

#ifndef LATENT_HAVE_CBLAS
#define LATENT_HAVE_CBLAS 0
#endif

#ifndef LATENT_MAX_RANK
#define LATENT_MAX_RANK 8
#endif

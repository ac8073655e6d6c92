// latent's version, in one place. CMake reads it from here; file provenance writes LATENT_VERSION_STRING.
#pragma once

#define LATENT_VERSION_MAJOR 0
#define LATENT_VERSION_MINOR 1
#define LATENT_VERSION_PATCH 0
#define LATENT_VERSION (LATENT_VERSION_MAJOR * 10000 + LATENT_VERSION_MINOR * 100 + LATENT_VERSION_PATCH)
#define LATENT_VERSION_STRING "0.1.0"

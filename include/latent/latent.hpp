// latent: train and sample generative models on the CPU. The one include users need.
#pragma once

#include "version.hpp"
#include "config.hpp"

#include "core/error.hpp"
#include "core/checks.hpp"
#include "core/shape.hpp"
#include "core/scalar.hpp"
#include "core/storage.hpp"
#include "core/tensor.hpp"
#include "core/factory.hpp"
#include "core/rng.hpp"
#include "core/state_dict.hpp"
#include "core/print.hpp"

#include "kernels/parallel.hpp"

#include "autograd/grad_mode.hpp"
#include "autograd/anomaly.hpp"
#include "autograd/engine.hpp"

#include "ops/ops.hpp"
#include "ops/attention.hpp"
#include "ops/rope.hpp"

#include "nn/module.hpp"
#include "nn/init.hpp"
#include "nn/linear.hpp"
#include "nn/conv.hpp"
#include "nn/norm.hpp"
#include "nn/embedding.hpp"
#include "nn/activation.hpp"
#include "nn/dropout.hpp"
#include "nn/container.hpp"
#include "nn/mlp.hpp"
#include "nn/attention.hpp"
#include "nn/gpt.hpp"
#include "nn/unet.hpp"
#include "nn/spectral_norm.hpp"

#include "optim/optimizer.hpp"
#include "optim/sgd.hpp"
#include "optim/adam.hpp"
#include "optim/schedule.hpp"
#include "optim/clip.hpp"
#include "optim/ema.hpp"

#include "models/concepts.hpp"
#include "models/diffusion/schedule.hpp"
#include "models/diffusion/samplers.hpp"
#include "models/diffusion/diffusion.hpp"
#include "models/flow_matching.hpp"
#include "models/vae.hpp"
#include "models/vae_nets.hpp"
#include "models/gan.hpp"
#include "models/gan_nets.hpp"
#include "models/sampling.hpp"
#include "models/autoregressive.hpp"

#include "metrics/mmd.hpp"
#include "metrics/c2st.hpp"
#include "metrics/likelihood.hpp"
#include "metrics/mode_coverage.hpp"
#include "metrics/frechet.hpp"
#include "metrics/digit_classifier.hpp"

#include "data/dataset.hpp"
#include "data/toy2d.hpp"
#include "data/idx.hpp"
#include "data/digits.hpp"
#include "data/text.hpp"
#include "data/tokenizer.hpp"

#include "io/npy.hpp"
#include "io/safetensors.hpp"
#include "io/checkpoint.hpp"
#include "io/log.hpp"
#include "io/png.hpp"
#include "io/wav.hpp"

#include "testing/gradcheck.hpp"
#include "testing/reference.hpp"

// Opt-in (LATENT_EXTERN_TEMPLATES): kernels and ops for float/double are instantiated once elsewhere, see the file.
#ifdef LATENT_EXTERN_TEMPLATES
#define LATENT_INSIDE_LATENT_HPP
#include "detail/extern_templates.hpp"
#endif

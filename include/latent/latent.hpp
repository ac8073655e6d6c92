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

#include "kernels/parallel.hpp"

#include "autograd/grad_mode.hpp"
#include "autograd/engine.hpp"

#include "ops/ops.hpp"
#include "testing/gradcheck.hpp"

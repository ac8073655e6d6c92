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
#include "autograd/engine.hpp"

#include "ops/ops.hpp"

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

#include "optim/optimizer.hpp"
#include "optim/sgd.hpp"
#include "optim/adam.hpp"
#include "optim/schedule.hpp"
#include "optim/clip.hpp"
#include "optim/ema.hpp"

#include "io/png.hpp"

#include "testing/gradcheck.hpp"
#include "testing/reference.hpp"

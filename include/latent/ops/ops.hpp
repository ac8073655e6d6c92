// Every differentiable op, in dependency order.
#pragma once

#include "elementwise.hpp"
#include "activation.hpp"
#include "reduce.hpp"
#include "shape_ops.hpp"
#include "linalg.hpp"
#include "softmax.hpp"
#include "loss.hpp"
#include "norm.hpp"
#include "conv.hpp"
#include "random.hpp"

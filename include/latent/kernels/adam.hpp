// Fused Adam/AdamW update over contiguous buffers: per block of a parameter, the two moment updates and
// the parameter update run back to back (torch 1.13's single-tensor formulas, torch/optim/adam.py, adamw.py).
#pragma once

#include <algorithm>

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

/// The scalars of one Adam step of one parameter. optim/adam.hpp computes them in double, as torch does
/// with Python floats, and rounds them to T, as torch does when it applies a Python scalar to a T tensor.
template <class T>
struct AdamStep {
  T beta1;
  T one_minus_beta1;
  T beta2;
  T one_minus_beta2;
  T weight_decay;           ///< Adam's L2 term, added to the gradient; 0 for AdamW
  T param_scale;            ///< AdamW's decoupled decay 1 - lr * weight_decay; 1 for Adam
  T bias_correction2_sqrt;  ///< sqrt(1 - beta2^t)
  T eps;
  T neg_step_size;          ///< -lr / (1 - beta1^t)
};

namespace detail {

// One block. `g` is the gradient seen by the moments: the raw gradient, or Adam's g + wd * p (an Eigen
// expression over p, read before p is written). Each line is torch's in-place op sequence, rounding for
// rounding (no fused multiply-add in either, up to what the compiler contracts):
//   m ← m β1 + (1 − β1) g                      exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
//   v ← v β2 + ((1 − β2) g) g                  exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//   v̂ ← max(v̂, v)  (amsgrad)                   torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=...)
//   p ← p s + (−step_size m) / (√v̂ / √(1 − β2^t) + eps)
//        param.mul_(1 - lr * wd) (AdamW) then param.addcdiv_(exp_avg, denom, value=-step_size)
template <class T, class Grad>
void adam_block(ArrayMap<T>& p, const Grad& g, ArrayMap<T>& m, ArrayMap<T>& v, T* v_max, const AdamStep<T>& s) {
  m = m * s.beta1 + s.one_minus_beta1 * g;
  v = v * s.beta2 + (s.one_minus_beta2 * g) * g;
  const bool decay = s.param_scale != T(1);
  if (v_max) {
    ArrayMap<T> vm(v_max, v.size());
    vm = vm.max(v);
    if (decay) p = p * s.param_scale + (s.neg_step_size * m) / (vm.sqrt() / s.bias_correction2_sqrt + s.eps);
    else p = p + (s.neg_step_size * m) / (vm.sqrt() / s.bias_correction2_sqrt + s.eps);
  } else {
    if (decay) p = p * s.param_scale + (s.neg_step_size * m) / (v.sqrt() / s.bias_correction2_sqrt + s.eps);
    else p = p + (s.neg_step_size * m) / (v.sqrt() / s.bias_correction2_sqrt + s.eps);
  }
}

}  // namespace detail

/// One Adam/AdamW step over n elements, in place: param, exp_avg, exp_avg_sq and (amsgrad, else null)
/// max_exp_avg_sq. No allocation; blocks of a large parameter run in parallel (the result does not depend
/// on the split: every element is computed alone).
template <class T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, index_t n, const AdamStep<T>& s) {
  // 2048 elements x 4-5 buffers stay in L1/L2 between the statements of one block.
  constexpr index_t block = 2048;
  const index_t blocks = (n + block - 1) / block;
  // Work: ~4 elementwise operations per element (seven streams, a square root and a division, all vectorized). At 16
  // per element, W4's 16k-element weights were split over 2 threads, and its step ran slower on 2 threads than on 1.
  parallel_for(0, blocks, n * 4, [&](index_t b) {
    const index_t begin = b * block, len = std::min(block, n - begin);
    ArrayMap<T> p(param + begin, len), m(exp_avg + begin, len), v(exp_avg_sq + begin, len);
    const ConstArrayMap<T> g(grad + begin, len);
    T* v_max = max_exp_avg_sq ? max_exp_avg_sq + begin : nullptr;
    // torch adds the L2 term only when weight_decay != 0 (g + 0 p would turn an infinite p into NaN).
    if (s.weight_decay != T(0)) detail::adam_block(p, g + s.weight_decay * p, m, v, v_max, s);
    else detail::adam_block(p, g, m, v, v_max, s);
  });
}

}  // namespace latent::kernels

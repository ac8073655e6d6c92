// Normalisation, functional forms: layer_norm, group_norm, batch_norm (with running statistics). Each is one fused op:
// the forward and the plain backward are single kernels (kernels/norm.hpp); under create_graph the backward is written
// with differentiable ops, so second-order gradients (penalties through a normalised critic) still work.
// layer_norm_linear: a layer norm and the product after it as one node that keeps the rows before normalisation only.
#pragma once

#include "../kernels/norm.hpp"
#include "linalg.hpp"
#include "shape_ops.hpp"

namespace latent {

namespace ops_detail {

/// weight/bias of shape [C] viewed as [1, C, 1, ...] for an input of rank r.
template <Scalar T>
Tensor<T> channel_view(const Tensor<T>& t, int rank) {
  Shape s{1, t.numel()};
  for (int i = 2; i < rank; ++i) s.push_back(1);
  return reshape(t, s);
}

/// x̂ = (x - mean) · rstd over `dims` (biased variance), composed of differentiable ops, with its rstd.
template <Scalar T>
struct Normalized {
  Tensor<T> xhat, rstd;
};
template <Scalar T>
Normalized<T> normalize_parts(const Tensor<T>& x, const Dims& dims, double eps) {
  const Tensor<T> centered = sub(x, mean(x, dims, true));
  const Tensor<T> rstd = rsqrt(add_scalar(mean(mul(centered, centered), dims, true), static_cast<T>(eps)));
  return {mul(centered, rstd), rstd};
}

/// The gradient in x of x̂ = normalize(x) over `dims` for an incoming gradient ĝ of x̂, composed of ops (create_graph):
/// rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)).
template <Scalar T>
Tensor<T> normalize_input_grad(const Normalized<T>& p, const Tensor<T>& ghat, const Dims& dims) {
  return mul(p.rstd, sub(sub(ghat, mean(ghat, dims, true)), mul(p.xhat, mean(mul(ghat, p.xhat), dims, true))));
}

// The fused ops' nodes: inputs {x, weight if any, bias if any}; ints[2] = has weight, ints[3] = has bias; reals[0] = eps;
// saved = {mean, rstd} (per row for layer/group norm, per channel for batch norm).
template <class T>
void record_norm(autograd::Node<T>& n, bool has_weight, bool has_bias, double eps, const Tensor<T>& m, const Tensor<T>& rstd) {
  n.ints[2] = has_weight;
  n.ints[3] = has_bias;
  n.reals[0] = eps;
  n.saved.push_back(m);
  n.saved.push_back(rstd);
}
template <Scalar T>
autograd::Node<T>* make_norm_node(Tensor<T>& y, const char* name, typename autograd::Node<T>::BackwardFn backward,
                                  const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b) {
  if (w.defined() && b.defined()) return autograd::make_node(y, name, backward, {x, w, b});
  if (w.defined()) return autograd::make_node(y, name, backward, {x, w});
  if (b.defined()) return autograd::make_node(y, name, backward, {x, b});
  return autograd::make_node(y, name, backward, {x});
}

// ---- layer_norm and group_norm: rows normalised on their own (kernels::RowLayout) -----------------------------------
// ints[0] = groups, ints[1] = normalised trailing dimensions (layer_norm) or 0 (group_norm).

inline kernels::RowLayout row_layout(const Shape& s, index_t groups, index_t normalized_dims) {
  kernels::RowLayout l;
  const index_t numel = s.numel();
  if (normalized_dims > 0) {
    l.group_channels = s.prod(s.rank() - static_cast<int>(normalized_dims), s.rank());
    l.rows = l.group_channels > 0 ? numel / l.group_channels : 0;
  } else {
    const index_t N = s[0], C = s[1];
    l.groups = groups;
    l.group_channels = C / groups;
    l.rows = N * groups;
    l.inner = N * C > 0 ? numel / (N * C) : 0;
  }
  return l;
}

// The inputs of a fused norm's node after x: the weight and the bias, each when present (ints[2], ints[3]).
template <class T>
struct AffineInputs {
  Tensor<T> w;         // undefined without a weight
  std::size_t wi, bi;  // input slots of the weight and the bias
  bool has_w, need_x, need_w, need_b;
};
template <class T>
AffineInputs<T> affine_inputs(const autograd::Node<T>& n) {
  const bool has_w = n.ints[2] != 0, has_b = n.ints[3] != 0;
  const std::size_t wi = 1, bi = has_w ? 2 : 1;
  return {has_w ? n.inputs[wi] : Tensor<T>(), wi, bi, has_w, n.needs_grad(0), has_w && n.needs_grad(wi),
          has_b && n.needs_grad(bi)};
}

// y = x̂ w + b per row: dx = rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) with ĝ = g w,  dw = Σ g x̂,  db = Σ g.
template <class T>
void row_norm_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const auto [w, wi, bi, has_w, need_x, need_w, need_b] = affine_inputs(n);
  const index_t groups = n.ints[0], nd = n.ints[1];
  if (!is_grad_enabled()) {
    const kernels::RowLayout l = row_layout(x.shape(), groups, nd);
    const T* m = n.saved[0].data();
    const T* rs = n.saved[1].data();
    if (need_x) {
      auto dx = Tensor<T>::empty(x.shape());
      if (x.numel() > 0) kernels::row_norm_backward_input(x.data(), has_w ? w.data() : static_cast<const T*>(nullptr), g.data(), m, rs, dx.data(), l);
      grads[0] = dx;
    }
    if (need_w || need_b) {
      const Shape ps = has_w ? w.shape() : n.inputs[bi].shape();
      auto dw = need_w ? zeros<T>(ps) : Tensor<T>(), db = need_b ? zeros<T>(ps) : Tensor<T>();
      if (x.numel() > 0)
        kernels::row_norm_backward_affine(x.data(), g.data(), m, rs, need_w ? dw.data() : static_cast<T*>(nullptr),
                                          need_b ? db.data() : static_cast<T*>(nullptr), l);
      if (need_w) grads[wi] = dw;
      if (need_b) grads[bi] = db;
    }
    return;
  }
  // create_graph: the same rule composed of ops, the statistics recomputed from x so that they are differentiated too.
  const Shape& xs = x.shape();
  Dims dims;        // the normalised dimensions of the view xv
  Tensor<T> xv = x;  // layer_norm: x itself; group_norm: [N, groups, rest]
  Tensor<T> wv = w;  // the weight broadcast against x
  Dims affine_dims;  // group_norm: the dimensions summed for dw, db
  if (nd > 0) {
    for (int d = x.rank() - static_cast<int>(nd); d < x.rank(); ++d) dims.push_back(d);
  } else {
    xv = reshape(x, Shape{xs[0], groups, x.numel() / std::max<index_t>(xs[0] * groups, 1)});
    dims = {2};
    if (has_w) wv = channel_view(w, x.rank());
    affine_dims.push_back(0);
    for (int d = 2; d < x.rank(); ++d) affine_dims.push_back(d);
  }
  const Normalized<T> p = normalize_parts(xv, dims, n.reals[0]);
  if (need_x) {
    const Tensor<T> ghat = has_w ? mul(g, wv) : g;
    grads[0] = reshape(normalize_input_grad(p, reshape(ghat, xv.shape()), dims), xs);
  }
  const auto reduce_affine = [&](const Tensor<T>& t, const Shape& ps) {
    return nd > 0 ? sum_to(t, ps) : reshape(sum(t, affine_dims), ps);
  };
  if (need_w) grads[wi] = reduce_affine(mul(g, reshape(p.xhat, xs)), w.shape());
  if (need_b) grads[bi] = reduce_affine(g, n.inputs[bi].shape());
}

template <Scalar T>
Tensor<T> row_norm_op(const char* name, const Tensor<T>& x, index_t groups, index_t normalized_dims, const Tensor<T>& w, const Tensor<T>& b,
                      double eps) {
  const kernels::RowLayout l = row_layout(x.shape(), groups, normalized_dims);
  auto y = Tensor<T>::empty(x.shape());
  auto m = Tensor<T>::empty({l.rows}), rs = Tensor<T>::empty({l.rows});
  if (x.numel() > 0)
    kernels::row_norm_forward(x.data(), w.defined() ? w.data() : static_cast<const T*>(nullptr),
                              b.defined() ? b.data() : static_cast<const T*>(nullptr),
                              y.data(), m.data(), rs.data(), l, eps);
  if (auto* node = make_norm_node(y, name, &row_norm_backward<T>, x, w, b)) {
    node->ints[0] = groups;
    node->ints[1] = normalized_dims;
    record_norm(*node, w.defined(), b.defined(), eps, m, rs);
  }
  return y;
}

}  // namespace ops_detail

/// Normalises over the last `normalized_dims` dimensions, then y = x̂ ⊙ weight + bias (either may be
/// undefined). weight/bias have the shape of those dimensions.
template <Scalar T>
Tensor<T> layer_norm(const Tensor<T>& x, int normalized_dims, const Tensor<T>& weight = {}, const Tensor<T>& bias = {}, double eps = 1e-5) {
  LATENT_CHECK(normalized_dims >= 1 && normalized_dims <= x.rank(), ShapeError,
               "layer_norm: cannot normalise the last " + std::to_string(normalized_dims) + " dimensions of " + x.shape().str());
  Shape affine;
  for (int d = x.rank() - normalized_dims; d < x.rank(); ++d) affine.push_back(x.shape()[d]);
  if (weight.defined()) check_same_shape("layer_norm", "weight", weight.shape(), "normalized shape", affine);
  if (bias.defined()) check_same_shape("layer_norm", "bias", bias.shape(), "normalized shape", affine);
  return ops_detail::row_norm_op("layer_norm", x, 1, normalized_dims, weight, bias, eps);
}

namespace ops_detail {
/// For a fused node n whose inputs 0, 1, 2 are a norm's x, weight and bias (undefined when absent) and whose backward
/// recorded that norm again as `norm` (inputs: x, then the weight and bias that are defined): applies norm's own
/// rule to g and hands the results to n's gradients.
template <class T>
void apply_norm_rule(autograd::Node<T>& norm, const Tensor<T>& g, const autograd::Node<T>& n, autograd::TensorList<T>& grads) {
  autograd::TensorList<T> norm_grads;
  norm_grads.resize(norm.inputs.size());
  norm.backward(norm, g, norm_grads);
  std::size_t k = 0;
  for (std::size_t i = 0; i < 3; ++i)
    if (n.inputs[i].defined()) {
      if (n.needs_grad(i)) grads[i] = norm_grads[k];
      ++k;
    }
}

// y = linear(layer_norm(x, ln_w, ln_b), W, b) over x's last dimension. inputs {x, ln_w, ln_b, W, b} (undefined when
// absent), reals[0] = eps. The backward normalises x again as a recorded layer_norm, so that the layer norm's own rule
// (fused kernel, or ops under create_graph) gives x's, ln_w's and ln_b's gradients from g W:
//   x̂ = layer_norm(x),  dW = gᵀ x̂,  db = Σ_rows g,  (dx, d ln_w, d ln_b) = layer_norm's rule applied to g W.
template <class T>
void layer_norm_linear_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const Tensor<T>& w = n.inputs[3];
  Tensor<T> normalized;
  {
    EnableGradGuard record(true);  // a node for layer_norm's rule (none when x, ln_w and ln_b need no gradient)
    normalized = layer_norm(x, 1, n.inputs[1], n.inputs[2], n.reals[0]);
  }
  autograd::Node<T>* norm = normalized.grad_fn().get();
  if (n.needs_grad(3)) grads[3] = mm(g, normalized, true, false, false);  // recorded under create_graph only
  if (n.needs_grad(4)) grads[4] = sum(reshape(g, Shape{x.shape().prod(0, x.rank() - 1), w.shape()[0]}), 0);
  if (norm) apply_norm_rule(*norm, mm(g, w, false, false, false), n, grads);
}
}  // namespace ops_detail

/// linear(layer_norm(x, 1, ln_weight, ln_bias, eps), weight, bias) as one graph node that keeps x but not the
/// normalised rows, which the backward computes again (a pass over x, next to the two products the backward runs
/// anyway). A pre-LayerNorm transformer block keeps both its layer norms' inputs (the residual stream) and their
/// outputs (the projections' inputs); this drops the outputs (on W3's char-GPT, 3.4 of the 30 MiB a training step
/// holds at its peak). Same values and gradients (of any order) as the composition.
template <Scalar T>
Tensor<T> layer_norm_linear(const Tensor<T>& x, const Tensor<T>& ln_weight, const Tensor<T>& ln_bias, const Tensor<T>& weight,
                            const Tensor<T>& bias = Tensor<T>(), double eps = 1e-5) {
  Tensor<T> y;
  {
    NoGradGuard no_grad;  // the normalised rows live only as long as the product needs them
    y = linear(layer_norm(x, 1, ln_weight, ln_bias, eps), weight, bias);
  }
  if (auto* node = autograd::make_node(y, "layer_norm_linear", &ops_detail::layer_norm_linear_backward<T>, {x, ln_weight, ln_bias, weight, bias}))
    node->reals[0] = eps;
  return y;
}

/// Group normalisation of x [N, C, ...] with `groups` groups of C / groups channels.
template <Scalar T>
Tensor<T> group_norm(const Tensor<T>& x, index_t groups, const Tensor<T>& weight = {}, const Tensor<T>& bias = {}, double eps = 1e-5) {
  LATENT_CHECK(x.rank() >= 2, ShapeError, "group_norm: input " + x.shape().str() + " must be [N, C, ...]");
  const index_t C = x.shape()[1];
  LATENT_CHECK(groups > 0 && C % groups == 0, ShapeError,
               "group_norm: " + std::to_string(C) + " channels of input " + x.shape().str() + " are not divisible into " + std::to_string(groups) + " groups");
  if (weight.defined()) check_same_shape("group_norm", "weight", weight.shape(), "channels", Shape{C});
  if (bias.defined()) check_same_shape("group_norm", "bias", bias.shape(), "channels", Shape{C});
  return ops_detail::row_norm_op("group_norm", x, groups, 0, weight, bias, eps);
}

namespace ops_detail {

// ---- batch_norm with batch statistics: x [N, C, ...] viewed as [N, C, S] (kernels::ChannelLayout) --------------------

inline kernels::ChannelLayout channel_layout(const Shape& s) {
  kernels::ChannelLayout l;
  l.batch = s[0];
  l.channels = s[1];
  l.inner = s[0] * s[1] > 0 ? s.numel() / (s[0] * s[1]) : 0;
  return l;
}
inline Dims batch_norm_dims(int rank) {
  Dims dims{0};
  for (int d = 2; d < rank; ++d) dims.push_back(d);
  return dims;
}

// y = x̂ w + b with per-channel statistics over M = N·S values:
//   dx = w rstd (g - Σg / M - x̂ Σ(g x̂) / M) = g·k1 + x·k2 + k3,  dw = Σ g x̂,  db = Σ g.
template <class T>
void batch_norm_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const auto [w, wi, bi, has_w, need_x, need_w, need_b] = affine_inputs(n);
  const index_t C = x.shape()[1];
  if (!is_grad_enabled()) {
    const kernels::ChannelLayout l = channel_layout(x.shape());
    const T* m = n.saved[0].data();
    const T* rs = n.saved[1].data();
    auto sum_g = Tensor<T>::empty({C}), sum_gx = Tensor<T>::empty({C});
    kernels::channel_grad_sums(x.data(), g.data(), m, l, sum_g.data(), sum_gx.data());
    if (need_x) {
      auto k = Tensor<T>::empty({3, C});
      T* k1 = k.data();
      T* k2 = k1 + C;
      T* k3 = k2 + C;
      const T inv = T(1) / static_cast<T>(l.count());
      for (index_t c = 0; c < C; ++c) {
        const T wr = (has_w ? w.data()[c] : T(1)) * rs[c];
        k1[c] = wr;
        k2[c] = -wr * rs[c] * rs[c] * sum_gx.data()[c] * inv;
        k3[c] = -wr * sum_g.data()[c] * inv - m[c] * k2[c];
      }
      const Tensor<T> dx = overwritable(g) ? g : Tensor<T>::empty(x.shape());  // elementwise: may run over g
      kernels::channel_combine(g.data(), k1, x.data(), k2, k3, dx.data(), l);
      grads[0] = dx;
    }
    if (need_w) {
      auto dw = Tensor<T>::empty({C});
      for (index_t c = 0; c < C; ++c) dw.data()[c] = sum_gx.data()[c] * rs[c];
      grads[wi] = dw;
    }
    if (need_b) grads[bi] = sum_g;
    return;
  }
  // create_graph: the same rule composed of ops, the statistics recomputed from x so that they are differentiated too.
  const Dims dims = batch_norm_dims(x.rank());
  const Normalized<T> p = normalize_parts(x, dims, n.reals[0]);
  if (need_x) grads[0] = normalize_input_grad(p, has_w ? mul(g, channel_view(w, x.rank())) : g, dims);
  if (need_w) grads[wi] = reshape(sum(mul(g, p.xhat), dims), Shape{C});
  if (need_b) grads[bi] = reshape(sum(g, dims), Shape{C});
}

}  // namespace ops_detail

/// The arguments of batch_norm but the input, for the ops that fuse a batch norm with what follows it
/// (batch_norm_relu_conv2d, batch_norm_relu_conv_transpose2d in ops/conv.hpp) and nn::BatchNorm's functional_args.
template <Scalar T>
struct BatchNormArgs {
  Tensor<T> running_mean, running_var, weight, bias;
  bool training = true;
  double momentum = 0.1, eps = 1e-5;
};

/// Batch normalisation of x [N, C] or [N, C, ...]. In training, normalises with the batch statistics
/// and updates running_mean/running_var in place (momentum as in PyTorch, unbiased running variance);
/// in evaluation, uses the running statistics. Undefined running tensors mean none are tracked.
template <Scalar T>
Tensor<T> batch_norm(const Tensor<T>& x, const Tensor<T>& running_mean, const Tensor<T>& running_var, const Tensor<T>& weight,
                     const Tensor<T>& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
  LATENT_CHECK(x.rank() >= 2, ShapeError, "batch_norm: input " + x.shape().str() + " must be [N, C, ...]");
  const index_t C = x.shape()[1];
  for (const Tensor<T>* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined()) check_same_shape("batch_norm", "parameter", t->shape(), "channels", Shape{C});
  LATENT_CHECK(running_mean.defined() == running_var.defined(), ValueError,
               "batch_norm: running_mean and running_var must be given together (or neither)");
  const kernels::ChannelLayout l = ops_detail::channel_layout(x.shape());
  const T* w = weight.defined() ? weight.data() : nullptr;
  const T* b = bias.defined() ? bias.data() : nullptr;
  auto y = Tensor<T>::empty(x.shape());
  if (training || !running_mean.defined()) {
    const index_t count = C > 0 ? x.numel() / C : 0;
    LATENT_CHECK(count > 1 || !training, ValueError, "batch_norm: training needs more than one value per channel, got input " + x.shape().str());
    auto m = Tensor<T>::empty({C}), rs = Tensor<T>::empty({C}), k = Tensor<T>::empty({2, C});
    T* var = rs.data();  // the variance, turned into rstd below
    if (x.numel() > 0) kernels::channel_moments(x.data(), l, m.data(), var);
    if (training && running_mean.defined()) {
      const T mom = static_cast<T>(momentum);
      const T unbias = static_cast<T>(count) / static_cast<T>(count - 1);
      T* rm = running_mean.data();
      T* rv = running_var.data();
      for (index_t c = 0; c < C; ++c) {
        rm[c] = rm[c] * (T(1) - mom) + m.data()[c] * mom;
        rv[c] = rv[c] * (T(1) - mom) + var[c] * (mom * unbias);
      }
    }
    T* scale = k.data();
    T* shift = scale + C;
    for (index_t c = 0; c < C; ++c) {
      var[c] = T(1) / std::sqrt(var[c] + static_cast<T>(eps));
      scale[c] = w ? w[c] * var[c] : var[c];
      shift[c] = (b ? b[c] : T(0)) - m.data()[c] * scale[c];
    }
    if (x.numel() > 0) kernels::channel_combine(x.data(), scale, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), shift, y.data(), l);
    if (auto* node = ops_detail::make_norm_node(y, "batch_norm", &ops_detail::batch_norm_backward<T>, x, weight, bias))
      ops_detail::record_norm(*node, w != nullptr, b != nullptr, eps, m, rs);
    return y;
  }
  // evaluation: a fixed per-channel affine map of x
  const bool record = is_grad_enabled() && (x.requires_grad() || (weight.defined() && weight.requires_grad()) ||
                                            (bias.defined() && bias.requires_grad()));
  if (record) {  // composed, so that its gradients (and theirs) come from the ops
    const Tensor<T> mv = ops_detail::channel_view(running_mean, x.rank());
    const Tensor<T> vv = ops_detail::channel_view(running_var, x.rank());
    Tensor<T> out = mul(sub(x, mv), rsqrt(add_scalar(vv, static_cast<T>(eps))));
    if (weight.defined()) out = mul(out, ops_detail::channel_view(weight, x.rank()));
    if (bias.defined()) out = add(out, ops_detail::channel_view(bias, x.rank()));
    return out;
  }
  auto k = Tensor<T>::empty({2, C});
  T* scale = k.data();
  T* shift = scale + C;
  for (index_t c = 0; c < C; ++c) {
    const T rs = T(1) / std::sqrt(running_var.data()[c] + static_cast<T>(eps));
    scale[c] = w ? w[c] * rs : rs;
    shift[c] = (b ? b[c] : T(0)) - running_mean.data()[c] * scale[c];
  }
  if (x.numel() > 0) kernels::channel_combine(x.data(), scale, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), shift, y.data(), l);
  return y;
}

}  // namespace latent

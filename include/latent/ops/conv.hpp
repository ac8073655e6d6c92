// Convolution, pooling and upsampling: conv2d, conv_transpose2d, avg_pool2d, max_pool2d, upsample_nearest2d,
// upsample_bilinear2d. Each op is linear in each input and its adjoint is an op here too, so the backward rules are
// written with ops and gradients of gradients work (WGAN-GP and R1 penalties through convolutional critics).
// batch_norm_relu_conv2d / batch_norm_relu_conv_transpose2d: a batch norm, a ReLU and the convolution after them as
// one node that keeps the batch norm's input only.
#pragma once

#include <algorithm>
#include <array>
#include <memory>
#include <string>

#include "../kernels/conv.hpp"
#include "activation.hpp"
#include "norm.hpp"
#include "shape_ops.hpp"

namespace latent {

/// (height, width) of a kernel, stride, padding, dilation, scale or size.
using Pair = std::array<index_t, 2>;

namespace ops_detail {

inline std::string pair_str(Pair p) {  // += only: g++ 12 -O3 warns falsely (-Wstringop-overflow) on "(" + string&&
  std::string s = "(";
  s += std::to_string(p[0]);
  s += ',';
  s += std::to_string(p[1]);
  s += ')';
  return s;
}
inline std::string hw_str(index_t h, index_t w) { return std::to_string(h) + "x" + std::to_string(w); }

/// Elements of a block's column matrix and of its channel-major copy of the columns side, each (at least one image
/// per block): small enough that im2col's output is still in cache when the GEMM reads it, large enough for an
/// efficient GEMM. Blocks go to threads when the convolution has at least conv_parallel_flops of work; below that
/// one thread runs them (and Eigen may thread the GEMM). Variables so that tests can force every path.
inline index_t conv_block_elements = index_t{1} << 18;
inline index_t conv_parallel_flops = index_t{1} << 20;

inline kernels::ConvSplit conv_split(const kernels::ConvGeometry& g) {
  const index_t batch = std::max<index_t>(g.batch, 1);
  // Both per-block buffers count: the column matrix and the channel-major copy of the columns side.
  const index_t per_image = std::max<index_t>(std::max(g.patch(), g.out_channels) * g.out_plane(), 1);
  kernels::ConvSplit s{std::clamp<index_t>(conv_block_elements / per_image, 1, batch), 1};
  const index_t threads = num_threads();
  if (threads > 1 && g.batch > 1 && 2 * g.batch * g.out_channels * g.patch() * g.out_plane() >= conv_parallel_flops) {
    s.block = std::min(s.block, (batch + threads - 1) / threads);
    s.slots = std::min(threads, (batch + s.block - 1) / s.block);
  }
  return s;
}

// ---- the three convolution primitives -----------------------------------------------------------------------------
// With the same stride/padding/dilation, for image x [N, C, H, W], columns y [N, K, OH, OW], weight w [K, C, kh, kw]:
//   conv2d_op(x, w) -> y            (+ bias [K])
//   conv2d_adjoint_op(y, w) -> x    (+ bias [C]; this is conv_transpose2d)
//   conv2d_weight_op(x, y) -> w
// each one bilinear and the adjoint of the others: <conv2d(x, w), y> = <x, adjoint(y, w)> = <w, weight(x, y)>.

struct ConvArgs {
  Pair stride, padding, dilation;
};

template <class T>
void store_conv_args(autograd::Node<T>& n, const ConvArgs& a) {
  n.ints = {a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.dilation[0], a.dilation[1], 0, 0};
}
template <class T>
ConvArgs conv_args(const autograd::Node<T>& n) {
  return {{n.ints[0], n.ints[1]}, {n.ints[2], n.ints[3]}, {n.ints[4], n.ints[5]}};
}

inline kernels::ConvGeometry conv_geometry(const Shape& image, const Shape& columns, index_t kernel_h, index_t kernel_w, const ConvArgs& a) {
  kernels::ConvGeometry g;
  g.batch = image[0];
  g.channels = image[1];
  g.height = image[2];
  g.width = image[3];
  g.out_channels = columns[1];
  g.out_h = columns[2];
  g.out_w = columns[3];
  g.kernel_h = kernel_h;
  g.kernel_w = kernel_w;
  g.stride_h = a.stride[0];
  g.stride_w = a.stride[1];
  g.pad_h = a.padding[0];
  g.pad_w = a.padding[1];
  g.dilation_h = a.dilation[0];
  g.dilation_w = a.dilation[1];
  return g;
}

/// The split of a convolution over blocks and threads, and its workspace (kernels/conv.hpp).
template <Scalar T>
struct ConvWorkspace {
  kernels::ConvSplit split;
  Tensor<T> buffer;
  ConvWorkspace(const kernels::ConvGeometry& g, bool weight)
      : split(conv_split(g)), buffer(Tensor<T>::empty({split.slots * kernels::conv_slot_workspace(g, split, weight)})) {}
};

template <Scalar T>
Tensor<T> conv2d_op(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, const ConvArgs& a, index_t out_h, index_t out_w);
template <Scalar T>
Tensor<T> conv2d_adjoint_op(const Tensor<T>& y, const Tensor<T>& w, const Tensor<T>& b, const ConvArgs& a, index_t height, index_t width);
template <Scalar T>
Tensor<T> conv2d_weight_op(const Tensor<T>& x, const Tensor<T>& y, const ConvArgs& a, index_t kernel_h, index_t kernel_w);

// The gradients of out = conv(y, w) + b, or of out = adjoint(y, w) + b when transposed, for an incoming g:
//   conv:     dy = adjoint(g, w),  dw = weight(y, g),  db = Σ_{n,h,w} g
//   adjoint:  dy = conv(g, w),     dw = weight(g, y),  db = Σ_{n,h,w} g
// The weight's gradient before y's: its workspace is freed before y's gradient (as large as y) is allocated.
// conv_transpose2d's two gradients both read the columns of g: without a graph to record they come from one im2col.
template <class T>
void conv_rule(bool transposed, const Tensor<T>& y, const Tensor<T>& w, const Tensor<T>& g, const ConvArgs& a, bool need_y, bool need_w,
               bool need_b, Tensor<T>& dy, Tensor<T>& dw, Tensor<T>& db) {
  if (need_b) db = sum(g, Dims{0, 2, 3});
  if (transposed && need_y && need_w && !is_grad_enabled()) {
    dw = Tensor<T>::empty(w.shape());
    dy = Tensor<T>::empty(y.shape());
    const auto geometry = conv_geometry(g.shape(), y.shape(), w.size(2), w.size(3), a);
    ConvWorkspace<T> ws(geometry, true);
    kernels::conv2d_weight(g.data(), y.data(), dw.data(), geometry, ws.split, ws.buffer.data(), w.data(), dy.data());
    return;
  }
  if (need_w) dw = transposed ? conv2d_weight_op(g, y, a, w.size(2), w.size(3)) : conv2d_weight_op(y, g, a, w.size(2), w.size(3));
  if (need_y)
    dy = transposed ? conv2d_op(g, w, Tensor<T>(), a, y.size(2), y.size(3)) : conv2d_adjoint_op(g, w, Tensor<T>(), a, y.size(2), y.size(3));
}
template <class T>
void conv_node_backward(bool transposed, autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const bool has_bias = n.inputs.size() > 2;
  Tensor<T> unused;
  conv_rule(transposed, n.inputs[0], n.inputs[1], g, conv_args(n), n.needs_grad(0), n.needs_grad(1), has_bias && n.needs_grad(2), grads[0],
            grads[1], has_bias ? grads[2] : unused);
}
template <class T>
void conv2d_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  conv_node_backward(false, n, g, grads);
}
template <class T>
void conv2d_adjoint_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  conv_node_backward(true, n, g, grads);
}
// w = weight(x, y), bilinear: for an incoming h [K, C, kh, kw],  dx = adjoint(y, h),  dy = conv(x, h)
template <class T>
void conv2d_weight_backward(autograd::Node<T>& n, const Tensor<T>& h, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const Tensor<T>& y = n.inputs[1];
  const ConvArgs a = conv_args(n);
  if (n.needs_grad(0)) grads[0] = conv2d_adjoint_op(y, h, Tensor<T>(), a, x.size(2), x.size(3));
  if (n.needs_grad(1)) grads[1] = conv2d_op(x, h, Tensor<T>(), a, y.size(2), y.size(3));
}

/// conv2d with the output size given (it may crop the natural one); no input checks.
template <Scalar T>
Tensor<T> conv2d_op(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, const ConvArgs& a, index_t out_h, index_t out_w) {
  auto y = Tensor<T>::empty({x.size(0), w.size(0), out_h, out_w});
  const auto g = conv_geometry(x.shape(), y.shape(), w.size(2), w.size(3), a);
  ConvWorkspace<T> ws(g, false);
  kernels::conv2d_forward(x.data(), w.data(), b.defined() ? b.data() : nullptr, y.data(), g, ws.split, ws.buffer.data());
  auto* node = b.defined() ? autograd::make_node(y, "conv2d", &conv2d_backward<T>, {x, w, b})
                           : autograd::make_node(y, "conv2d", &conv2d_backward<T>, {x, w});
  if (node) store_conv_args(*node, a);
  return y;
}

/// conv_transpose2d with the image size given; no input checks.
template <Scalar T>
Tensor<T> conv2d_adjoint_op(const Tensor<T>& y, const Tensor<T>& w, const Tensor<T>& b, const ConvArgs& a, index_t height, index_t width) {
  auto x = Tensor<T>::empty({y.size(0), w.size(1), height, width});
  const auto g = conv_geometry(x.shape(), y.shape(), w.size(2), w.size(3), a);
  ConvWorkspace<T> ws(g, false);
  kernels::conv2d_adjoint(y.data(), w.data(), b.defined() ? b.data() : nullptr, x.data(), g, ws.split, ws.buffer.data());
  auto* node = b.defined() ? autograd::make_node(x, "conv_transpose2d", &conv2d_adjoint_backward<T>, {y, w, b})
                           : autograd::make_node(x, "conv_transpose2d", &conv2d_adjoint_backward<T>, {y, w});
  if (node) store_conv_args(*node, a);
  return x;
}

/// The gradient of <y, conv2d(x, w)> in w, as an op of (x, y); no input checks.
template <Scalar T>
Tensor<T> conv2d_weight_op(const Tensor<T>& x, const Tensor<T>& y, const ConvArgs& a, index_t kernel_h, index_t kernel_w) {
  auto w = Tensor<T>::empty({y.size(1), x.size(1), kernel_h, kernel_w});
  const auto g = conv_geometry(x.shape(), y.shape(), kernel_h, kernel_w, a);
  ConvWorkspace<T> ws(g, true);
  kernels::conv2d_weight(x.data(), y.data(), w.data(), g, ws.split, ws.buffer.data());
  if (auto* node = autograd::make_node(w, "conv2d_weight", &conv2d_weight_backward<T>, {x, y})) store_conv_args(*node, a);
  return w;
}

inline void check_conv_args(const char* op, Pair stride, Pair padding, Pair dilation) {
  LATENT_CHECK(stride[0] > 0 && stride[1] > 0, ValueError, std::string(op) + ": stride " + pair_str(stride) + " must be positive");
  LATENT_CHECK(padding[0] >= 0 && padding[1] >= 0, ValueError, std::string(op) + ": padding " + pair_str(padding) + " must be non-negative");
  LATENT_CHECK(dilation[0] > 0 && dilation[1] > 0, ValueError, std::string(op) + ": dilation " + pair_str(dilation) + " must be positive");
}

/// Checks shared by conv2d and conv_transpose2d: ranks, channels (input channels meet weight dimension 0 for
/// conv_transpose2d, dimension 1 for conv2d), a non-empty kernel, the bias against the output channels.
template <Scalar T>
void check_conv_tensors(const char* op, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, int weight_in_dim) {
  check_rank(op, "input", x.shape(), 4);
  check_rank(op, "weight", w.shape(), 4);
  LATENT_CHECK(w.size(2) > 0 && w.size(3) > 0, ShapeError, std::string(op) + ": weight " + w.shape().str() + " has an empty kernel");
  const index_t expects = w.size(weight_in_dim);
  LATENT_CHECK(x.size(1) == expects, ShapeError,
               std::string(op) + ": input " + x.shape().str() + " has " + std::to_string(x.size(1)) + " channels, weight " + w.shape().str() +
                   " expects " + std::to_string(expects));
  if (b.defined()) {
    const index_t out_channels = w.size(1 - weight_in_dim);
    LATENT_CHECK(b.rank() == 1 && b.size(0) == out_channels, ShapeError,
                 std::string(op) + ": bias " + b.shape().str() + " does not match weight " + w.shape().str() + ": expected [" +
                     std::to_string(out_channels) + "]");
  }
}

}  // namespace ops_detail

/// 2-D convolution (cross-correlation, like PyTorch): x [N, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout] or
/// undefined -> [N, Cout, OH, OW] with OH = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1.
template <Scalar T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = {}, Pair stride = {1, 1}, Pair padding = {0, 0},
                 Pair dilation = {1, 1}) {
  using ops_detail::hw_str;
  using ops_detail::pair_str;
  ops_detail::check_conv_tensors("conv2d", x, weight, bias, 1);
  ops_detail::check_conv_args("conv2d", stride, padding, dilation);
  const index_t span_h = dilation[0] * (weight.size(2) - 1) + 1, span_w = dilation[1] * (weight.size(3) - 1) + 1;
  const index_t padded_h = x.size(2) + 2 * padding[0], padded_w = x.size(3) + 2 * padding[1];
  LATENT_CHECK(span_h <= padded_h && span_w <= padded_w, ShapeError,
               "conv2d: kernel " + hw_str(span_h, span_w) + " (weight " + weight.shape().str() + ", dilation " + pair_str(dilation) +
                   ") is larger than the padded input " + hw_str(padded_h, padded_w) + " (input " + x.shape().str() + ", padding " +
                   pair_str(padding) + ")");
  const index_t out_h = kernels::conv_out_size(x.size(2), weight.size(2), stride[0], padding[0], dilation[0]);
  const index_t out_w = kernels::conv_out_size(x.size(3), weight.size(3), stride[1], padding[1], dilation[1]);
  return ops_detail::conv2d_op(x, weight, bias, {stride, padding, dilation}, out_h, out_w);
}

/// Transposed 2-D convolution (the adjoint of conv2d in its input, like PyTorch's ConvTranspose2d): x [N, Cin, H, W],
/// weight [Cin, Cout, kh, kw], bias [Cout] or undefined -> [N, Cout, OH, OW] with
/// OH = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1; output_padding < max(stride, dilation).
template <Scalar T>
Tensor<T> conv_transpose2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = {}, Pair stride = {1, 1},
                           Pair padding = {0, 0}, Pair output_padding = {0, 0}, Pair dilation = {1, 1}) {
  using ops_detail::hw_str;
  using ops_detail::pair_str;
  ops_detail::check_conv_tensors("conv_transpose2d", x, weight, bias, 0);
  ops_detail::check_conv_args("conv_transpose2d", stride, padding, dilation);
  for (int d = 0; d < 2; ++d)
    LATENT_CHECK(output_padding[d] >= 0 && (output_padding[d] < stride[d] || output_padding[d] < dilation[d]), ValueError,
                 "conv_transpose2d: output_padding " + pair_str(output_padding) + " must be non-negative and smaller than stride " +
                     pair_str(stride) + " or dilation " + pair_str(dilation));
  const index_t out_h = (x.size(2) - 1) * stride[0] - 2 * padding[0] + dilation[0] * (weight.size(2) - 1) + output_padding[0] + 1;
  const index_t out_w = (x.size(3) - 1) * stride[1] - 2 * padding[1] + dilation[1] * (weight.size(3) - 1) + output_padding[1] + 1;
  LATENT_CHECK(out_h > 0 && out_w > 0, ShapeError,
               "conv_transpose2d: output size " + hw_str(out_h, out_w) + " is not positive (input " + x.shape().str() + ", weight " +
                   weight.shape().str() + ", stride " + pair_str(stride) + ", padding " + pair_str(padding) + ")");
  return ops_detail::conv2d_adjoint_op(x, weight, bias, {stride, padding, dilation}, out_h, out_w);
}

// ---- pooling and upsampling ---------------------------------------------------------------------------------------
namespace ops_detail {

struct PoolArgs {
  Pair kernel, stride, padding;
};

template <class T>
void store_pool_args(autograd::Node<T>& n, const PoolArgs& a) {
  n.ints = {a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], 0, 0};
}
template <class T>
PoolArgs pool_args(const autograd::Node<T>& n) {
  return {{n.ints[0], n.ints[1]}, {n.ints[2], n.ints[3]}, {n.ints[4], n.ints[5]}};
}

inline kernels::PoolGeometry pool_geometry(const Shape& image, index_t out_h, index_t out_w, const PoolArgs& a) {
  kernels::PoolGeometry g;
  g.planes = image[0] * image[1];
  g.height = image[2];
  g.width = image[3];
  g.kernel_h = a.kernel[0];
  g.kernel_w = a.kernel[1];
  g.stride_h = a.stride[0];
  g.stride_w = a.stride[1];
  g.pad_h = a.padding[0];
  g.pad_w = a.padding[1];
  g.out_h = out_h;
  g.out_w = out_w;
  return g;
}

// window_sum (x -> y = scale Σ_window x) and window_spread (its adjoint, y -> x) are one linear pair serving two
// public ops: avg_pool2d is window_sum, upsample_nearest2d is window_spread. ints[6] says which (node names).
enum class WindowUse : index_t { avg_pool = 0, upsample_nearest = 1 };
inline const char* window_sum_name(index_t use) { return use == 0 ? "avg_pool2d" : "upsample_nearest2d_backward"; }
inline const char* window_spread_name(index_t use) { return use == 0 ? "avg_pool2d_backward" : "upsample_nearest2d"; }

template <Scalar T>
Tensor<T> window_sum_op(const Tensor<T>& x, const PoolArgs& a, T scale, index_t out_h, index_t out_w, index_t use);
template <Scalar T>
Tensor<T> window_spread_op(const Tensor<T>& y, const PoolArgs& a, T scale, index_t height, index_t width, index_t use);

// y = window_sum(x): dx = window_spread(g)
template <class T>
void window_sum_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  grads[0] = window_spread_op(g, pool_args(n), static_cast<T>(n.reals[0]), x.size(2), x.size(3), n.ints[6]);
}
// x = window_spread(y): dy = window_sum(g)
template <class T>
void window_spread_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& y = n.inputs[0];
  grads[0] = window_sum_op(g, pool_args(n), static_cast<T>(n.reals[0]), y.size(2), y.size(3), n.ints[6]);
}

template <Scalar T>
Tensor<T> window_sum_op(const Tensor<T>& x, const PoolArgs& a, T scale, index_t out_h, index_t out_w, index_t use) {
  auto y = Tensor<T>::empty({x.size(0), x.size(1), out_h, out_w});
  kernels::window_sum(x.data(), y.data(), pool_geometry(x.shape(), out_h, out_w, a), scale);
  if (auto* node = autograd::make_node(y, window_sum_name(use), &window_sum_backward<T>, {x})) {
    store_pool_args(*node, a);
    node->ints[6] = use;
    node->reals[0] = static_cast<double>(scale);
  }
  return y;
}

template <Scalar T>
Tensor<T> window_spread_op(const Tensor<T>& y, const PoolArgs& a, T scale, index_t height, index_t width, index_t use) {
  auto x = Tensor<T>::empty({y.size(0), y.size(1), height, width});
  kernels::window_spread(y.data(), x.data(), pool_geometry(x.shape(), y.size(2), y.size(3), a), scale);
  if (auto* node = autograd::make_node(x, window_spread_name(use), &window_spread_backward<T>, {y})) {
    store_pool_args(*node, a);
    node->ints[6] = use;
    node->reals[0] = static_cast<double>(scale);
  }
  return x;
}

// max_pool2d routes g to the saved argmax positions: dx = scatter_add(g), whose own gradient is a gather.
template <class T>
void max_pool2d_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Shape& xs = n.inputs[0].shape();
  const index_t planes = xs[0] * xs[1], pooled = g.size(2) * g.size(3);
  const Shape flat{planes, pooled};
  grads[0] = reshape(scatter_add_zeros(reshape(g, flat), 1, n.saved_index.view_as_shape(flat), Shape{planes, xs[2] * xs[3]}), xs);
}

/// Validated pooling arguments (stride {0, 0} = kernel) and the output size, floor((H + 2 padding - kernel) / stride) + 1.
template <Scalar T>
PoolArgs check_pool(const char* op, const Tensor<T>& x, Pair kernel, Pair stride, Pair padding, index_t& out_h, index_t& out_w) {
  check_rank(op, "input", x.shape(), 4);
  LATENT_CHECK(kernel[0] > 0 && kernel[1] > 0, ValueError, std::string(op) + ": kernel " + pair_str(kernel) + " must be positive");
  if (stride == Pair{0, 0}) stride = kernel;
  LATENT_CHECK(stride[0] > 0 && stride[1] > 0, ValueError,
               std::string(op) + ": stride " + pair_str(stride) + " must be positive ((0,0) means the kernel size)");
  LATENT_CHECK(padding[0] >= 0 && padding[1] >= 0 && 2 * padding[0] <= kernel[0] && 2 * padding[1] <= kernel[1], ValueError,
               std::string(op) + ": padding " + pair_str(padding) + " must be non-negative and at most half the kernel " + pair_str(kernel));
  const index_t padded_h = x.size(2) + 2 * padding[0], padded_w = x.size(3) + 2 * padding[1];
  LATENT_CHECK(kernel[0] <= padded_h && kernel[1] <= padded_w, ShapeError,
               std::string(op) + ": kernel " + hw_str(kernel[0], kernel[1]) + " is larger than the padded input " + hw_str(padded_h, padded_w) +
                   " (input " + x.shape().str() + ", padding " + pair_str(padding) + ")");
  out_h = (padded_h - kernel[0]) / stride[0] + 1;
  out_w = (padded_w - kernel[1]) / stride[1] + 1;
  return {kernel, stride, padding};
}

template <Scalar T>
Tensor<T> bilinear_op(const Tensor<T>& x, index_t out_h, index_t out_w, bool align_corners);
template <Scalar T>
Tensor<T> bilinear_adjoint_op(const Tensor<T>& y, index_t height, index_t width, bool align_corners);

// y = bilinear(x): dx = bilinear_adjoint(g);  x = bilinear_adjoint(y): dy = bilinear(g)
template <class T>
void bilinear_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = bilinear_adjoint_op(g, n.inputs[0].size(2), n.inputs[0].size(3), n.ints[0] != 0);
}
template <class T>
void bilinear_adjoint_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = bilinear_op(g, n.inputs[0].size(2), n.inputs[0].size(3), n.ints[0] != 0);
}

template <Scalar T>
Tensor<T> bilinear_op(const Tensor<T>& x, index_t out_h, index_t out_w, bool align_corners) {
  auto y = Tensor<T>::empty({x.size(0), x.size(1), out_h, out_w});
  kernels::bilinear(x.data(), y.data(), x.size(0) * x.size(1), x.size(2), x.size(3), out_h, out_w, align_corners);
  if (auto* node = autograd::make_node(y, "upsample_bilinear2d", &bilinear_backward<T>, {x})) node->ints[0] = align_corners;
  return y;
}

template <Scalar T>
Tensor<T> bilinear_adjoint_op(const Tensor<T>& y, index_t height, index_t width, bool align_corners) {
  auto x = Tensor<T>::empty({y.size(0), y.size(1), height, width});
  kernels::bilinear_adjoint(y.data(), x.data(), y.size(0) * y.size(1), height, width, y.size(2), y.size(3), align_corners);
  if (auto* node = autograd::make_node(x, "upsample_bilinear2d_backward", &bilinear_adjoint_backward<T>, {y})) node->ints[0] = align_corners;
  return x;
}

}  // namespace ops_detail

/// Average pooling over kernel windows of x [N, C, H, W] (stride {0, 0} = kernel; zero padding of at most half the
/// kernel, counted in the average: PyTorch's count_include_pad = true, ceil_mode = false).
template <Scalar T>
Tensor<T> avg_pool2d(const Tensor<T>& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0}) {
  index_t out_h = 0, out_w = 0;
  const auto a = ops_detail::check_pool("avg_pool2d", x, kernel, stride, padding, out_h, out_w);
  return ops_detail::window_sum_op(x, a, T(1) / static_cast<T>(kernel[0] * kernel[1]), out_h, out_w,
                                   static_cast<index_t>(ops_detail::WindowUse::avg_pool));
}

/// Max pooling over kernel windows of x [N, C, H, W] (stride {0, 0} = kernel; padding of at most half the kernel
/// never wins). The gradient goes to the first maximum of each window, as in PyTorch.
template <Scalar T>
Tensor<T> max_pool2d(const Tensor<T>& x, Pair kernel, Pair stride = {0, 0}, Pair padding = {0, 0}) {
  index_t out_h = 0, out_w = 0;
  const auto a = ops_detail::check_pool("max_pool2d", x, kernel, stride, padding, out_h, out_w);
  const Shape os{x.size(0), x.size(1), out_h, out_w};
  auto y = Tensor<T>::empty(os);
  auto index = Tensor<std::int64_t>::empty(os);
  kernels::max_pool(x.data(), y.data(), index.data(), ops_detail::pool_geometry(x.shape(), out_h, out_w, a));
  if (auto* node = autograd::make_node(y, "max_pool2d", &ops_detail::max_pool2d_backward<T>, {x})) node->saved_index = index;
  return y;
}

/// Nearest-neighbour upsampling of x [N, C, H, W] by integer factors -> [N, C, H·scale[0], W·scale[1]].
template <Scalar T>
Tensor<T> upsample_nearest2d(const Tensor<T>& x, Pair scale) {
  check_rank("upsample_nearest2d", "input", x.shape(), 4);
  LATENT_CHECK(scale[0] > 0 && scale[1] > 0, ValueError, "upsample_nearest2d: scale " + ops_detail::pair_str(scale) + " must be positive");
  // Each input pixel is spread over its own scale[0] x scale[1] block: window_spread with kernel = stride = scale.
  return ops_detail::window_spread_op(x, {scale, scale, {0, 0}}, T(1), x.size(2) * scale[0], x.size(3) * scale[1],
                                      static_cast<index_t>(ops_detail::WindowUse::upsample_nearest));
}

/// Bilinear resampling of x [N, C, H, W] to [N, C, out_size[0], out_size[1]] with PyTorch's
/// interpolate(mode='bilinear', align_corners) semantics.
template <Scalar T>
Tensor<T> upsample_bilinear2d(const Tensor<T>& x, Pair out_size, bool align_corners = false) {
  check_rank("upsample_bilinear2d", "input", x.shape(), 4);
  LATENT_CHECK(out_size[0] > 0 && out_size[1] > 0, ValueError,
               "upsample_bilinear2d: output size " + ops_detail::pair_str(out_size) + " must be positive");
  LATENT_CHECK(x.size(2) > 0 && x.size(3) > 0, ShapeError, "upsample_bilinear2d: input " + x.shape().str() + " has an empty spatial dimension");
  return ops_detail::bilinear_op(x, out_size[0], out_size[1], align_corners);
}

// ---- a batch norm, a ReLU and a convolution as one node ----------------------------------------------------------

namespace ops_detail {

// out = conv(reshape(relu(batch_norm(x)), image)) or its conv_transpose2d. inputs {x, bn_w, bn_b, W, b} (undefined
// when absent); ints = conv args, ints[6] = transposed; reals[0] = eps; shape = the convolution's input shape. The
// node exists only for batch statistics, which the backward computes again from x: it records
// relu(batch_norm(x)) (the same kernels, so the same values), takes the convolution's rule with that input, and
// applies the ReLU's and the batch norm's own rules (fused kernels, or ops under create_graph) to the gradient.
template <class T>
void batch_norm_relu_conv_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const Tensor<T>& w = n.inputs[3];
  const bool transposed = n.ints[6] != 0;
  std::shared_ptr<autograd::Node<T>> act;  // the ReLU's node, which owns the batch norm's
  autograd::TensorList<T> act_grads;
  act_grads.resize(1);
  {
    Tensor<T> activated;
    {
      EnableGradGuard record(true);  // nodes for the two rules (none when x, bn_w and bn_b need no gradient)
      // training = false without running statistics: batch statistics, without the forward's count check
      activated = relu(batch_norm(x, Tensor<T>(), Tensor<T>(), n.inputs[1], n.inputs[2], false, 0.0, n.reals[0]));
    }
    const Tensor<T> image = reshape(activated, n.shape);  // recorded under create_graph only
    act = activated.grad_fn();
    Tensor<T> g_image;
    conv_rule(transposed, image, w, g, conv_args(n), act != nullptr, n.needs_grad(3), n.inputs[4].defined() && n.needs_grad(4), g_image,
              grads[3], grads[4]);
    if (!act) return;
    Tensor<T> g_act = reshape(g_image, x.shape());
    g_image = Tensor<T>();  // g_act alone refers to it: the ReLU's rule may run over it
    act->backward(*act, g_act, act_grads);  // reads `activated`
  }  // the activations are freed here, before the batch norm's rule allocates x's gradient (or works in place)
  apply_norm_rule(*act->inputs[0].grad_fn(), act_grads[0], n, grads);  // the batch norm's node
}

template <Scalar T>
Tensor<T> batch_norm_relu_conv_op(const char* name, const Tensor<T>& x, const BatchNormArgs<T>& bn, const Shape& image, const Tensor<T>& weight,
                                  const Tensor<T>& bias, Pair stride, Pair padding, Pair output_padding, Pair dilation, bool transposed) {
  LATENT_CHECK(image.rank() == 4 && x.rank() >= 2 && image.numel() == x.numel() && image[0] == x.size(0), ShapeError,
               std::string(name) + ": convolution input shape " + image.str() + " must be [N, C, H, W] with the " +
                   std::to_string(x.numel()) + " elements of input " + x.shape().str() + " and its N");
  auto compose = [&] {
    const Tensor<T> y = reshape(relu(batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.training, bn.momentum, bn.eps)), image);
    return transposed ? conv_transpose2d(y, weight, bias, stride, padding, output_padding, dilation) : conv2d(y, weight, bias, stride, padding, dilation);
  };
  if (!bn.training && bn.running_mean.defined()) return compose();  // running statistics: nothing to recompute
  Tensor<T> out;
  {
    NoGradGuard no_grad;  // the normalised and activated values live only as long as the convolution needs them
    out = compose();
  }
  if (auto* node = autograd::make_node(out, name, &batch_norm_relu_conv_backward<T>, {x, bn.weight, bn.bias, weight, bias})) {
    store_conv_args(*node, {stride, padding, dilation});
    node->ints[6] = transposed;
    node->reals[0] = bn.eps;
    node->shape = image;
  }
  return out;
}

}  // namespace ops_detail

/// conv2d(reshape(relu(batch_norm(x, bn...)), image), weight, bias, ...) as one graph node that keeps x but not the
/// normalised or activated values, which the backward computes again (two passes over x, next to the convolution's
/// products). A BatchNorm → ReLU → convolution block otherwise keeps both the batch norm's input and the
/// convolution's input. `image` is the convolution's input shape, [N, C, H, W] with x's N and element count (x's
/// shape when x is an image; BatchNorm1d's [N, C·H·W] otherwise). With running statistics in evaluation, the plain
/// composition. Same values, running statistics and gradients (of any order) as the composition.
template <Scalar T>
Tensor<T> batch_norm_relu_conv2d(const Tensor<T>& x, const BatchNormArgs<T>& bn, const Shape& image, const Tensor<T>& weight,
                                 const Tensor<T>& bias = {}, Pair stride = {1, 1}, Pair padding = {0, 0}, Pair dilation = {1, 1}) {
  return ops_detail::batch_norm_relu_conv_op("batch_norm_relu_conv2d", x, bn, image, weight, bias, stride, padding, Pair{0, 0}, dilation, false);
}

/// conv_transpose2d(reshape(relu(batch_norm(x, bn...)), image), weight, bias, ...) as one graph node, as
/// batch_norm_relu_conv2d (a DCGAN generator's blocks).
template <Scalar T>
Tensor<T> batch_norm_relu_conv_transpose2d(const Tensor<T>& x, const BatchNormArgs<T>& bn, const Shape& image, const Tensor<T>& weight,
                                           const Tensor<T>& bias = {}, Pair stride = {1, 1}, Pair padding = {0, 0},
                                           Pair output_padding = {0, 0}, Pair dilation = {1, 1}) {
  return ops_detail::batch_norm_relu_conv_op("batch_norm_relu_conv_transpose2d", x, bn, image, weight, bias, stride, padding, output_padding,
                                             dilation, true);
}

}  // namespace latent

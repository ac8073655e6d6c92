// Conv2d and ConvTranspose2d layers over ops/conv.hpp, with PyTorch's options, weight layouts
// ([out, in, kh, kw] and [in, out, kh, kw]), parameter names and default initialisation.
#pragma once

#include <array>
#include <string>

#include "../ops/conv.hpp"
#include "init.hpp"
#include "module.hpp"

namespace latent::nn {

/// A 2-D size that is written `4` (square) or `{3, 5}` (height, width), like PyTorch's _size_2_t.
struct Size2 {
  index_t h = 0;
  index_t w = 0;
  Size2() = default;
  Size2(index_t v) : h(v), w(v) {}  // NOLINT(google-explicit-constructor): `.kernel_size = 4` reads best
  Size2(index_t height, index_t width) : h(height), w(width) {}
  std::array<index_t, 2> pair() const { return {h, w}; }
  std::string str() const {  // += only: g++ 12 -O3 warns falsely (-Wstringop-overflow) on "(" + string&&
    std::string s = "(";
    s += std::to_string(h);
    s += ", ";
    s += std::to_string(w);
    s += ')';
    return s;
  }
};

struct Conv2dOptions {
  index_t in_channels = 0;
  index_t out_channels = 0;
  Size2 kernel_size = 0;  // required
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 dilation = 1;
  bool bias = true;
};

struct ConvTranspose2dOptions {
  index_t in_channels = 0;
  index_t out_channels = 0;
  Size2 kernel_size = 0;  // required
  Size2 stride = 1;
  Size2 padding = 0;
  Size2 output_padding = 0;
  Size2 dilation = 1;
  bool bias = true;
};

namespace detail {
inline void check_size2(const char* layer, const char* what, const Size2& s, index_t minimum) {
  LATENT_CHECK(
      s.h >= minimum && s.w >= minimum, ValueError,
      std::string(layer) + ": " + what + " = " + s.str() + " must be " + (minimum > 0 ? "positive" : "non-negative"));
}
/// PyTorch's repr tail: ", kernel_size=(4, 4), stride=(2, 2)" with defaults left out.
template <class Options>
std::string conv_repr(const char* layer, const Options& o) {
  std::string s = std::string(layer) + "(" + std::to_string(o.in_channels) + ", " + std::to_string(o.out_channels) +
                  ", kernel_size=" + o.kernel_size.str() + ", stride=" + o.stride.str();
  if (o.padding.h || o.padding.w) s += ", padding=" + o.padding.str();
  if constexpr (requires { o.output_padding; })
    if (o.output_padding.h || o.output_padding.w) s += ", output_padding=" + o.output_padding.str();
  if (o.dilation.h != 1 || o.dilation.w != 1) s += ", dilation=" + o.dilation.str();
  if (!o.bias) s += ", bias=false";
  return s + ")";
}
/// The options Conv2d and ConvTranspose2d share: positive channel counts, kernel size and stride, padding >= 0,
/// dilation >= 1.
template <class Options>
void check_conv_options(const char* layer, const Options& o) {
  check_positive(layer, "in_channels", o.in_channels);
  check_positive(layer, "out_channels", o.out_channels);
  check_size2(layer, "kernel_size", o.kernel_size, 1);
  check_size2(layer, "stride", o.stride, 1);
  check_size2(layer, "padding", o.padding, 0);
  check_size2(layer, "dilation", o.dilation, 1);
}
template <Scalar T>
void check_conv_input(const std::string& repr, const Tensor<T>& x, index_t channels) {
  LATENT_CHECK(x.rank() == 4, ShapeError, repr + ": input " + x.shape().str() + " must be [N, C, H, W]");
  LATENT_CHECK(x.shape()[1] == channels, ShapeError,
               repr + ": input " + x.shape().str() + " has " + std::to_string(x.shape()[1]) + " channels, expected " +
                   std::to_string(channels));
}
}  // namespace detail

/// weight [out, in, kh, kw] and bias [out] ~ U(±1/√(in·kh·kw)). Input [N, in, H, W].
template <Scalar T>
class Conv2d : public UnaryModule<T> {
  Conv2dOptions options_;

 public:
  Tensor<T>& weight;
  Tensor<T>& bias;  // undefined when options.bias is false

  Conv2d(const Conv2dOptions& options, Rng& rng)
      : options_(validated(options)),
        weight(this->register_parameter("weight", Tensor<T>::empty({options.out_channels, options.in_channels,
                                                                    options.kernel_size.h, options.kernel_size.w}))),
        bias(this->register_parameter("bias", options.bias ? Tensor<T>::empty({options.out_channels}) : Tensor<T>())) {
    init::default_layer_init_(weight, &bias, rng);
  }

  const Conv2dOptions& options() const noexcept { return options_; }
  std::string repr() const override { return detail::conv_repr("Conv2d", options_); }

  Tensor<T> forward(const Tensor<T>& x) override {
    detail::check_conv_input(repr(), x, options_.in_channels);
    return conv2d(x, weight, bias, options_.stride.pair(), options_.padding.pair(), options_.dilation.pair());
  }

 private:
  static Conv2dOptions validated(const Conv2dOptions& o) {
    detail::check_conv_options("Conv2d", o);
    return o;
  }
};

/// The adjoint of Conv2d (a "deconvolution"): weight [in, out, kh, kw], bias [out], both
/// ~ U(±1/√(out·kh·kw)) because PyTorch's fan_in reads weight dimension 1. Output size per axis:
/// (H - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1.
template <Scalar T>
class ConvTranspose2d : public UnaryModule<T> {
  ConvTranspose2dOptions options_;

 public:
  Tensor<T>& weight;
  Tensor<T>& bias;  // undefined when options.bias is false

  ConvTranspose2d(const ConvTranspose2dOptions& options, Rng& rng)
      : options_(validated(options)),
        weight(this->register_parameter("weight", Tensor<T>::empty({options.in_channels, options.out_channels,
                                                                    options.kernel_size.h, options.kernel_size.w}))),
        bias(this->register_parameter("bias", options.bias ? Tensor<T>::empty({options.out_channels}) : Tensor<T>())) {
    init::default_layer_init_(weight, &bias, rng);
  }

  const ConvTranspose2dOptions& options() const noexcept { return options_; }
  std::string repr() const override { return detail::conv_repr("ConvTranspose2d", options_); }

  Tensor<T> forward(const Tensor<T>& x) override {
    detail::check_conv_input(repr(), x, options_.in_channels);
    return conv_transpose2d(x, weight, bias, options_.stride.pair(), options_.padding.pair(),
                            options_.output_padding.pair(), options_.dilation.pair());
  }

 private:
  static ConvTranspose2dOptions validated(const ConvTranspose2dOptions& o) {
    detail::check_conv_options("ConvTranspose2d", o);
    detail::check_size2("ConvTranspose2d", "output_padding", o.output_padding, 0);
    // PyTorch's rule: an output_padding must be smaller than the stride or the dilation.
    LATENT_CHECK((o.output_padding.h < o.stride.h || o.output_padding.h < o.dilation.h) &&
                     (o.output_padding.w < o.stride.w || o.output_padding.w < o.dilation.w),
                 ValueError,
                 "ConvTranspose2d: output_padding = " + o.output_padding.str() +
                     " must be smaller than stride = " + o.stride.str() + " or dilation = " + o.dilation.str());
    return o;
  }
};

}  // namespace latent::nn

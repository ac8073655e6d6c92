// Opt-in explicit instantiation of latent's heavy function templates -- the Eigen kernels, the differentiable ops and
// the autograd engine -- for float and double, so that a program's translation units call one shared copy instead of
// each instantiating and optimising its own. Off by default: header-only use compiles what it uses. To opt in:
//   - define LATENT_EXTERN_TEMPLATES in every translation unit: <latent/latent.hpp> then ends with the `extern
//     template` declarations below;
//   - compile the definitions once, with the same flags and macros: a .cpp that includes <latent/latent.hpp> and
//     expands lists with `template`, e.g.  namespace latent { LATENT_OPS_ELEMENTWISE(template, float) }
//     (cmake/latentInstantiations.cmake generates one such file per list and type for the tests, examples and
//     benchmarks).
// The lists hold exact signatures: a list that no longer matches its header is a compile error (with the opt-in), and
// a template missing from the lists is merely instantiated implicitly where it is used. Templates over callables
// (parallel_for, gradcheck) and the int64 instantiations stay implicit.
#pragma once
#ifndef LATENT_INSIDE_LATENT_HPP
#error "latent/detail/extern_templates.hpp is internal: include <latent/latent.hpp>"
#endif

// Each list is a macro of (K, T): K is `extern template` or `template`, T the scalar type; expanded in namespace latent.
// A new list named LATENT_<AREA>(K, T) is picked up by cmake/latentInstantiations.cmake without a CMake edit; add it
// below too.

#define LATENT_KERNELS_ELEMENTWISE(K, T)                                                                                      \
  K void kernels::unary<T>(kernels::Unary, const T*, T*, index_t);                                                         \
  K void kernels::unary_scalar<T>(kernels::UnaryScalar, const T*, T, T*, index_t);                                         \
  K void kernels::binary<T>(kernels::Binary, const T*, const T*, T*, index_t);                                             \
  K void kernels::binary_broadcast<T, Shape::max_rank>(kernels::Binary, const T*, const std::array<index_t, Shape::max_rank>&, \
                                                       const T*, const std::array<index_t, Shape::max_rank>&, T*,         \
                                                       const std::array<index_t, Shape::max_rank>&, int);                 \
  K void kernels::where<T>(const T*, const T*, const T*, T*, index_t);                                                     \
  K void kernels::fill<T>(T*, index_t, T);                                                                                 \
  K void kernels::axpy<T>(T, const T*, T*, index_t);

#define LATENT_KERNELS_LINALG(K, T)                                                                                         \
  K void kernels::gemm<T>(bool, bool, index_t, index_t, index_t, T, const T*, const T*, T, T*);                             \
  K void kernels::gemm_batched<T>(bool, bool, index_t, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t,   \
                                  T, T*, index_t);                                                                         \
  K void kernels::broadcast_rows<T>(const T*, T*, index_t, index_t);                                                       \
  K void kernels::attention_forward<T>(const kernels::AttentionGeometry&, const T*, const T*, const T*, T*, T*, index_t, T*); \
  K void kernels::attention_backward<T>(const kernels::AttentionGeometry&, const T*, const T*, const T*, const T*,        \
                                        const T*, const T*, T*, T*, T*, index_t, T*);                                      \
  K void kernels::kv_cache_append<T>(const T*, const T*, index_t, index_t, index_t, index_t, index_t, index_t, T*, T*);

#define LATENT_KERNELS_REDUCE(K, T)                                                                                         \
  K void kernels::reduce<T>(kernels::Reduce, const T*, T*, index_t, index_t, index_t);                                     \
  K void kernels::variance<T>(const T*, T*, index_t, index_t, index_t, index_t);                                           \
  K void kernels::argreduce<T>(bool, const T*, std::int64_t*, index_t, index_t, index_t);                                  \
  K double kernels::sum_all<T>(const T*, index_t);                                                                         \
  K void kernels::softmax<T>(bool, const T*, T*, index_t, index_t, index_t);                                               \
  K index_t kernels::cross_entropy_rows<T>(const T*, const std::int64_t*, index_t, index_t, std::int64_t, T, T*, T*);

#define LATENT_KERNELS_COPY(K, T)                                                                                           \
  K void kernels::permute<T, Shape::max_rank>(const T*, const std::array<index_t, Shape::max_rank>&,                       \
                                              const std::array<int, Shape::max_rank>&, int, T*);                           \
  K void kernels::block_copy<T>(const T*, T*, index_t, index_t, index_t, index_t, index_t, bool);                         \
  K void kernels::index_select<T>(const T*, const std::int64_t*, T*, index_t, index_t, index_t, index_t);                  \
  K void kernels::index_add<T>(const T*, const std::int64_t*, T*, index_t, index_t, index_t, index_t);                     \
  K void kernels::gather<T>(const T*, const std::int64_t*, T*, index_t, index_t, index_t, index_t);                        \
  K void kernels::scatter_add<T>(const T*, const std::int64_t*, T*, index_t, index_t, index_t, index_t);

#define LATENT_KERNELS_CONV(K, T)                                                                                           \
  K void kernels::conv2d_forward<T>(const T*, const T*, const T*, T*, const kernels::ConvGeometry&,                         \
                                    const kernels::ConvSplit&, T*);                                                        \
  K void kernels::conv2d_adjoint<T>(const T*, const T*, const T*, T*, const kernels::ConvGeometry&,                        \
                                    const kernels::ConvSplit&, T*);                                                        \
  K void kernels::conv2d_weight<T>(const T*, const T*, T*, const kernels::ConvGeometry&, const kernels::ConvSplit&, T*,       \
                                   const T*, T*);                                                                          \
  K void kernels::window_sum<T>(const T*, T*, const kernels::PoolGeometry&, T);                                            \
  K void kernels::window_spread<T>(const T*, T*, const kernels::PoolGeometry&, T);                                         \
  K void kernels::max_pool<T>(const T*, T*, std::int64_t*, const kernels::PoolGeometry&);                                  \
  K void kernels::bilinear<T>(const T*, T*, index_t, index_t, index_t, index_t, index_t, bool);                           \
  K void kernels::bilinear_adjoint<T>(const T*, T*, index_t, index_t, index_t, index_t, index_t, bool);

#define LATENT_KERNELS_NORM(K, T)                                                                                           \
  K void kernels::channel_moments<T>(const T*, const kernels::ChannelLayout&, T*, T*);                                    \
  K void kernels::channel_combine<T>(const T*, const T*, const T*, const T*, const T*, T*, const kernels::ChannelLayout&); \
  K void kernels::channel_grad_sums<T>(const T*, const T*, const T*, const kernels::ChannelLayout&, T*, T*);              \
  K void kernels::row_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, const kernels::RowLayout&, double);       \
  K void kernels::row_norm_backward_input<T>(const T*, const T*, const T*, const T*, const T*, T*,                        \
                                             const kernels::RowLayout&);                                                  \
  K void kernels::row_norm_backward_affine<T>(const T*, const T*, const T*, const T*, T*, T*, const kernels::RowLayout&);

#define LATENT_KERNELS_OPTIM(K, T)                                                                                          \
  K void kernels::adam_update<T>(T*, const T*, T*, T*, T*, index_t, const kernels::AdamStep<T>&);                         \
  K void kernels::sgd_update<T>(T*, const T*, T*, bool, index_t, const kernels::SgdStep<T>&);                             \
  K double kernels::lp_norm<T>(const T*, index_t, double);                                                                 \
  K void kernels::scale_inplace<T>(T*, index_t, T);                                                                        \
  K void kernels::clamp_inplace<T>(T*, index_t, T, T);                                                                     \
  K void kernels::lerp_inplace<T>(T*, const T*, index_t, T);                                                               \
  K void kernels::swap_contents<T>(T*, T*, index_t);

#define LATENT_AUTOGRAD_ENGINE(K, T)                                                                                        \
  K void Tensor<T>::backward(const Tensor<T>&, bool, bool) const;                                                          \
  K std::vector<Tensor<T>> grad<T>(const std::vector<Tensor<T>>&, const std::vector<Tensor<T>>&,                           \
                                   const std::vector<Tensor<T>>&, bool, bool, bool);

#define LATENT_OPS_ELEMENTWISE(K, T)                                                                                        \
  K Tensor<T> add<T>(const Tensor<T>&, const Tensor<T>&);                                                                  \
  K Tensor<T> sub<T>(const Tensor<T>&, const Tensor<T>&);                                                                  \
  K Tensor<T> mul<T>(const Tensor<T>&, const Tensor<T>&);                                                                  \
  K Tensor<T> div<T>(const Tensor<T>&, const Tensor<T>&);                                                                  \
  K Tensor<T> pow<T>(const Tensor<T>&, const Tensor<T>&);                                                                  \
  K Tensor<T> pow<T>(const Tensor<T>&, T);                                                                                 \
  K Tensor<T> add_scalar<T>(const Tensor<T>&, T);                                                                          \
  K Tensor<T> mul_scalar<T>(const Tensor<T>&, T);                                                                          \
  K Tensor<T> neg<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> exp<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> log<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> sqrt<T>(const Tensor<T>&);                                                                                   \
  K Tensor<T> rsqrt<T>(const Tensor<T>&);                                                                                  \
  K Tensor<T> abs<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> sin<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> cos<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> square<T>(const Tensor<T>&);                                                                                 \
  K Tensor<T> erf<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> log1p<T>(const Tensor<T>&);                                                                                  \
  K Tensor<T> expm1<T>(const Tensor<T>&);                                                                                  \
  K Tensor<T> reciprocal<T>(const Tensor<T>&);                                                                             \
  K Tensor<T> sign<T>(const Tensor<T>&);                                                                                   \
  K Tensor<T> clamp<T>(const Tensor<T>&, T, T);                                                                            \
  K Tensor<T> clamp_min<T>(const Tensor<T>&, T);                                                                           \
  K Tensor<T> clamp_max<T>(const Tensor<T>&, T);                                                                           \
  K Tensor<T> gt<T>(const Tensor<T>&, const Tensor<T>&);                                                                   \
  K Tensor<T> lt<T>(const Tensor<T>&, const Tensor<T>&);                                                                   \
  K Tensor<T> ge<T>(const Tensor<T>&, const Tensor<T>&);                                                                   \
  K Tensor<T> le<T>(const Tensor<T>&, const Tensor<T>&);                                                                   \
  K Tensor<T> eq<T>(const Tensor<T>&, const Tensor<T>&);                                                                   \
  K Tensor<T> ne<T>(const Tensor<T>&, const Tensor<T>&);                                                                   \
  K Tensor<T> gt<T>(const Tensor<T>&, T);                                                                                  \
  K Tensor<T> lt<T>(const Tensor<T>&, T);                                                                                  \
  K Tensor<T> ge<T>(const Tensor<T>&, T);                                                                                  \
  K Tensor<T> le<T>(const Tensor<T>&, T);                                                                                  \
  K Tensor<T> eq<T>(const Tensor<T>&, T);                                                                                  \
  K Tensor<T> ne<T>(const Tensor<T>&, T);                                                                                  \
  K Tensor<T> where<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);                                              \
  K Tensor<T> operator+ <T>(const Tensor<T>&, const Tensor<T>&);                                                           \
  K Tensor<T> operator- <T>(const Tensor<T>&, const Tensor<T>&);                                                           \
  K Tensor<T> operator* <T>(const Tensor<T>&, const Tensor<T>&);                                                           \
  K Tensor<T> operator/ <T>(const Tensor<T>&, const Tensor<T>&);                                                           \
  K Tensor<T> operator- <T>(const Tensor<T>&);                                                                             \
  K Tensor<T> operator+ <T>(const Tensor<T>&, T);                                                                          \
  K Tensor<T> operator+ <T>(T, const Tensor<T>&);                                                                          \
  K Tensor<T> operator- <T>(const Tensor<T>&, T);                                                                          \
  K Tensor<T> operator- <T>(T, const Tensor<T>&);                                                                          \
  K Tensor<T> operator* <T>(const Tensor<T>&, T);                                                                          \
  K Tensor<T> operator* <T>(T, const Tensor<T>&);                                                                          \
  K Tensor<T> operator/ <T>(const Tensor<T>&, T);                                                                          \
  K Tensor<T> operator/ <T>(T, const Tensor<T>&);                                                                          \
  K Tensor<T> relu<T>(const Tensor<T>&);                                                                                   \
  K Tensor<T> sigmoid<T>(const Tensor<T>&);                                                                                \
  K Tensor<T> tanh<T>(const Tensor<T>&);                                                                                   \
  K Tensor<T> silu<T>(const Tensor<T>&);                                                                                   \
  K Tensor<T> softplus<T>(const Tensor<T>&);                                                                               \
  K Tensor<T> gelu<T>(const Tensor<T>&, GeluApproximation);                                                                \
  K Tensor<T> leaky_relu<T>(const Tensor<T>&, T);                                                                          \
  K Tensor<T> dropout<T>(const Tensor<T>&, T, Rng&, bool);

#define LATENT_OPS_REDUCE(K, T)                                                                                             \
  K Tensor<T> sum<T>(const Tensor<T>&, int, bool);                                                                         \
  K Tensor<T> sum<T>(const Tensor<T>&, const Dims&, bool);                                                                 \
  K Tensor<T> sum<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> mean<T>(const Tensor<T>&, int, bool);                                                                        \
  K Tensor<T> mean<T>(const Tensor<T>&, const Dims&, bool);                                                                \
  K Tensor<T> mean<T>(const Tensor<T>&);                                                                                   \
  K Tensor<T> var<T>(const Tensor<T>&, int, index_t, bool);                                                                \
  K Tensor<T> var<T>(const Tensor<T>&, index_t);                                                                           \
  K Tensor<T> logsumexp<T>(const Tensor<T>&, int, bool);                                                                   \
  K Tensor<std::int64_t> argmax<T>(const Tensor<T>&, int, bool);                                                           \
  K Tensor<std::int64_t> argmin<T>(const Tensor<T>&, int, bool);                                                           \
  K Tensor<T> max<T>(const Tensor<T>&, int, bool);                                                                         \
  K Tensor<T> min<T>(const Tensor<T>&, int, bool);                                                                         \
  K Tensor<T> max<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> min<T>(const Tensor<T>&);                                                                                    \
  K Tensor<T> sum_to<T>(const Tensor<T>&, const Shape&);                                                                   \
  K Tensor<T> softmax<T>(const Tensor<T>&, int);                                                                           \
  K Tensor<T> log_softmax<T>(const Tensor<T>&, int);                                                                       \
  K Tensor<T> mse_loss<T>(const Tensor<T>&, const Tensor<T>&, Reduction);                                                  \
  K Tensor<T> l1_loss<T>(const Tensor<T>&, const Tensor<T>&, Reduction);                                                   \
  K Tensor<T> binary_cross_entropy<T>(const Tensor<T>&, const Tensor<T>&, Reduction);                                      \
  K Tensor<T> binary_cross_entropy_with_logits<T>(const Tensor<T>&, const Tensor<T>&, Reduction);                          \
  K Tensor<T> cross_entropy<T>(const Tensor<T>&, const Tensor<std::int64_t>&, const CrossEntropyOptions&);                 \
  K Tensor<T> nll_loss<T>(const Tensor<T>&, const Tensor<std::int64_t>&, std::int64_t, Reduction);                         \
  K Tensor<T> gaussian_nll_loss<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const GaussianNllOptions&);       \
  K Tensor<T> kl_normal<T>(const Tensor<T>&, const Tensor<T>&);                                                            \
  K Tensor<T> layer_norm<T>(const Tensor<T>&, int, const Tensor<T>&, const Tensor<T>&, double);                            \
  K Tensor<T> group_norm<T>(const Tensor<T>&, index_t, const Tensor<T>&, const Tensor<T>&, double);                        \
  K Tensor<T> batch_norm<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,      \
                            bool, double, double);

#define LATENT_OPS_SHAPE(K, T)                                                                                              \
  K Tensor<T> reshape<T>(const Tensor<T>&, const Shape&);                                                                  \
  K Tensor<T> view<T>(const Tensor<T>&, std::initializer_list<index_t>);                                                   \
  K Tensor<T> flatten<T>(const Tensor<T>&, int, int);                                                                      \
  K Tensor<T> unsqueeze<T>(const Tensor<T>&, int);                                                                         \
  K Tensor<T> squeeze<T>(const Tensor<T>&, int);                                                                           \
  K Tensor<T> permute<T>(const Tensor<T>&, const Dims&);                                                                   \
  K Tensor<T> transpose<T>(const Tensor<T>&, int, int);                                                                    \
  K Tensor<T> narrow<T>(const Tensor<T>&, int, index_t, index_t);                                                          \
  K Tensor<T> select<T>(const Tensor<T>&, int, index_t);                                                                   \
  K Tensor<T> index_select<T>(const Tensor<T>&, int, const Tensor<std::int64_t>&);                                         \
  K Tensor<T> embedding<T>(const Tensor<T>&, const Tensor<std::int64_t>&);                                                 \
  K Tensor<T> gather<T>(const Tensor<T>&, int, const Tensor<std::int64_t>&);                                               \
  K Tensor<T> cat<T>(const std::vector<Tensor<T>>&, int);                                                                  \
  K Tensor<T> cat<T>(std::initializer_list<Tensor<T>>, int);                                                               \
  K Tensor<T> stack<T>(const std::vector<Tensor<T>>&, int);                                                                \
  K Tensor<T> stack<T>(std::initializer_list<Tensor<T>>, int);                                                             \
  K std::vector<Tensor<T>> split<T>(const Tensor<T>&, index_t, int);                                                       \
  K std::vector<Tensor<T>> chunk<T>(const Tensor<T>&, index_t, int);                                                       \
  K Tensor<T> expand<T>(const Tensor<T>&, const Shape&);                                                                   \
  K Tensor<T> matmul<T>(const Tensor<T>&, const Tensor<T>&);                                                               \
  K Tensor<T> linear<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);                                             \
  K Tensor<T> scaled_dot_product_attention<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, bool,                  \
                                              std::optional<double>);

#define LATENT_OPS_CONV(K, T)                                                                                               \
  K Tensor<T> conv2d<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, Pair, Pair, Pair);                           \
  K Tensor<T> conv_transpose2d<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, Pair, Pair, Pair, Pair);           \
  K Tensor<T> avg_pool2d<T>(const Tensor<T>&, Pair, Pair, Pair);                                                           \
  K Tensor<T> max_pool2d<T>(const Tensor<T>&, Pair, Pair, Pair);                                                           \
  K Tensor<T> upsample_nearest2d<T>(const Tensor<T>&, Pair);                                                               \
  K Tensor<T> upsample_bilinear2d<T>(const Tensor<T>&, Pair, bool);

// Every list, for one scalar type. (latent.hpp includes this file only when LATENT_EXTERN_TEMPLATES is defined.)
#define LATENT_EXPLICIT_TEMPLATES(K, T) \
  LATENT_KERNELS_ELEMENTWISE(K, T)      \
  LATENT_KERNELS_LINALG(K, T)           \
  LATENT_KERNELS_REDUCE(K, T)           \
  LATENT_KERNELS_COPY(K, T)             \
  LATENT_KERNELS_CONV(K, T)             \
  LATENT_KERNELS_NORM(K, T)             \
  LATENT_KERNELS_OPTIM(K, T)            \
  LATENT_AUTOGRAD_ENGINE(K, T)          \
  LATENT_OPS_ELEMENTWISE(K, T)          \
  LATENT_OPS_REDUCE(K, T)               \
  LATENT_OPS_SHAPE(K, T)                \
  LATENT_OPS_CONV(K, T)

namespace latent {
LATENT_EXPLICIT_TEMPLATES(extern template, float)
LATENT_EXPLICIT_TEMPLATES(extern template, double)
}  // namespace latent

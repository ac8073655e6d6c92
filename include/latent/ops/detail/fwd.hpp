// Declarations of the ops that other ops' backward rules call, so that the op files can refer to each
// other (a rule in reduce.hpp uses expand from shape_ops.hpp and vice versa). Defaults live here.
#pragma once
#ifndef LATENT_INSIDE_OPS
#error "latent/ops/detail/fwd.hpp is internal: include <latent/ops/ops.hpp>"
#endif

#include <cstdint>
#include <initializer_list>

#include "../../autograd/engine.hpp"

namespace latent {

template <Scalar T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b);
template <Scalar T> Tensor<T> neg(const Tensor<T>& x);
template <Scalar T> Tensor<T> exp(const Tensor<T>& x);
template <Scalar T> Tensor<T> add_scalar(const Tensor<T>& x, T s);
template <Scalar T> Tensor<T> mul_scalar(const Tensor<T>& x, T s);
template <Scalar T> Tensor<T> where(const Tensor<T>& cond, const Tensor<T>& a, const Tensor<T>& b);

template <Scalar T> Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape);
template <Scalar T> Tensor<T> sum(const Tensor<T>& x, int dim, bool keepdim = false);
template <Scalar T> Tensor<T> expand(const Tensor<T>& x, const Shape& shape);

template <Element T> Tensor<T> reshape(const Tensor<T>& x, const Shape& shape);
template <Element T> Tensor<T> permute(const Tensor<T>& x, const Dims& dims);
template <Scalar T> Tensor<T> sum(const Tensor<T>& x, const Dims& dims, bool keepdim = false);
template <Element T> Tensor<T> narrow(const Tensor<T>& x, int dim, index_t start, index_t length);
template <Scalar T> Tensor<T> index_select(const Tensor<T>& x, int dim, const Tensor<std::int64_t>& index);
template <Scalar T> Tensor<T> gather(const Tensor<T>& x, int dim, const Tensor<std::int64_t>& index);

}  // namespace latent

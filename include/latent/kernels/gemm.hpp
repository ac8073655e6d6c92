// C = alpha * op(A) * op(B) + beta * C on row-major memory, through Eigen's GEMM, and its batched form.
// op(A) is M x K (A is stored K x M when trans_a), op(B) is K x N, C is M x N.
#pragma once

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, const T* B, T beta, T* C) {
  MatrixMap<T> c(C, M, N);
  if (K == 0) {
    if (beta == T(0)) c.setZero();
    else c *= beta;
    return;
  }
  if (beta == T(0)) c.setZero();
  else if (beta != T(1)) c *= beta;
  const ConstMatrixMap<T> a(A, trans_a ? K : M, trans_a ? M : K);
  const ConstMatrixMap<T> b(B, trans_b ? N : K, trans_b ? K : N);
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  else c.noalias() += alpha * a.transpose() * b.transpose();
}

/// Batched GEMM: for each b < batch, C[b] = alpha op(A[b]) op(B[b]) + beta C[b]. A batch stride of 0
/// broadcasts that operand. Small matrices are spread over threads by batch.
template <class T>
void gemm_batched(bool trans_a, bool trans_b, index_t batch, index_t M, index_t N, index_t K, T alpha, const T* A,
                  index_t stride_a, const T* B, index_t stride_b, T beta, T* C, index_t stride_c) {
  const index_t flops = M * N * K;
  if (batch == 1 || flops >= (index_t{1} << 21)) {  // large matrices: Eigen parallelises inside
    for (index_t i = 0; i < batch; ++i)
      gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, B + i * stride_b, beta, C + i * stride_c);
    return;
  }
  parallel_for(0, batch, batch * flops, [&](index_t i) {
    gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, B + i * stride_b, beta, C + i * stride_c);
  });
}

}  // namespace latent::kernels

namespace latent::kernels {

/// Every row of the [rows, cols] matrix y becomes `row` (a bias before a beta = 1 GEMM).
template <class T>
void broadcast_rows(const T* row, T* y, index_t rows, index_t cols) {
  MatrixMap<T>(y, rows, cols).rowwise() = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(row, cols);
}

}  // namespace latent::kernels

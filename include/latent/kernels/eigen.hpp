// The one place that includes Eigen: row-major matrix maps and array maps over raw memory.
// Kernels view tensor memory through these; no Eigen type leaves kernels/.
#pragma once

#include <cstdint>

// latent splits large products over threads itself (kernels/gemm.hpp); Eigen's parallel GEMM spin-waits
// between its threads and collapses when another process holds a core.
#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>
#include <Eigen/Eigenvalues>  // SelfAdjointEigenSolver: matrix square roots of covariances (metrics/frechet.hpp)
#include <unsupported/Eigen/SpecialFunctions>

namespace latent::kernels {

using index_t = std::int64_t;

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<Matrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;
template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
/// Row-major 2-D array map (element-wise work with row/column broadcasting).
template <class T>
using Array2Map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstArray2Map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

}  // namespace latent::kernels

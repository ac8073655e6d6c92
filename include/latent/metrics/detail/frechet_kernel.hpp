// The dense linear algebra of the Fréchet distance: tr((A^½ B A^½)^½) for symmetric positive semi-definite A and B,
// through Eigen's SelfAdjointEigenSolver (raw memory in, a number out; no Eigen type leaves this file).
#pragma once
#ifndef LATENT_INSIDE_METRICS
#error "latent/metrics/detail/frechet_kernel.hpp is internal: include <latent/metrics/frechet.hpp>"
#endif

#include <algorithm>
#include <cmath>

#include "../../kernels/eigen.hpp"

namespace latent::metrics::detail {

/// tr((A^½ B A^½)^½) for row-major symmetric PSD d×d matrices a and b. It equals tr((A B)^½) (A B is similar to
/// A^½ B A^½), but the symmetric form has real eigenvalues, so a symmetric solver suffices. Eigenvalues that rounding
/// pushes below zero are clamped to 0: the matrices are PSD in exact arithmetic. (A template so that the eigensolver
/// is compiled only where it is used.)
template <class Real>
Real trace_sqrt_product(const Real* a, const Real* b, kernels::index_t d) {
  using Mat = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>;
  const kernels::ConstMatrixMap<Real> A(a, d, d), B(b, d, d);
  Eigen::SelfAdjointEigenSolver<Mat> ea(Mat(A), Eigen::ComputeEigenvectors);
  const Eigen::Matrix<Real, Eigen::Dynamic, 1> root = ea.eigenvalues().cwiseMax(Real(0)).cwiseSqrt();
  const Mat sqrt_a = ea.eigenvectors() * root.asDiagonal() * ea.eigenvectors().transpose();
  Mat m(d, d);
  m.noalias() = sqrt_a * B * sqrt_a;
  const Mat symmetric = Real(0.5) * (m + m.transpose());  // exact symmetry for the solver
  Eigen::SelfAdjointEigenSolver<Mat> em(symmetric, Eigen::EigenvaluesOnly);
  return em.eigenvalues().cwiseMax(Real(0)).cwiseSqrt().sum();
}

}  // namespace latent::metrics::detail

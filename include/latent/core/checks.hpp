// The one place where shape-mismatch messages are built: check_rank / check_same_shape / check_dim.
#pragma once

#include <string>

#include "shape.hpp"

namespace latent {

/// "op: input [8,3] has rank 2, expected 4"
inline void check_rank(const char* op, const char* what, const Shape& s, int rank) {
  LATENT_CHECK(s.rank() == rank, ShapeError,
               std::string(op) + ": " + what + " " + s.str() + " has rank " + std::to_string(s.rank()) + ", expected " + std::to_string(rank));
}
inline void check_rank_between(const char* op, const char* what, const Shape& s, int low, int high) {
  LATENT_CHECK(s.rank() >= low && s.rank() <= high, ShapeError,
               std::string(op) + ": " + what + " " + s.str() + " has rank " + std::to_string(s.rank()) + ", expected " +
                   std::to_string(low) + " to " + std::to_string(high));
}
/// "op: input [8,3] and target [8,4] differ"
inline void check_same_shape(const char* op, const char* what_a, const Shape& a, const char* what_b, const Shape& b) {
  LATENT_CHECK(a == b, ShapeError, std::string(op) + ": " + what_a + " " + a.str() + " and " + what_b + " " + b.str() + " differ");
}
/// "op: input [8,63] has 63 in dimension 1, expected 64"
inline void check_dim(const char* op, const char* what, const Shape& s, int dim, index_t expected) {
  LATENT_CHECK(s[dim] == expected, ShapeError,
               std::string(op) + ": " + what + " " + s.str() + " has " + std::to_string(s[dim]) + " in dimension " + std::to_string(dim) +
                   ", expected " + std::to_string(expected));
}

}  // namespace latent

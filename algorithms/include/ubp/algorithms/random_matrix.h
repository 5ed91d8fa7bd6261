// Deterministic random weight matrices for selection experiments and tests.
//
// The generator is our own (SplitMix64 seeding a xoshiro256** stream, Box-Muller normals,
// inverse-CDF Laplace), so the same seed gives the same matrix with any compiler and standard
// library; std::normal_distribution does not promise that.
#pragma once

#include <cstdint>
#include <string>

#include "ubp/algorithms/matrix.h"

namespace ubp::algorithms {

enum class Distribution { kGaussian, kUniform, kLaplace };
Distribution distribution_from_string(const std::string& name);  // throws std::invalid_argument
const char* to_string(Distribution dist);

// gaussian: N(0, 1); uniform: U(-1, 1); laplace: Laplace(0, 1).
Matrix random_matrix(int64_t rows, int64_t cols, Distribution dist, uint64_t seed);

}  // namespace ubp::algorithms

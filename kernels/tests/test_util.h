// Helpers for the kernel tests: deterministic random data and block patterns.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "ubp/kernels/common.h"

namespace ubp::kernels::testing {

// Uniform floats in [-1, 1) from a seeded generator (same values on every platform).
std::vector<float> random_floats(int64_t n, uint64_t seed);

// Exactly `m` distinct aligned blocks (start rows multiple of bh) on the padded grid, random.
std::vector<Block> random_aligned_blocks(int64_t rows, int64_t cols, BlockShape shape, int64_t m,
                                         uint64_t seed);
// Exactly `m` non-overlapping blocks at arbitrary start rows (m must not exceed the number of
// aligned tiles), spread randomly over the column groups.
std::vector<Block> random_unaligned_blocks(int64_t rows, int64_t cols, BlockShape shape,
                                           int64_t m, uint64_t seed);
// Number of blocks for sparsity s (the selectors' budget rule).
int64_t blocks_for_sparsity(int64_t rows, int64_t cols, BlockShape shape, double s);

// Largest |a - b| / (1 + |b|) over the arrays.
double max_relative_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace ubp::kernels::testing

namespace ubp::kernels::testing {

// Error bound for a float computation of W X + b against a reference: for every element,
// |y - ref| <= 4 * eps * (terms + 2) * (|W| |X| + |b|) (+ a tiny absolute slack), where `terms`
// is the number of products per output. abs_w / abs_x / abs_b hold absolute values.
std::vector<float> error_bounds(const std::vector<float>& abs_w, const std::vector<float>& abs_b,
                                int64_t rows, int64_t cols, const std::vector<float>& abs_x,
                                int64_t hw);
std::vector<float> absolute(const std::vector<float>& v);

// Index of the first element with |a - b| > bound (or a NaN), -1 if none.
int64_t first_violation(const std::vector<float>& a, const std::vector<float>& b,
                        const std::vector<float>& bound);

}  // namespace ubp::kernels::testing

#include <functional>
#include <string>

namespace ubp::kernels::testing {
// Runs fn(target) once per SIMD target of simd_targets() (restricting the kernels to it), then
// restores the automatic choice.
void for_each_simd_target(const std::function<void(const std::string&)>& fn);
}  // namespace ubp::kernels::testing

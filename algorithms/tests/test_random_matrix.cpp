// Deterministic random matrices (random_matrix.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "ubp/algorithms/random_matrix.h"

namespace ubp::algorithms {
namespace {

struct Moments {
  double mean = 0, variance = 0, frac_abs_below_one = 0, min = 0, max = 0;
};

Moments moments(const Matrix& m) {
  Moments out;
  const double n = static_cast<double>(m.values.size());
  double sum = 0, below = 0;
  out.min = out.max = m.values.at(0);
  for (float v : m.values) {
    sum += v;
    if (std::fabs(v) < 1.0f) below += 1;
    out.min = std::min<double>(out.min, v);
    out.max = std::max<double>(out.max, v);
  }
  out.mean = sum / n;
  double sq = 0;
  for (float v : m.values) sq += (v - out.mean) * (v - out.mean);
  out.variance = sq / (n - 1);
  out.frac_abs_below_one = below / n;
  return out;
}

constexpr int64_t kRows = 400, kCols = 500;  // 200k samples

TEST(RandomMatrix, SameSeedGivesIdenticalMatrices) {
  for (Distribution d : {Distribution::kGaussian, Distribution::kUniform, Distribution::kLaplace}) {
    const Matrix a = random_matrix(37, 11, d, 12345);
    const Matrix b = random_matrix(37, 11, d, 12345);
    EXPECT_EQ(a.rows, 37);
    EXPECT_EQ(a.cols, 11);
    EXPECT_EQ(a.values, b.values) << to_string(d);
  }
}

TEST(RandomMatrix, DifferentSeedsGiveDifferentMatrices) {
  for (Distribution d : {Distribution::kGaussian, Distribution::kUniform, Distribution::kLaplace}) {
    const Matrix a = random_matrix(16, 16, d, 1);
    const Matrix b = random_matrix(16, 16, d, 2);
    int equal = 0;
    for (size_t i = 0; i < a.values.size(); ++i) equal += a.values[i] == b.values[i];
    EXPECT_LT(equal, 3) << to_string(d);
  }
}

TEST(RandomMatrix, ShapeDoesNotChangeTheStream) {
  // Values are drawn in row-major order from one stream: a 2x6 and a 3x4 matrix with the same
  // seed hold the same 12 numbers.
  for (Distribution d : {Distribution::kGaussian, Distribution::kUniform, Distribution::kLaplace}) {
    EXPECT_EQ(random_matrix(2, 6, d, 99).values, random_matrix(3, 4, d, 99).values);
  }
}

TEST(RandomMatrix, GaussianHasZeroMeanAndUnitVariance) {
  const Moments m = moments(random_matrix(kRows, kCols, Distribution::kGaussian, 7));
  EXPECT_NEAR(m.mean, 0.0, 0.02);
  EXPECT_NEAR(m.variance, 1.0, 0.03);
  EXPECT_NEAR(m.frac_abs_below_one, 0.6827, 0.01);  // P(|Z| < 1)
  EXPECT_LT(m.min, -3.5);  // 200k draws: tails must be there
  EXPECT_GT(m.max, 3.5);
}

TEST(RandomMatrix, UniformCoversMinusOneToOneWithVarianceOneThird) {
  const Moments m = moments(random_matrix(kRows, kCols, Distribution::kUniform, 8));
  EXPECT_NEAR(m.mean, 0.0, 0.01);
  EXPECT_NEAR(m.variance, 1.0 / 3.0, 0.01);
  EXPECT_GE(m.min, -1.0);
  EXPECT_LE(m.max, 1.0);
  EXPECT_LT(m.min, -0.999);
  EXPECT_GT(m.max, 0.999);
  EXPECT_NEAR(m.frac_abs_below_one, 1.0, 1e-4);
}

TEST(RandomMatrix, LaplaceHasZeroMeanAndVarianceTwo) {
  const Moments m = moments(random_matrix(kRows, kCols, Distribution::kLaplace, 9));
  EXPECT_NEAR(m.mean, 0.0, 0.02);
  EXPECT_NEAR(m.variance, 2.0, 0.06);
  EXPECT_NEAR(m.frac_abs_below_one, 1.0 - std::exp(-1.0), 0.01);  // P(|X| < 1) = 1 - 1/e
}

TEST(RandomMatrix, DistributionsDiffer) {
  // Same seed, different distributions: tail weight separates them (kurtosis 3 / 1.8 / 6).
  auto kurtosis = [](const Matrix& mat) {
    const Moments mo = moments(mat);
    double k = 0;
    for (float v : mat.values) k += std::pow((v - mo.mean), 4);
    return k / static_cast<double>(mat.values.size()) / (mo.variance * mo.variance);
  };
  EXPECT_NEAR(kurtosis(random_matrix(kRows, kCols, Distribution::kGaussian, 5)), 3.0, 0.15);
  EXPECT_NEAR(kurtosis(random_matrix(kRows, kCols, Distribution::kUniform, 5)), 1.8, 0.05);
  EXPECT_NEAR(kurtosis(random_matrix(kRows, kCols, Distribution::kLaplace, 5)), 6.0, 0.6);
}

TEST(RandomMatrix, EmptyShapesAreAllowedAndNegativeOnesRejected) {
  EXPECT_TRUE(random_matrix(0, 5, Distribution::kGaussian, 1).values.empty());
  EXPECT_THROW(random_matrix(-1, 5, Distribution::kGaussian, 1), std::invalid_argument);
}

TEST(RandomMatrix, FirstValuesOfAPinnedStreamDoNotChange) {
  // Change detector, not a correctness check: these are the first values this generator
  // produced for seed 42 when it was written (SplitMix64 -> xoshiro256**, open-interval 53-bit
  // uniforms). Any edit of the generator or of the value mapping changes them and invalidates
  // stored experiment seeds; update deliberately if that is intended.
  const Matrix u = random_matrix(1, 4, Distribution::kUniform, 42);
  const Matrix g = random_matrix(1, 4, Distribution::kGaussian, 42);
  const Matrix l = random_matrix(1, 4, Distribution::kLaplace, 42);
  // Uniform involves only exact arithmetic: bit-exact. Gaussian and Laplace go through libm
  // log/cos/sin, so allow the 4-ulp slack of EXPECT_FLOAT_EQ.
  const float u_pinned[4] = {-0.832274079f, -0.242039502f, 0.360086828f, 0.849385917f};
  const float g_pinned[4] = {-1.61322379f, 1.53448737f, 0.781692028f, -0.400193483f};
  const float l_pinned[4] = {-1.78542387f, -0.277124017f, 0.446422786f, 1.89303434f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(u.values[i], u_pinned[i]) << i;
    EXPECT_FLOAT_EQ(g.values[i], g_pinned[i]) << i;
    EXPECT_FLOAT_EQ(l.values[i], l_pinned[i]) << i;
  }
}

TEST(RandomMatrix, SeedZeroStartsFromThePublishedSplitMix64State) {
  // Independent of the code under test: the first four SplitMix64 outputs for seed 0 are
  // published reference values (Vigna's splitmix64.c) and form the xoshiro256** state.
  // The first xoshiro256** output is rotl(s[1] * 5, 7) * 9; the uniform sample maps its top
  // 53 bits k to 2 * (k + 0.5) / 2^53 - 1.
  const uint64_t s1 = 0x6E789E6AA1B965F4ULL;
  const uint64_t x = s1 * 5;
  const uint64_t out = ((x << 7) | (x >> 57)) * 9;
  const double u01 = (static_cast<double>(out >> 11) + 0.5) / 9007199254740992.0;
  const float expected = static_cast<float>(2.0 * u01 - 1.0);
  EXPECT_EQ(random_matrix(1, 1, Distribution::kUniform, 0).values.at(0), expected);
}

TEST(DistributionNames, RoundTripAndRejectUnknownNames) {
  for (Distribution d : {Distribution::kGaussian, Distribution::kUniform, Distribution::kLaplace}) {
    EXPECT_EQ(distribution_from_string(to_string(d)), d);
  }
  EXPECT_THROW(distribution_from_string("cauchy"), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::algorithms

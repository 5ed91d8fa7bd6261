// Deterministic random matrices: SplitMix64 seeds a xoshiro256** stream; samples are formed in
// double precision and rounded to float once.
//
// Only integer arithmetic, IEEE double +,-,*,/ and sqrt (all exactly specified), plus log, cos
// and sin enter the values. The latter three are not required to be correctly rounded, but
// mainstream libms agree on them to within an ulp of double, far below float resolution, so the
// float matrices are the same with any compiler and standard library in practice (unlike
// std::normal_distribution, whose algorithm is unspecified).
#include "ubp/algorithms/random_matrix.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ubp::algorithms {
namespace {

// SplitMix64 (Steele, Lea, Flood), used only to expand the 64-bit seed into generator state.
uint64_t splitmix64_next(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// xoshiro256** (Blackman, Vigna).
class Xoshiro256StarStar {
 public:
  explicit Xoshiro256StarStar(uint64_t seed) {
    uint64_t sm = seed;
    for (auto& word : s_) word = splitmix64_next(sm);
    // SplitMix64 is a bijection of its counter, so four consecutive outputs are never all zero;
    // kept as a guard because the all-zero state is a fixed point.
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform on the open interval (0, 1): the 53 top bits, centred in their cell. Never 0 or 1,
  // so log() and the Laplace inverse CDF stay finite.
  double open01() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

constexpr double kTwoPi = 6.283185307179586476925286766559;

}  // namespace

Distribution distribution_from_string(const std::string& name) {
  if (name == "gaussian" || name == "normal") return Distribution::kGaussian;
  if (name == "uniform") return Distribution::kUniform;
  if (name == "laplace") return Distribution::kLaplace;
  throw std::invalid_argument("unknown distribution '" + name +
                              "' (expected gaussian, uniform or laplace)");
}

const char* to_string(Distribution dist) {
  switch (dist) {
    case Distribution::kGaussian:
      return "gaussian";
    case Distribution::kUniform:
      return "uniform";
    case Distribution::kLaplace:
      return "laplace";
  }
  return "unknown";
}

Matrix random_matrix(int64_t rows, int64_t cols, Distribution dist, uint64_t seed) {
  if (rows < 0 || cols < 0) {
    throw std::invalid_argument("random_matrix: negative dimensions " + std::to_string(rows) +
                                "x" + std::to_string(cols));
  }
  Matrix m(rows, cols);
  Xoshiro256StarStar rng(seed);
  const size_t n = m.values.size();
  switch (dist) {
    case Distribution::kGaussian:
      // Box-Muller: each pair of uniforms yields two independent N(0,1) values, used in order
      // (cos branch, then sin branch).
      for (size_t i = 0; i < n; i += 2) {
        const double u1 = rng.open01();
        const double u2 = rng.open01();
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double angle = kTwoPi * u2;
        m.values[i] = static_cast<float>(radius * std::cos(angle));
        if (i + 1 < n) m.values[i + 1] = static_cast<float>(radius * std::sin(angle));
      }
      break;
    case Distribution::kUniform:
      // U(-1, 1); 2u - 1 is exact in double for u on the 2^-53 lattice.
      for (size_t i = 0; i < n; ++i) m.values[i] = static_cast<float>(2.0 * rng.open01() - 1.0);
      break;
    case Distribution::kLaplace:
      // Inverse CDF of Laplace(0, 1): with u in (-1/2, 1/2), x = -sign(u) * ln(1 - 2|u|).
      for (size_t i = 0; i < n; ++i) {
        const double u = rng.open01() - 0.5;
        const double magnitude = -std::log(1.0 - 2.0 * std::fabs(u));
        m.values[i] = static_cast<float>(u < 0 ? -magnitude : magnitude);
      }
      break;
  }
  return m;
}

}  // namespace ubp::algorithms

// The input image ubp-devbench feeds the model: uniform floats in [-1, 1) from a seed, the same
// values on every platform and standard library (tests recompute it to compare outputs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace ubp::device {

inline std::vector<float> devbench_input(size_t count, uint64_t seed) {
  // mt19937_64's output sequence is fixed by the standard; uniform_real_distribution's mapping
  // is not, so the mapping is ours: the top 24 bits as k / 2^24 in [0, 1), exact in float.
  std::mt19937_64 generator(seed);
  std::vector<float> values(count);
  for (auto& v : values) {
    const double unit = static_cast<double>(generator() >> 40) / static_cast<double>(1 << 24);
    v = static_cast<float>(2.0 * unit - 1.0);
  }
  return values;
}

}  // namespace ubp::device

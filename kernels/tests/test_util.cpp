#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace ubp::kernels::testing {
namespace {

// SplitMix64: portable, so patterns are identical on x86 and aarch64.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

}  // namespace

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  Rng rng{seed};
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(static_cast<double>(rng.next() >> 40) / (1 << 23)) - 1.0f;
  return v;
}

int64_t blocks_for_sparsity(int64_t rows, int64_t cols, BlockShape shape, double s) {
  const double m = static_cast<double>(rows) * static_cast<double>(cols) * (1.0 - s) /
                   (static_cast<double>(shape.rows) * shape.cols);
  return static_cast<int64_t>(std::floor(m + 1e-9));
}

std::vector<Block> random_aligned_blocks(int64_t rows, int64_t cols, BlockShape shape, int64_t m,
                                         uint64_t seed) {
  const int64_t tiles_per_group = (rows + shape.rows - 1) / shape.rows;
  const int64_t groups = (cols + shape.cols - 1) / shape.cols;
  const int64_t total = tiles_per_group * groups;
  if (m > total) throw std::invalid_argument("random_aligned_blocks: m exceeds the tiles");
  // Partial Fisher-Yates over tile indices.
  std::vector<int64_t> idx(static_cast<size_t>(total));
  std::iota(idx.begin(), idx.end(), 0);
  Rng rng{seed};
  for (int64_t i = 0; i < m; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(total - i)));
    std::swap(idx[i], idx[j]);
  }
  std::vector<Block> out;
  for (int64_t i = 0; i < m; ++i) {
    out.push_back(Block{idx[i] / tiles_per_group, (idx[i] % tiles_per_group) * shape.rows});
  }
  return out;
}

std::vector<Block> random_unaligned_blocks(int64_t rows, int64_t cols, BlockShape shape,
                                           int64_t m, uint64_t seed) {
  const int64_t bh = shape.rows;
  const int64_t padded = (rows + bh - 1) / bh * bh;
  const int64_t cap = padded / bh;  // most blocks one column group can hold
  const int64_t groups = (cols + shape.cols - 1) / shape.cols;
  if (m > cap * groups) throw std::invalid_argument("random_unaligned_blocks: m too large");
  Rng rng{seed};
  // Per-group counts: m random increments into groups that still have room.
  std::vector<int64_t> count(static_cast<size_t>(groups), 0);
  std::vector<int64_t> open(static_cast<size_t>(groups));
  std::iota(open.begin(), open.end(), 0);
  for (int64_t i = 0; i < m; ++i) {
    const size_t j = static_cast<size_t>(rng.below(open.size()));
    const int64_t g = open[j];
    if (++count[g] == cap) {
      open[j] = open.back();
      open.pop_back();
    }
  }
  std::vector<Block> out;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t k = count[g];
    if (k == 0) continue;
    // k distinct sorted values b_i in [0, padded - k*bh + k) -> start_i = b_i + i*(bh - 1).
    const int64_t range = padded - k * bh + k;
    std::vector<int64_t> pool(static_cast<size_t>(range));
    std::iota(pool.begin(), pool.end(), 0);
    for (int64_t i = 0; i < k; ++i) {
      const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(range - i)));
      std::swap(pool[i], pool[j]);
    }
    std::sort(pool.begin(), pool.begin() + k);
    for (int64_t i = 0; i < k; ++i) out.push_back(Block{g, pool[i] + i * (bh - 1)});
  }
  // Shuffle so packers cannot rely on the order.
  for (size_t i = out.size(); i > 1; --i) std::swap(out[i - 1], out[rng.below(i)]);
  return out;
}

double max_relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double e = std::abs(static_cast<double>(a[i]) - b[i]) / (1.0 + std::abs(b[i]));
    if (!(e <= worst)) worst = e;  // NaN propagates as the worst
  }
  return worst;
}

}  // namespace ubp::kernels::testing

#include <limits>

#include "ubp/kernels/spmm.h"

namespace ubp::kernels::testing {

std::vector<float> absolute(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::abs(v[i]);
  return out;
}

std::vector<float> error_bounds(const std::vector<float>& abs_w, const std::vector<float>& abs_b,
                                int64_t rows, int64_t cols, const std::vector<float>& abs_x,
                                int64_t hw) {
  std::vector<float> mag(static_cast<size_t>(rows * hw));
  dense_reference(abs_w.data(), abs_b.data(), rows, cols, abs_x.data(), hw, mag.data(),
                  Activation::kNone);
  const double eps = std::numeric_limits<float>::epsilon();
  for (auto& m : mag) m = static_cast<float>(4.0 * eps * (cols + 2) * m + 1e-30);
  return mag;
}

int64_t first_violation(const std::vector<float>& a, const std::vector<float>& b,
                        const std::vector<float>& bound) {
  if (a.size() != b.size() || a.size() != bound.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(static_cast<double>(a[i]) - b[i]);
    if (!(e <= bound[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace ubp::kernels::testing

#include <gtest/gtest.h>

namespace ubp::kernels::testing {
void for_each_simd_target(const std::function<void(const std::string&)>& fn) {
  struct Restore {
    ~Restore() { set_simd_target(""); }
  } restore;
  for (const std::string& t : simd_targets()) {
    SCOPED_TRACE("SIMD target " + t);
    set_simd_target(t);
    ASSERT_EQ(simd_target(), t);
    fn(t);
  }
}
}  // namespace ubp::kernels::testing

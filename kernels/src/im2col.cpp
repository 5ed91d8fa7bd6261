// im2col into the K x HW layout, K = Cin*k*k in (cin, ky, kx) order.
#include "ubp/kernels/im2col.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ubp::kernels {

int64_t ConvGeometry::out_height() const { return (height + 2 * padding - kernel) / stride + 1; }
int64_t ConvGeometry::out_width() const { return (width + 2 * padding - kernel) / stride + 1; }

void ConvGeometry::validate() const {
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("im2col: " + what);
  };
  if (channels < 1) bad("channels = " + std::to_string(channels) + " must be >= 1");
  if (height < 1 || width < 1) {
    bad("image " + std::to_string(height) + " x " + std::to_string(width) +
        " must be at least 1 x 1");
  }
  if (kernel < 1) bad("kernel = " + std::to_string(kernel) + " must be >= 1");
  if (stride < 1) bad("stride = " + std::to_string(stride) + " must be >= 1");
  if (padding < 0) bad("padding = " + std::to_string(padding) + " must be >= 0");
  if (height + 2 * padding < kernel || width + 2 * padding < kernel) {
    bad("kernel " + std::to_string(kernel) + " does not fit the padded image " +
        std::to_string(height + 2 * padding) + " x " + std::to_string(width + 2 * padding));
  }
}

void im2col(const ConvGeometry& g, const float* x, float* out, ThreadPool* pool) {
  g.validate();
  if (x == nullptr || out == nullptr) {
    throw std::invalid_argument("im2col: input and output pointers must not be null");
  }
  const int64_t oh = g.out_height(), ow = g.out_width();
  const int64_t k = g.kernel, s = g.stride, pad = g.padding;
  const int64_t rows = g.rows();
  auto row_task = [&](int64_t row) {
    const int64_t c = row / (k * k), ky = (row / k) % k, kx = row % k;
    const float* plane = x + c * g.height * g.width;
    float* dst = out + row * oh * ow;
    // Output columns whose input column ix = ox*s + kx - pad lies inside [0, width).
    const int64_t ox_lo = std::min(ow, std::max<int64_t>(0, (pad - kx + s - 1) / s));
    const int64_t last = g.width - 1 + pad - kx;  // ox*s <= last
    const int64_t ox_hi = last < 0 ? ox_lo : std::max(ox_lo, std::min(ow, last / s + 1));
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int64_t iy = oy * s + ky - pad;
      float* d = dst + oy * ow;
      if (iy < 0 || iy >= g.height) {
        std::fill(d, d + ow, 0.0f);
        continue;
      }
      const float* src = plane + iy * g.width;
      std::fill(d, d + ox_lo, 0.0f);
      if (s == 1) {
        if (ox_hi > ox_lo) {
          std::memcpy(d + ox_lo, src + ox_lo + kx - pad,
                      static_cast<size_t>(ox_hi - ox_lo) * sizeof(float));
        }
      } else {
        for (int64_t ox = ox_lo; ox < ox_hi; ++ox) d[ox] = src[ox * s + kx - pad];
      }
      std::fill(d + ox_hi, d + ow, 0.0f);
    }
  };
  const int threads = pool_threads(pool);
  if (threads == 1 || rows < 2) {
    for (int64_t r = 0; r < rows; ++r) row_task(r);
    return;
  }
  const int64_t chunks = std::min<int64_t>(rows, 4 * threads);
  pool->parallel_for(chunks, [&](int64_t t) {
    for (int64_t r = rows * t / chunks; r < rows * (t + 1) / chunks; ++r) row_task(r);
  });
}

}  // namespace ubp::kernels

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

Im2colRows::Im2colRows(const ConvGeometry& g, const float* x)
    : g_(g), x_(x), out_width_(0) {
  g.validate();
  if (x == nullptr) throw std::invalid_argument("im2col: input pointer must not be null");
  out_width_ = g.out_width();
}

void Im2colRows::copy(int64_t row, int64_t p0, int64_t count, float* out) const {
  const int64_t k = g_.kernel, s = g_.stride, pad = g_.padding, ow = out_width_;
  const int64_t c = row / (k * k), ky = (row / k) % k, kx = row % k;
  const float* plane = x_ + c * g_.height * g_.width;
  // Output columns whose input column ix = ox*s + kx - pad lies inside [0, width).
  const int64_t ox_lo = std::min(ow, std::max<int64_t>(0, (pad - kx + s - 1) / s));
  const int64_t last = g_.width - 1 + pad - kx;  // ox*s <= last
  const int64_t ox_hi = last < 0 ? ox_lo : std::max(ox_lo, std::min(ow, last / s + 1));
  int64_t oy = p0 / ow, ox0 = p0 % ow;
  for (int64_t left = count; left > 0; ++oy, ox0 = 0) {
    const int64_t ox1 = std::min(ow, ox0 + left);  // this output row's part: [ox0, ox1)
    const int64_t iy = oy * s + ky - pad;
    // Output column ox of this row goes to out[ox - ox0].
    if (iy < 0 || iy >= g_.height) {
      std::fill(out, out + (ox1 - ox0), 0.0f);
    } else {
      const float* in_row = plane + iy * g_.width;  // column ox reads in_row[ox*s + kx - pad]
      const int64_t a = std::max(ox0, std::min(ox1, ox_lo)), b = std::max(a, std::min(ox1, ox_hi));
      std::fill(out, out + (a - ox0), 0.0f);
      if (s == 1) {
        if (b > a) {
          std::memcpy(out + (a - ox0), in_row + (a + kx - pad),
                      static_cast<size_t>(b - a) * sizeof(float));
        }
      } else {
        for (int64_t ox = a; ox < b; ++ox) out[ox - ox0] = in_row[ox * s + kx - pad];
      }
      std::fill(out + (b - ox0), out + (ox1 - ox0), 0.0f);
    }
    out += ox1 - ox0;
    left -= ox1 - ox0;
  }
}

void im2col(const ConvGeometry& g, const float* x, float* out, ThreadPool* pool) {
  if (out == nullptr) {
    throw std::invalid_argument("im2col: input and output pointers must not be null");
  }
  const Im2colRows source(g, x);
  const int64_t cols = g.cols(), rows = g.rows();
  auto row_task = [&](int64_t row) { source.copy(row, 0, cols, out + row * cols); };
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

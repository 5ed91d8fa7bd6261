// Operators of the device inference engine (see ops.h).
#include "ubp/device/ops.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace ubp::device {
namespace {

[[noreturn]] void reject(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

std::string shape_text(const ImageShape& s) {
  return std::to_string(s.channels) + " x " + std::to_string(s.height) + " x " +
         std::to_string(s.width);
}

void check_image(const char* op, const ImageShape& in, const void* x, const void* y) {
  if (in.channels < 1 || in.height < 1 || in.width < 1) {
    reject(op, "input shape " + shape_text(in) + " must be at least 1 x 1 x 1");
  }
  if (x == nullptr || y == nullptr) reject(op, "input and output pointers must not be null");
}

// Clamp bounds of an activation; min(max(v, lo), hi) is the kernels' order too.
struct Clamp {
  float lo, hi;
  explicit Clamp(Activation act)
      : lo(act == Activation::kNone ? -std::numeric_limits<float>::infinity() : 0.0f),
        hi(act == Activation::kRelu6 ? 6.0f : std::numeric_limits<float>::infinity()) {}
  float operator()(float v) const { return std::min(std::max(v, lo), hi); }
};

// Runs body(begin, end) over [0, count) in contiguous chunks on the pool. Each index is handled
// entirely by one call, so the result never depends on the number of threads.
template <typename Body>
void for_chunks(ThreadPool* pool, int64_t count, const Body& body) {
  const int threads = kernels::pool_threads(pool);
  if (threads == 1 || count < 2) {
    body(int64_t{0}, count);
    return;
  }
  // A few chunks per thread even out channels of unequal cost without much scheduling overhead.
  const int64_t chunks = std::min<int64_t>(count, 4 * int64_t{threads});
  pool->parallel_for(chunks, [&](int64_t t) { body(count * t / chunks, count * (t + 1) / chunks); });
}

}  // namespace

namespace {
// {rows, cols} of the weight matrix, whichever format holds it.
std::pair<int64_t, int64_t> matrix_size(const PackedWeights& w) {
  return std::visit(
      [](const auto& p) -> std::pair<int64_t, int64_t> {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, kernels::DensePacked>) {
          return {p.rows, p.cols};
        } else if constexpr (std::is_same_v<P, NaiveUnalignedWeights>) {
          return {p.packed.geom.rows, p.packed.geom.cols};
        } else {
          return {p.geom.rows, p.geom.cols};
        }
      },
      w);
}
}  // namespace

int64_t output_channels(const PackedWeights& w) { return matrix_size(w).first; }
int64_t input_columns(const PackedWeights& w) { return matrix_size(w).second; }

void multiply(const PackedWeights& w, const float* x, int64_t hw, float* y, Activation act,
              ThreadPool* pool) {
  if (const auto* dense = std::get_if<kernels::DensePacked>(&w)) {
    kernels::dense_ours(*dense, x, hw, y, act, pool);
  } else if (const auto* aligned = std::get_if<kernels::AlignedPacked>(&w)) {
    kernels::spmm_aligned(*aligned, x, hw, y, act, pool);
  } else if (const auto* naive = std::get_if<NaiveUnalignedWeights>(&w)) {
    kernels::spmm_unaligned_naive(naive->packed, x, hw, y, act, pool);
  } else {
    kernels::spmm_unaligned(std::get<kernels::UnalignedPacked>(w), x, hw, y, act, pool);
  }
}

void multiply_pixels(const PackedWeights& w, const float* x, int64_t hw, float* y, int64_t p0,
                     int64_t p1, Activation act) {
  if (const auto* dense = std::get_if<kernels::DensePacked>(&w)) {
    kernels::dense_ours_pixels(*dense, x, hw, y, p0, p1, act);
  } else if (const auto* aligned = std::get_if<kernels::AlignedPacked>(&w)) {
    kernels::spmm_aligned_pixels(*aligned, x, hw, y, p0, p1, act);
  } else if (const auto* naive = std::get_if<NaiveUnalignedWeights>(&w)) {
    kernels::spmm_unaligned_naive_pixels(naive->packed, x, hw, y, p0, p1, act);
  } else {
    kernels::spmm_unaligned_pixels(std::get<kernels::UnalignedPacked>(w), x, hw, y, p0, p1, act);
  }
}

float* Workspace::floats(int64_t count) {
  if (static_cast<int64_t>(buffer_.size()) < count) buffer_.resize(static_cast<size_t>(count));
  return buffer_.data();
}

ImageShape conv_output_shape(const ImageShape& in, int64_t out_channels, const ConvParams& p) {
  kernels::ConvGeometry g{in.channels, in.height, in.width, p.kernel, p.stride, p.padding};
  g.validate();
  return {out_channels, g.out_height(), g.out_width()};
}

void conv2d(const PackedWeights& w, const ImageShape& in, const float* x, const ConvParams& p,
            float* y, Activation act, ThreadPool* pool, Workspace& workspace) {
  check_image("conv2d", in, x, y);
  const int64_t expected_cols = in.channels * p.kernel * p.kernel;
  if (input_columns(w) != expected_cols) {
    reject("conv2d", "weights have " + std::to_string(input_columns(w)) +
                         " columns, but Cin*k*k = " + std::to_string(in.channels) + "*" +
                         std::to_string(p.kernel) + "*" + std::to_string(p.kernel) + " = " +
                         std::to_string(expected_cols));
  }
  const ImageShape out = conv_output_shape(in, output_channels(w), p);
  if (p.kernel == 1 && p.padding == 0) {
    if (p.stride == 1) {
      multiply(w, x, in.pixels(), y, act, pool);
      return;
    }
    // Subsampling costs one pass over Cin x OH x OW, far less than the product it feeds.
    float* sub = workspace.floats(in.channels * out.pixels());
    for_chunks(pool, in.channels, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        const float* plane = x + c * in.pixels();
        float* dst = sub + c * out.pixels();
        for (int64_t oy = 0; oy < out.height; ++oy) {
          const float* src = plane + oy * p.stride * in.width;
          for (int64_t ox = 0; ox < out.width; ++ox) dst[oy * out.width + ox] = src[ox * p.stride];
        }
      }
    });
    multiply(w, sub, out.pixels(), y, act, pool);
    return;
  }
  const kernels::ConvGeometry g{in.channels, in.height, in.width, p.kernel, p.stride, p.padding};
  if (const auto* dense = std::get_if<kernels::DensePacked>(&w)) {
    // Packs the column matrix tile by tile from the image: no k*k-times-the-image pass written
    // out and read back, and each thread reads the image rows near its own pixels.
    kernels::dense_conv_ours(*dense, g, x, y, act, pool);
    return;
  }
  float* cols = workspace.floats(g.rows() * g.cols());
  kernels::im2col(g, x, cols, pool);
  multiply(w, cols, g.cols(), y, act, pool);
}

bool runs_direct(int64_t in_channels, const ConvParams& p) {
  return in_channels <= 4 && p.kernel > 1 && (p.stride == 1 || p.stride == 2) &&
         p.padding * 2 <= p.kernel;
}

void conv_direct(const float* weights, const float* bias, int64_t out_channels,
                 const ImageShape& in, const float* x, const ConvParams& p, float* y,
                 Activation act, ThreadPool* pool) {
  check_image("conv_direct", in, x, y);
  if (!runs_direct(in.channels, p)) {
    reject("conv_direct", std::to_string(in.channels) + " input channels, kernel " +
                              std::to_string(p.kernel) + ", stride " + std::to_string(p.stride) +
                              ", padding " + std::to_string(p.padding) +
                              " (accepted: at most 4 channels, kernel > 1, stride 1 or 2, "
                              "padding <= kernel / 2)");
  }
  conv_output_shape(in, out_channels, p);  // rejects a kernel larger than the padded image
  kernels::conv_direct(weights, bias, out_channels, in.channels, in.height, in.width, p.kernel,
                       p.stride, p.padding, x, y, act, pool);
}

ImageShape depthwise3x3_output_shape(const ImageShape& in, int stride) {
  if (stride != 1 && stride != 2) {
    reject("depthwise_conv3x3", "stride = " + std::to_string(stride) + " must be 1 or 2");
  }
  return {in.channels, (in.height - 1) / stride + 1, (in.width - 1) / stride + 1};
}

void depthwise_conv3x3(const float* weights, const float* bias, const ImageShape& in,
                       const float* x, int stride, float* y, Activation act, ThreadPool* pool) {
  check_image("depthwise_conv3x3", in, x, y);
  if (weights == nullptr) reject("depthwise_conv3x3", "weights must not be null");
  depthwise3x3_output_shape(in, stride);  // rejects strides other than 1 and 2
  kernels::depthwise3x3(weights, bias, in.channels, in.height, in.width, stride, x, y, act, pool);
}

namespace {
// Bands of output rows for a fused depthwise + 1x1 job: one per thread at least, so each thread
// has a band to call its own; up to four per thread where the plane is tall enough for bands of
// 7 rows or more, so a late thread's share can be taken over in smaller pieces. A band's two halo
// rows are read twice, which is why bands are not thinner.
int64_t fused_bands(int threads, int64_t out_rows) {
  if (threads == 1) return 1;
  const int64_t bands = std::clamp<int64_t>(out_rows / 7, threads, 4 * int64_t{threads});
  return std::min(bands, out_rows);
}
}  // namespace

void depthwise_pointwise(const float* dw_weights, const float* dw_bias, const ImageShape& in,
                         const float* x, int stride, Activation dw_act, float* mid,
                         const PackedWeights& pw, float* y, Activation pw_act, ThreadPool* pool,
                         FusedPartSeconds* seconds) {
  check_image("depthwise_pointwise", in, x, y);
  if (dw_weights == nullptr || mid == nullptr) {
    reject("depthwise_pointwise", "depthwise weights and the middle buffer must not be null");
  }
  const ImageShape out = depthwise3x3_output_shape(in, stride);
  if (input_columns(pw) != in.channels) {
    reject("depthwise_pointwise", "the 1x1 weights have " + std::to_string(input_columns(pw)) +
                                      " columns, the depthwise layer has " +
                                      std::to_string(in.channels) + " channels");
  }
  const int64_t bands = fused_bands(kernels::pool_threads(pool), out.height);
  std::vector<FusedPartSeconds> per_band(seconds == nullptr ? 0 : static_cast<size_t>(bands));
  using Clock = std::chrono::steady_clock;
  auto band = [&](int64_t b) {
    const int64_t oy0 = out.height * b / bands, oy1 = out.height * (b + 1) / bands;
    const Clock::time_point start = seconds == nullptr ? Clock::time_point{} : Clock::now();
    kernels::depthwise3x3_rows(dw_weights, dw_bias, in.channels, in.height, in.width, stride, x,
                               mid, oy0, oy1, dw_act);
    const Clock::time_point middle = seconds == nullptr ? Clock::time_point{} : Clock::now();
    multiply_pixels(pw, mid, out.pixels(), y, oy0 * out.width, oy1 * out.width, pw_act);
    if (seconds != nullptr) {
      per_band[static_cast<size_t>(b)] = {std::chrono::duration<double>(middle - start).count(),
                                          std::chrono::duration<double>(Clock::now() - middle).count()};
    }
  };
  if (bands == 1) {
    band(0);
  } else {
    pool->parallel_for(bands, band);
  }
  if (seconds != nullptr) {
    *seconds = {};
    for (const FusedPartSeconds& s : per_band) {
      seconds->depthwise += s.depthwise;
      seconds->pointwise += s.pointwise;
    }
  }
}

void residual_add(const float* a, const float* b, int64_t count, float* y, Activation act) {
  if (count < 0) reject("residual_add", "count = " + std::to_string(count) + " must be >= 0");
  if (a == nullptr || b == nullptr || y == nullptr) {
    reject("residual_add", "pointers must not be null");
  }
  const Clamp clamp(act);
  for (int64_t i = 0; i < count; ++i) y[i] = clamp(a[i] + b[i]);
}

void global_average_pool(const ImageShape& in, const float* x, float* y, ThreadPool* pool) {
  check_image("global_average_pool", in, x, y);
  kernels::global_average_pool(in.channels, in.pixels(), x, y, Activation::kNone, pool);
}

ImageShape max_pool_output_shape(const ImageShape& in, const ConvParams& p) {
  if (p.padding * 2 > p.kernel) {
    reject("max_pool", "padding = " + std::to_string(p.padding) + " must be at most kernel / 2 = " +
                           std::to_string(p.kernel / 2));
  }
  return conv_output_shape(in, in.channels, p);
}

void max_pool(const ImageShape& in, const float* x, const ConvParams& p, float* y,
              ThreadPool* pool) {
  check_image("max_pool", in, x, y);
  const ImageShape out = max_pool_output_shape(in, p);
  if (p.stride == 1 || p.stride == 2) {
    kernels::max_pool(in.channels, in.height, in.width, p.kernel, p.stride, p.padding, x, y, pool);
    return;
  }
  for_chunks(pool, in.channels, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const float* plane = x + c * in.pixels();
      float* dst = y + c * out.pixels();
      for (int64_t oy = 0; oy < out.height; ++oy) {
        const int64_t y0 = std::max<int64_t>(0, oy * p.stride - p.padding);
        const int64_t y1 = std::min(in.height, oy * p.stride - p.padding + p.kernel);
        for (int64_t ox = 0; ox < out.width; ++ox) {
          const int64_t x0 = std::max<int64_t>(0, ox * p.stride - p.padding);
          const int64_t x1 = std::min(in.width, ox * p.stride - p.padding + p.kernel);
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t iy = y0; iy < y1; ++iy) {
            for (int64_t ix = x0; ix < x1; ++ix) best = std::max(best, plane[iy * in.width + ix]);
          }
          dst[oy * out.width + ox] = best;
        }
      }
    }
  });
}

}  // namespace ubp::device

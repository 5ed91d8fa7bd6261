// Operators of the device inference engine: one image (batch 1), channel-major C x H x W floats.
//
// Convolutions run on kernels/: a 1x1 convolution is Y[Cout][HW] = W[Cout][Cin] X[Cin][HW], so
// the dense, aligned, unaligned (WROS) or naive unaligned kernel multiplies the activations in place; a k x k
// convolution goes through im2col first. Depthwise 3x3, global average pooling and the fully
// connected layer are the Highway kernels of kernels/layers.h; max pooling and residual add are
// direct loops here.
//
// Every operator gives bitwise identical output for any thread count (`pool` may be nullptr):
// work is split by output channel or pixel tile, never inside one output's sum.
// Outputs must not overlap inputs (residual_add excepted). Bad arguments throw
// std::invalid_argument naming the operator and the offending value.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "ubp/kernels/kernels.h"

namespace ubp::device {

using kernels::Activation;
using kernels::ThreadPool;

// Shape of one channel-major image.
struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t pixels() const { return height * width; }
  int64_t size() const { return channels * height * width; }
  bool operator==(const ImageShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
};

// Unaligned weights to be run by the naive unaligned kernel (spmm_unaligned_naive) rather than
// WROS: the same packed arrays, another kernel.
struct NaiveUnalignedWeights {
  kernels::UnalignedPacked packed;
};

// The weights of a convolution as one of the kernels' packed formats: rows = Cout,
// cols = Cin*k*k in im2col order (cin, ky, kx), i.e. PyTorch's [Cout][Cin][k][k] flattened.
using PackedWeights = std::variant<kernels::DensePacked, kernels::AlignedPacked,
                                   kernels::UnalignedPacked, NaiveUnalignedWeights>;
int64_t output_channels(const PackedWeights& w);  // Cout
int64_t input_columns(const PackedWeights& w);    // Cin*k*k

// Y (Cout x hw) = act(W X + b) with the kernel that matches the format of `w`.
void multiply(const PackedWeights& w, const float* x, int64_t hw, float* y, Activation act,
              ThreadPool* pool);
// Pixels [p0, p1) of multiply's Y only, in the calling thread (the kernels' *_pixels).
void multiply_pixels(const PackedWeights& w, const float* x, int64_t hw, float* y, int64_t p0,
                     int64_t p1, Activation act);

// Scratch memory reused across operators so a forward pass allocates only while it warms up.
class Workspace {
 public:
  float* floats(int64_t count);  // at least `count` floats; invalidates earlier pointers
 private:
  std::vector<float> buffer_;
};

// Convolution hyper-parameters (groups = 1, square kernel, zero padding on every side).
struct ConvParams {
  int kernel = 1;
  int stride = 1;
  int padding = 0;
};
ImageShape conv_output_shape(const ImageShape& in, int64_t out_channels, const ConvParams& p);

// k x k convolution: Y = act(W im2col(X) + b). A 1x1 convolution without padding skips im2col
// (stride 1: the kernels read X itself; stride > 1: X is subsampled first). Throws if
// input_columns(w) != Cin*k*k. `y` must not overlap `x`.
void conv2d(const PackedWeights& w, const ImageShape& in, const float* x, const ConvParams& p,
            float* y, Activation act, ThreadPool* pool, Workspace& workspace);

// Whether conv_direct runs a convolution of these parameters on `in_channels` channels: the
// few-channel k x k layers (the first convolution), stride 1 or 2, padding <= kernel / 2.
// Wider layers run as conv2d, where im2col's cost is small against the product.
bool runs_direct(int64_t in_channels, const ConvParams& p);
// k x k convolution computed directly from the image (kernels::conv_direct, no im2col).
// weights: Cout x Cin x k x k (PyTorch's layout), bias: Cout floats or nullptr. Throws unless
// runs_direct(in.channels, p).
void conv_direct(const float* weights, const float* bias, int64_t out_channels,
                 const ImageShape& in, const float* x, const ConvParams& p, float* y,
                 Activation act, ThreadPool* pool);

// Depthwise 3x3 convolution, padding 1, stride 1 or 2. weights: C x 3 x 3 (PyTorch's
// [C][1][3][3]), bias: C floats or nullptr. Output: C x ((H-1)/s + 1) x ((W-1)/s + 1).
ImageShape depthwise3x3_output_shape(const ImageShape& in, int stride);
void depthwise_conv3x3(const float* weights, const float* bias, const ImageShape& in,
                       const float* x, int stride, float* y, Activation act, ThreadPool* pool);

// A depthwise 3x3 layer and the 1x1 stride-1 convolution that reads its output, run as one job
// split into bands of output rows: a task computes the depthwise rows of its band for every
// channel into `mid`, then the 1x1 layer's pixels of that band into `y`. A thread so multiplies
// the pixels it has just written, and its next depthwise band reads (besides one halo row on each
// side) the pixels it multiplied; split as separate layers (depthwise by channel, 1x1 by pixel
// tile) half of every feature map crossed between cores at each layer boundary. Bitwise the same
// `mid` and `y` as depthwise_conv3x3 then conv2d, for any thread count (the kernels' row and
// pixel ranges give the whole layer's values). `mid`: C x OH x OW; `y`: Cout x OH x OW; neither
// may overlap `x` or each other. When `seconds` is given, it receives the time spent in each
// part, summed over the tasks: {depthwise, 1x1}.
struct FusedPartSeconds {
  double depthwise = 0, pointwise = 0;
};
void depthwise_pointwise(const float* dw_weights, const float* dw_bias, const ImageShape& in,
                         const float* x, int stride, Activation dw_act, float* mid,
                         const PackedWeights& pw, float* y, Activation pw_act, ThreadPool* pool,
                         FusedPartSeconds* seconds = nullptr);

// y[i] = act(a[i] + b[i]) for i < count; y may be a or b (in place).
void residual_add(const float* a, const float* b, int64_t count, float* y, Activation act);

// y[c] = mean of channel c (kernels::global_average_pool: float lanes, fixed order).
void global_average_pool(const ImageShape& in, const float* x, float* y,
                         ThreadPool* pool = nullptr);

// Max pooling, padding counts as -infinity (PyTorch's MaxPool2d, floor mode). The ResNet stem
// is kernel 3, stride 2, padding 1. Requires padding <= kernel / 2 so no window is empty.
ImageShape max_pool_output_shape(const ImageShape& in, const ConvParams& p);
void max_pool(const ImageShape& in, const float* x, const ConvParams& p, float* y,
              ThreadPool* pool);

// Fully connected: y (out) = act(W x + b), W out x in row-major, bias out floats or nullptr;
// the kernel of kernels/layers.h (split by output row).
using kernels::fully_connected;

}  // namespace ubp::device

// MobileNetV1 (Howard et al. 2017) as a torch::nn module, with a width multiplier and a
// small-input variant for 28 to 64 pixel images.
//
// Layout (module names as they appear in the state_dict):
//   conv1, bn1                      3x3 stem convolution, stride 2 (1 with small_input)
//   features.{i}.dw, features.{i}.dw_bn   3x3 depthwise convolution
//   features.{i}.pw, features.{i}.pw_bn   1x1 pointwise convolution (the prunable layers)
//   fc                              classifier after global average pooling
// The 13 depthwise-separable blocks have the paper's output channels and strides
// 64/1, 128/2, 128/1, 256/2, 256/1, 512/2, 5 x 512/1, 1024/2, 1024/1, each channel count
// scaled by `width` (at least 8). small_input sets the stem stride and the first
// downsampling block's stride to 1: total stride 8 instead of 32 (28 px -> 4x4 final map).
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "models/batch_norm.h"
#include "models/classifier.h"

namespace ubp::models {

struct MobileNetV1Options {
  double width = 1.0;
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  bool small_input = false;
};

int64_t mobilenet_channels(int64_t base, double width);  // max(8, floor(base * width))

class DepthwiseSeparableImpl : public torch::nn::Module {
 public:
  DepthwiseSeparableImpl(int64_t in_channels, int64_t out_channels, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d dw{nullptr};
  SyncBatchNorm2d dw_bn{nullptr};
  torch::nn::Conv2d pw{nullptr};
  SyncBatchNorm2d pw_bn{nullptr};
};
TORCH_MODULE(DepthwiseSeparable);

class MobileNetV1Impl : public Classifier {
 public:
  explicit MobileNetV1Impl(const MobileNetV1Options& options);
  torch::Tensor forward(const torch::Tensor& x) override;
  const MobileNetV1Options& options() const { return options_; }

  torch::nn::Conv2d conv1{nullptr};
  SyncBatchNorm2d bn1{nullptr};
  torch::nn::Sequential features{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  MobileNetV1Options options_;
};
TORCH_MODULE(MobileNetV1);

}  // namespace ubp::models

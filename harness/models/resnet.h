// ResNet-18 and ResNet-50 (He et al. 2016, the "v1.5" variant with the stride on the 3x3
// convolution of a bottleneck) as torch::nn modules whose parameter and buffer names are
// torchvision's, so a torchvision state_dict maps onto them one to one:
//   conv1, bn1, layer{1..4}.{b}.conv{1,2[,3]}, .bn{1,2[,3]}, .downsample.0 (1x1 conv),
//   .downsample.1 (batch norm), fc.
// small_input replaces the 7x7/2 stem and its max pool with a 3x3/1 convolution (total
// stride 8 instead of 32) for 28 to 64 pixel images; the names stay the same, only conv1's
// shape differs, so torchvision ImageNet weights load only into the standard stem.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

#include "models/batch_norm.h"
#include "models/classifier.h"

namespace ubp::models {

struct ResNetOptions {
  int depth = 18;  // 18 or 50
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  bool small_input = false;
};

class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t in_channels, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // registered only when the shape changes
};
TORCH_MODULE(BasicBlock);

class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t in_channels, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public Classifier {
 public:
  explicit ResNetImpl(const ResNetOptions& options);  // throws std::invalid_argument for other depths
  torch::Tensor forward(const torch::Tensor& x) override;
  const ResNetOptions& options() const { return options_; }

  torch::nn::Conv2d conv1{nullptr};
  SyncBatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  ResNetOptions options_;
};
TORCH_MODULE(ResNet);

}  // namespace ubp::models

#include "models/resnet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>

#include <stdexcept>

#include "models/model_utils.h"

namespace ubp::models {

namespace F = torch::nn::functional;
namespace nn = torch::nn;

namespace {

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  nn::Sequential s;
  s->push_back(conv(in, out, 1, stride));  // "downsample.0"
  s->push_back(SyncBatchNorm2d(out));  // "downsample.1"
  return s;
}

torch::Tensor relu_inplace(torch::Tensor x) { return x.relu_(); }

}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in_channels, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in_channels, planes, 3, stride));
  bn1 = register_module("bn1", SyncBatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1));
  bn2 = register_module("bn2", SyncBatchNorm2d(planes));
  if (stride != 1 || in_channels != planes * kExpansion) {
    downsample = register_module("downsample", make_downsample(in_channels, planes * kExpansion, stride));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = relu_inplace(bn1->forward(conv1->forward(x)));
  y = bn2->forward(conv2->forward(y));
  y += downsample ? downsample->forward(x) : x;
  return relu_inplace(y);
}

BottleneckImpl::BottleneckImpl(int64_t in_channels, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in_channels, planes, 1, 1));
  bn1 = register_module("bn1", SyncBatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride));
  bn2 = register_module("bn2", SyncBatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * kExpansion, 1, 1));
  bn3 = register_module("bn3", SyncBatchNorm2d(planes * kExpansion));
  if (stride != 1 || in_channels != planes * kExpansion) {
    downsample = register_module("downsample", make_downsample(in_channels, planes * kExpansion, stride));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = relu_inplace(bn1->forward(conv1->forward(x)));
  y = relu_inplace(bn2->forward(conv2->forward(y)));
  y = bn3->forward(conv3->forward(y));
  y += downsample ? downsample->forward(x) : x;
  return relu_inplace(y);
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  int blocks[4];
  bool bottleneck = false;
  if (options.depth == 18) {
    blocks[0] = blocks[1] = blocks[2] = blocks[3] = 2;
  } else if (options.depth == 50) {
    blocks[0] = 3; blocks[1] = 4; blocks[2] = 6; blocks[3] = 3;
    bottleneck = true;
  } else {
    throw std::invalid_argument("ResNet depth " + std::to_string(options.depth) + " is not supported; use 18 or 50");
  }
  if (options.num_classes <= 0 || options.in_channels <= 0) {
    throw std::invalid_argument("ResNet: num_classes and in_channels must be positive");
  }
  conv1 = register_module("conv1", options.small_input
                                       ? conv(options.in_channels, 64, 3, 1)
                                       : nn::Conv2d(nn::Conv2dOptions(options.in_channels, 64, 7).stride(2).padding(3).bias(false)));
  bn1 = register_module("bn1", SyncBatchNorm2d(64));

  const int64_t expansion = bottleneck ? BottleneckImpl::kExpansion : BasicBlockImpl::kExpansion;
  int64_t in = 64;
  nn::Sequential* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = int64_t{64} << stage;
    nn::Sequential seq;
    for (int b = 0; b < blocks[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      if (bottleneck) {
        seq->push_back(Bottleneck(in, planes, stride));
      } else {
        seq->push_back(BasicBlock(in, planes, stride));
      }
      in = planes * expansion;
    }
    *layers[stage] = register_module("layer" + std::to_string(stage + 1), seq);
  }
  fc = register_module("fc", nn::Linear(in, options.num_classes));
  init_conv_bn_linear(*this);
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = relu_inplace(bn1->forward(conv1->forward(x)));
  if (!options_.small_input) {
    y = F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
  }
  y = layer4->forward(layer3->forward(layer2->forward(layer1->forward(y))));
  return fc->forward(y.mean({2, 3}));
}

}  // namespace ubp::models

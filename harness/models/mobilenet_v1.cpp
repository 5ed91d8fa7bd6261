#include "models/mobilenet_v1.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>

#include <cmath>
#include <stdexcept>

#include "models/model_utils.h"

namespace ubp::models {

namespace F = torch::nn::functional;

int64_t mobilenet_channels(int64_t base, double width) {
  return std::max<int64_t>(8, static_cast<int64_t>(std::floor(static_cast<double>(base) * width + 1e-9)));
}

DepthwiseSeparableImpl::DepthwiseSeparableImpl(int64_t in_channels, int64_t out_channels, int64_t stride) {
  dw = register_module("dw", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, in_channels, 3)
                                                   .stride(stride).padding(1).groups(in_channels).bias(false)));
  dw_bn = register_module("dw_bn", SyncBatchNorm2d(in_channels));
  pw = register_module("pw", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 1).bias(false)));
  pw_bn = register_module("pw_bn", SyncBatchNorm2d(out_channels));
}

torch::Tensor DepthwiseSeparableImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = F::relu(dw_bn->forward(dw->forward(x)), F::ReLUFuncOptions().inplace(true));
  return F::relu(pw_bn->forward(pw->forward(y)), F::ReLUFuncOptions().inplace(true));
}

MobileNetV1Impl::MobileNetV1Impl(const MobileNetV1Options& options) : options_(options) {
  if (!(options.width > 0) || options.num_classes <= 0 || options.in_channels <= 0) {
    throw std::invalid_argument("MobileNetV1: width, num_classes and in_channels must be positive");
  }
  const double w = options.width;
  const int64_t stem = mobilenet_channels(32, w);
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_channels, stem, 3)
                                                         .stride(options.small_input ? 1 : 2).padding(1).bias(false)));
  bn1 = register_module("bn1", SyncBatchNorm2d(stem));

  struct Spec { int64_t out; int64_t stride; };
  const Spec specs[] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2}, {512, 1},
                        {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  features = torch::nn::Sequential();
  int64_t in = stem;
  for (size_t i = 0; i < std::size(specs); ++i) {
    const int64_t out = mobilenet_channels(specs[i].out, w);
    const int64_t stride = (options.small_input && i == 1) ? 1 : specs[i].stride;
    features->push_back(DepthwiseSeparable(in, out, stride));
    in = out;
  }
  register_module("features", features);
  fc = register_module("fc", torch::nn::Linear(in, options.num_classes));
  init_conv_bn_linear(*this);
}

torch::Tensor MobileNetV1Impl::forward(const torch::Tensor& x) {
  torch::Tensor y = F::relu(bn1->forward(conv1->forward(x)), F::ReLUFuncOptions().inplace(true));
  y = features->forward(y);
  y = y.mean({2, 3});
  return fc->forward(y);
}

}  // namespace ubp::models

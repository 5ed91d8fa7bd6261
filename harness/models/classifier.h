// Common base of our image classifiers, so training code can hold any of them by pointer.
#pragma once

#include <torch/nn/module.h>

namespace ubp::models {

class Classifier : public torch::nn::Module {
 public:
  // (N, C, H, W) float images -> (N, num_classes) logits.
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

}  // namespace ubp::models

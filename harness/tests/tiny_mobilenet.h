// The small MobileNetV1 the torch tests train and prune: width 0.25, one input channel, its
// initial weights drawn from `seed`.
#pragma once

#include <torch/utils.h>

#include "models/mobilenet_v1.h"

namespace ubp::testing {

inline models::MobileNetV1 tiny_mobilenet(uint64_t seed, int64_t num_classes = 10, bool small_input = false) {
  torch::manual_seed(seed);
  models::MobileNetV1Options o;
  o.width = 0.25;
  o.num_classes = num_classes;
  o.in_channels = 1;
  o.small_input = small_input;
  return models::MobileNetV1(o);
}

}  // namespace ubp::testing

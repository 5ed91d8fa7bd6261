#include "ubp/kernels/common.h"

#include <stdexcept>

namespace ubp::kernels {

std::string to_string(Activation act) {
  switch (act) {
    case Activation::kNone: return "none";
    case Activation::kRelu: return "relu";
    case Activation::kRelu6: return "relu6";
  }
  return "unknown";
}

Activation parse_activation(const std::string& name) {
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kRelu;
  if (name == "relu6") return Activation::kRelu6;
  throw std::invalid_argument("unknown activation '" + name +
                              "' (accepted: none, relu, relu6)");
}

}  // namespace ubp::kernels

// Internal: scalar activation and argument checks shared by the kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "ubp/kernels/common.h"

namespace ubp::kernels::detail {

inline float activation_lo(Activation act) {
  return act == Activation::kNone ? -__builtin_inff() : 0.0f;
}
inline float activation_hi(Activation act) {
  return act == Activation::kRelu6 ? 6.0f : __builtin_inff();
}
// Same operation order as the SIMD kernels: min(max(v, lo), hi).
inline float apply_activation(float v, float lo, float hi) { return std::min(std::max(v, lo), hi); }

inline void check_call(const char* fn, const void* x, int64_t hw, const void* y) {
  if (hw < 1) throw std::invalid_argument(std::string(fn) + ": hw = " + std::to_string(hw) +
                                          " must be >= 1");
  if (x == nullptr || y == nullptr) {
    throw std::invalid_argument(std::string(fn) + ": input and output pointers must not be null");
  }
}

// A caller's pixel range of a product: 0 <= p0 < p1 <= hw.
inline void check_pixels(const char* fn, int64_t hw, int64_t p0, int64_t p1) {
  if (p0 < 0 || p0 >= p1 || p1 > hw) {
    throw std::invalid_argument(std::string(fn) + ": pixels [" + std::to_string(p0) + ", " +
                                std::to_string(p1) + ") must be a non-empty range within hw = " +
                                std::to_string(hw));
  }
}

}  // namespace ubp::kernels::detail

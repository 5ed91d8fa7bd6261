// Weight importance: |w| (L1) or w^2 (L2), docs/method.md section 2.
#include "ubp/algorithms/importance.h"

#include <cctype>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ubp::algorithms {

Norm norm_from_string(const std::string& name) {
  std::string lower;
  lower.reserve(name.size());
  for (char ch : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (lower == "l1") return Norm::kL1;
  if (lower == "l2") return Norm::kL2;
  throw std::invalid_argument("unknown norm '" + name + "' (expected l1 or l2)");
}

const char* to_string(Norm norm) {
  switch (norm) {
    case Norm::kL1:
      return "l1";
    case Norm::kL2:
      return "l2";
  }
  return "unknown";
}

Matrix importance(MatrixView weights, Norm norm) {
  if (weights.rows < 0 || weights.cols < 0) {
    throw std::invalid_argument("importance: negative matrix dimensions");
  }
  if (weights.rows > 0 && weights.cols > 0) {
    if (weights.data == nullptr) throw std::invalid_argument("importance: null data");
    if (weights.row_stride < weights.cols) {
      throw std::invalid_argument("importance: row_stride " + std::to_string(weights.row_stride) +
                                  " < cols " + std::to_string(weights.cols));
    }
  }
  Matrix out(weights.rows, weights.cols);
  for (int64_t r = 0; r < weights.rows; ++r) {
    const float* src = weights.data + r * weights.row_stride;
    float* dst = out.values.data() + r * weights.cols;
    if (norm == Norm::kL1) {
      for (int64_t c = 0; c < weights.cols; ++c) dst[c] = std::fabs(src[c]);
    } else {
      for (int64_t c = 0; c < weights.cols; ++c) dst[c] = src[c] * src[c];
    }
  }
  return out;
}

}  // namespace ubp::algorithms

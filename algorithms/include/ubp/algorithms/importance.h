// Weight importance (docs/method.md section 2): |w| (L1, the default) or w^2 (L2).
#pragma once

#include <string>

#include "ubp/algorithms/matrix.h"

namespace ubp::algorithms {

enum class Norm { kL1, kL2 };
Norm norm_from_string(const std::string& name);  // "l1" | "l2", throws std::invalid_argument
const char* to_string(Norm norm);

Matrix importance(MatrixView weights, Norm norm);

}  // namespace ubp::algorithms

// Shared vocabulary of the kernels: activations, block shapes and block lists.
//
// kernels/ depends on nothing else of ours, so these mirror (not include) the selectors' types:
// a selector's ubp::algorithms::Block {col_group, start_row} converts field by field.
#pragma once

#include <cstdint>
#include <string>

namespace ubp::kernels {

// Fused activation applied to W X + b.
enum class Activation { kNone, kRelu, kRelu6 };

std::string to_string(Activation act);  // "none", "relu", "relu6"
// Parses "none" / "relu" / "relu6"; throws std::invalid_argument naming the value otherwise.
Activation parse_activation(const std::string& name);

// Block shape: bh rows (output channels, 1, 2, 4 or 8) by bw consecutive columns (>= 1).
struct BlockShape {
  int rows = 1;  // bh
  int cols = 1;  // bw
};

// A kept block: rows [start_row, start_row + bh), columns [col_group*bw, col_group*bw + bw).
// Same meaning as ubp::algorithms::Block (the selectors' output).
struct Block {
  int64_t col_group = 0;
  int64_t start_row = 0;
};

}  // namespace ubp::kernels

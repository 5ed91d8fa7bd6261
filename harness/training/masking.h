// Block masks on LibTorch weights and keeping pruned weights exactly zero through training.
//
// A weight of shape (Cout, Cin, kh, kw) or (Cout, Cin) is viewed as the Cout x Cin*kh*kw matrix
// of docs/method.md section 1 (im2col order cin, ky, kx: the natural C-order flattening). A mask has
// the weight's shape, dtype float, values exactly 0 or 1.
//
// Keeping zeros exact under SGD with momentum, Nesterov and weight decay: before the step the
// gradients are multiplied by the mask (so weight decay and momentum see only zeros at pruned
// positions, whose weights are zero), and after the step the weights and the momentum buffers
// are multiplied by the mask again (guarding against any update that leaked in, e.g. a
// momentum buffer filled before the mask existed).
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/sgd.h>

#include <string>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/selector.h"

namespace ubp::training {

// The weight as a contiguous float32 CPU Cout x K matrix (a copy when needed; detached).
at::Tensor weight_matrix(const at::Tensor& weight);

struct BlockMaskRequest {
  std::string method = "bed";  // any name in the selector registry
  algorithms::BlockShape block{4, 1};
  double sparsity = 0.8;       // fraction of the layer's weights pruned
  algorithms::Norm norm = algorithms::Norm::kL1;
  algorithms::SelectorOptions selector_options;
};

struct BlockMaskResult {
  at::Tensor mask;                           // weight's shape, float32, 0 or 1
  algorithms::SelectionResult selection;     // the blocks and the importance figures
  int64_t budget = 0;                        // m
  double seconds = 0;                        // wall time of the selector alone
};

// Runs the selector on importance(weight viewed as Cout x K) and turns the blocks into a mask.
// Throws algorithms::SelectionError for an unknown method or an impossible budget.
BlockMaskResult select_block_mask(const at::Tensor& weight, const BlockMaskRequest& request);

// Mask (weight's shape) from blocks on the grid of a Cout x K matrix.
at::Tensor mask_from_blocks(const at::Tensor& weight, const algorithms::BlockGrid& grid,
                            const std::vector<algorithms::Block>& blocks);

// A set of (parameter, mask) pairs applied together.
class MaskSet {
 public:
  // `param` must be a parameter tensor (shares storage with the model); mask: same shape.
  void add(const std::string& name, const at::Tensor& param, const at::Tensor& mask);
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

  void apply_to_weights() const;    // w *= mask (no autograd)
  void apply_to_gradients() const;  // grad *= mask where a gradient exists
  // Multiplies the SGD momentum buffers of the masked parameters by their masks.
  void apply_to_momentum(torch::optim::SGD& optimizer) const;

  // Masks gradients, steps the optimizer, then masks weights and momentum buffers.
  void masked_step(torch::optim::SGD& optimizer) const;

  // Fraction of masked-parameter weights that are zero (for checks and logs).
  double weight_sparsity() const;

  struct Entry {
    std::string name;
    at::Tensor param;
    at::Tensor mask;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace ubp::training

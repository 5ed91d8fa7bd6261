#include "training/masking.h"

#include <c10/util/string_utils.h>
#include <torch/autograd.h>

#include <chrono>
#include <stdexcept>

namespace ubp::training {

at::Tensor weight_matrix(const at::Tensor& weight) {
  if (!weight.defined() || weight.dim() < 2) {
    throw std::invalid_argument("weight_matrix: expected a weight with at least 2 dimensions");
  }
  return weight.detach().to(at::kCPU, at::kFloat).contiguous().reshape({weight.size(0), -1});
}

at::Tensor mask_from_blocks(const at::Tensor& weight, const algorithms::BlockGrid& grid,
                            const std::vector<algorithms::Block>& blocks) {
  const int64_t rows = weight.size(0);
  const int64_t cols = weight.numel() / rows;
  if (grid.rows != rows || grid.cols != cols) {
    throw std::invalid_argument("mask_from_blocks: grid is " + std::to_string(grid.rows) + "x" +
                                std::to_string(grid.cols) + " but the weight is " + std::to_string(rows) +
                                "x" + std::to_string(cols));
  }
  const std::vector<uint8_t> cells = algorithms::block_mask(grid, blocks);
  at::Tensor mask = at::empty({rows, cols}, at::kFloat);
  float* m = mask.data_ptr<float>();
  for (size_t i = 0; i < cells.size(); ++i) m[i] = cells[i] ? 1.0f : 0.0f;
  return mask.reshape(weight.sizes()).to(weight.device());
}

BlockMaskResult select_block_mask(const at::Tensor& weight, const BlockMaskRequest& request) {
  const at::Tensor w = weight_matrix(weight);
  const algorithms::MatrixView wv{w.data_ptr<float>(), w.size(0), w.size(1), w.size(1)};
  const algorithms::Matrix imp = algorithms::importance(wv, request.norm);
  const auto selector = algorithms::SelectorRegistry::instance().create(request.method, request.selector_options);

  BlockMaskResult out;
  out.budget = algorithms::block_budget(w.size(0), w.size(1), request.block, request.sparsity);
  const auto t0 = std::chrono::steady_clock::now();
  out.selection = selector->select(imp.view(), request.block, out.budget);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const algorithms::BlockGrid grid = algorithms::make_grid(w.size(0), w.size(1), out.selection.block_shape);
  out.mask = mask_from_blocks(weight, grid, out.selection.blocks);
  return out;
}

void MaskSet::add(const std::string& name, const at::Tensor& param, const at::Tensor& mask) {
  if (!param.defined() || !mask.defined() || param.sizes() != mask.sizes()) {
    throw std::invalid_argument("MaskSet::add: mask for '" + name + "' does not have the parameter's shape");
  }
  entries_.push_back({name, param, mask.to(param.options()).detach()});
}

void MaskSet::apply_to_weights() const {
  torch::NoGradGuard no_grad;
  for (const auto& e : entries_) e.param.mul_(e.mask);
}

void MaskSet::apply_to_gradients() const {
  torch::NoGradGuard no_grad;
  for (const auto& e : entries_) {
    at::Tensor g = e.param.grad();
    if (g.defined()) g.mul_(e.mask);
  }
}

void MaskSet::apply_to_momentum(torch::optim::SGD& optimizer) const {
  torch::NoGradGuard no_grad;
  auto& state = optimizer.state();
  for (const auto& e : entries_) {
    auto it = state.find(c10::guts::to_string(e.param.unsafeGetTensorImpl()));
    if (it == state.end()) continue;
    auto& s = static_cast<torch::optim::SGDParamState&>(*it->second);
    if (s.momentum_buffer().defined()) s.momentum_buffer().mul_(e.mask);
  }
}

void MaskSet::masked_step(torch::optim::SGD& optimizer) const {
  apply_to_gradients();
  optimizer.step();
  apply_to_weights();
  apply_to_momentum(optimizer);
}

double MaskSet::weight_sparsity() const {
  int64_t zeros = 0, total = 0;
  for (const auto& e : entries_) {
    zeros += (e.param.detach() == 0).sum().item<int64_t>();
    total += e.param.numel();
  }
  return total == 0 ? 0.0 : static_cast<double>(zeros) / static_cast<double>(total);
}

}  // namespace ubp::training

#include "training/pruner.h"

#include <chrono>
#include <stdexcept>

#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/selector.h"

namespace ubp::training {

namespace {

bool kind_wanted(models::LayerKind kind, const std::string& kinds) {
  if (kind == models::LayerKind::kDepthwise) return false;  // never block-pruned (docs/method.md 6)
  if (kind == models::LayerKind::kFc) return true;          // only present when asked for
  if (kinds == "all") return true;
  if (kinds == "pointwise") return kind == models::LayerKind::kPointwise;
  if (kinds == "conv") return kind == models::LayerKind::kConv;
  throw std::invalid_argument("prune.layers: unknown kind '" + kinds + "'; accepted: pointwise, conv, all");
}

}  // namespace

std::vector<models::PrunableLayer> select_layers(torch::nn::Module& model, const LayerFilter& filter) {
  models::PrunableOptions options;
  options.include_first_conv = filter.include_first_conv;
  options.include_classifier = filter.include_classifier;
  const auto candidates = models::prunable_layers(model, options);

  std::regex pattern;
  if (!filter.name_regex.empty()) {
    try {
      pattern = std::regex(filter.name_regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("prune.layer_regex '" + filter.name_regex + "' is not a valid regex: " + e.what());
    }
  }
  std::vector<models::PrunableLayer> chosen;
  for (const auto& layer : candidates) {
    // The first convolution may be a 3x3 stem: asked for by name, it is kept whatever `kinds`.
    const bool forced = (filter.include_first_conv && &layer == &candidates.front() &&
                         layer.kind != models::LayerKind::kFc);
    if (!forced && !kind_wanted(layer.kind, filter.kinds)) continue;
    if (!filter.name_regex.empty() && !std::regex_search(layer.name, pattern)) continue;
    chosen.push_back(layer);
  }
  if (chosen.empty()) {
    std::string names;
    for (const auto& layer : candidates) {
      names += (names.empty() ? "" : ", ") + layer.name + " (" + models::to_string(layer.kind) + ")";
    }
    throw std::invalid_argument("no layer to prune: prune.layers '" + filter.kinds + "'" +
                                (filter.name_regex.empty() ? "" : " and prune.layer_regex '" + filter.name_regex + "'") +
                                " match none of the model's layers: " + names);
  }
  return chosen;
}

std::vector<LayerMask> choose_masks(const std::vector<models::PrunableLayer>& layers,
                                    const std::vector<at::Tensor>& scores, const PruneSpec& spec,
                                    double sparsity) {
  if (scores.size() != layers.size()) throw std::invalid_argument("choose_masks: one score tensor per layer");
  std::vector<LayerMask> out(layers.size());

  // Importance matrices first: the global allocation ranks blocks of every layer together.
  std::vector<at::Tensor> matrices;
  std::vector<algorithms::Matrix> importance;
  std::vector<algorithms::AllocationLayer> allocation_input;
  matrices.reserve(layers.size());
  importance.reserve(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    matrices.push_back(weight_matrix(scores[i]));
    const at::Tensor& w = matrices.back();
    const algorithms::MatrixView view{w.data_ptr<float>(), w.size(0), w.size(1), w.size(1)};
    importance.push_back(algorithms::importance(view, spec.norm));
  }
  for (size_t i = 0; i < layers.size(); ++i) allocation_input.push_back({layers[i].name, importance[i].view()});

  algorithms::AllocationOptions options;
  options.mode = spec.allocation;
  options.shape = spec.block;
  options.sparsity = sparsity;
  options.min_sparsity = spec.min_sparsity;
  options.max_sparsity = spec.max_sparsity;
  const algorithms::Allocation allocation = algorithms::allocate_blocks(allocation_input, options);

  const auto selector = algorithms::SelectorRegistry::instance().create(spec.method, spec.selector_options);
  for (size_t i = 0; i < layers.size(); ++i) {
    const algorithms::MatrixView imp = importance[i].view();
    const int64_t budget = allocation.layers[i].budget;
    results::LayerRecord& r = out[i].record;
    r.layer = layers[i].name;
    r.rows = imp.rows;
    r.cols = imp.cols;
    r.block_rows = static_cast<int>(spec.block.rows);
    r.block_cols = static_cast<int>(spec.block.cols);
    r.method = spec.method;

    if (sparsity <= 0.0) {  // the start of a ramp: nothing pruned yet
      out[i].mask = at::ones_like(layers[i].weight, at::TensorOptions().dtype(at::kFloat));
      double total = 0;
      for (int64_t k = 0; k < imp.rows * imp.cols; ++k) total += imp.data[k];
      r.kept_blocks = budget;
      r.sparsity = 0.0;
      r.retained_importance = r.total_importance = total;
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    const algorithms::SelectionResult sel = selector->select(imp, spec.block, budget);
    r.selection_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const algorithms::BlockGrid grid = algorithms::make_grid(imp.rows, imp.cols, sel.block_shape);
    out[i].mask = mask_from_blocks(layers[i].weight, grid, sel.blocks);
    r.kept_blocks = static_cast<int64_t>(sel.blocks.size());
    r.sparsity = 1.0 - static_cast<double>(sel.kept_cells) / static_cast<double>(imp.rows * imp.cols);
    r.retained_importance = sel.retained_importance;
    r.total_importance = sel.total_importance;
  }
  return out;
}

KeptImportance kept_importance(const at::Tensor& weight, const at::Tensor& mask, algorithms::Norm norm) {
  const at::Tensor w = weight_matrix(weight);
  const at::Tensor m = weight_matrix(mask);
  const algorithms::Matrix imp =
      algorithms::importance(algorithms::MatrixView{w.data_ptr<float>(), w.size(0), w.size(1), w.size(1)}, norm);
  const float* keep = m.data_ptr<float>();
  KeptImportance out;
  for (int64_t i = 0; i < w.numel(); ++i) {
    out.total += imp.values[i];
    if (keep[i] != 0.0f) out.retained += imp.values[i];
  }
  return out;
}

EmptyChannels empty_channels(const at::Tensor& mask) {
  const at::Tensor kept = weight_matrix(mask) != 0;
  EmptyChannels out;
  out.rows = kept.size(0);
  out.cols = kept.size(1);
  out.empty_rows = out.rows - kept.any(1).sum().item<int64_t>();
  out.empty_cols = out.cols - kept.any(0).sum().item<int64_t>();
  return out;
}

void install_masks(MaskSet& masks, const std::vector<models::PrunableLayer>& layers,
                   const std::vector<LayerMask>& chosen) {
  masks.clear();
  for (size_t i = 0; i < layers.size(); ++i) masks.add(layers[i].name, layers[i].weight, chosen[i].mask);
}

}  // namespace ubp::training

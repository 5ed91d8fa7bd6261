#include "experiments/training/run_outputs.h"

#include <filesystem>

#include "export/final_model.h"
#include "ubp/results/metric_names.h"

namespace ubp::experiments {

namespace metric = results::metric;

void keep_final_model(const RunContext& ctx, const settings::TrainingSettings& settings,
                      const models::ModelSpec& spec, models::Classifier& model, const training::MaskSet* masks,
                      spdlog::logger& log) {
  if (ctx.models_dir.empty()) return;
  exporter::SavedModel saved;
  saved.spec = spec;
  saved.run_id = ctx.run_id;
  saved.config = settings.resolved;
  const int64_t size = settings.data.image_size;
  saved.input_shape = {spec.in_channels, size, size};
  // An unpruned run's settings hold the schema's block shape; with no masks the grid is moot.
  saved.block = settings.prune.block;
  if (masks != nullptr) {
    for (const auto& e : masks->entries()) saved.masks[e.name] = e.mask;
  }
  const std::string path = (std::filesystem::path(ctx.models_dir) / exporter::kFinalModelFile).string();
  ctx.require_lease();  // only the run's lease owner writes what the run keeps
  exporter::save_final_model(path, saved, model);
  log.info("final model saved to {}", path);
}

void record_pruned_model(results::RunResult& out, const PruneState& st,
                         const std::vector<models::PrunableLayer>& layers,
                         const std::vector<at::Tensor>& dense_weights, algorithms::Norm norm) {
  out.layers = st.records;
  for (size_t i = 0; i < layers.size() && i < st.masks.entries().size(); ++i) {
    const training::KeptImportance kept = training::kept_importance(dense_weights[i], st.masks.entries()[i].mask, norm);
    out.layers[i].retained_importance = kept.retained;
    out.layers[i].total_importance = kept.total;
  }
  training::EmptyChannels empty;
  for (const auto& e : st.masks.entries()) {
    const training::EmptyChannels layer = training::empty_channels(e.mask);
    empty.rows += layer.rows;
    empty.empty_rows += layer.empty_rows;
    empty.cols += layer.cols;
    empty.empty_cols += layer.empty_cols;
  }
  int64_t pruned_weights = 0, zeros = 0;
  for (const auto& l : layers) {
    pruned_weights += l.weight.numel();
    zeros += (l.weight.detach() == 0).sum().item<int64_t>();
  }
  out.metrics.push_back({metric::kSparsity, 0, pruned_weights ? static_cast<double>(zeros) / pruned_weights : 0.0});
  out.metrics.push_back({metric::kPrunedLayers, 0, static_cast<double>(layers.size())});
  out.metrics.push_back({metric::kSelectionTotalSeconds, 0, st.selection_seconds});
  out.metrics.push_back({metric::kRevivedWeights, 0, static_cast<double>(st.revived_weights)});
  if (empty.rows > 0) {
    out.metrics.push_back({metric::kEmptyOutputChannels, 0, static_cast<double>(empty.empty_rows) / empty.rows});
    out.metrics.push_back({metric::kEmptyInputChannels, 0, static_cast<double>(empty.empty_cols) / empty.cols});
  }
}

}  // namespace ubp::experiments

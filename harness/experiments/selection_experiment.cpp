#include "experiments/selection_experiment.h"

#include <chrono>
#include <filesystem>

#include "experiments/layer_shapes.h"
#include "experiments/trained_weights.h"
#include "ubp/algorithms/allocation.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"
#include "ubp/results/metric_names.h"

namespace ubp::experiments {

namespace alg = ubp::algorithms;
namespace metric = ubp::results::metric;

uint64_t derive_seed(uint64_t base, const std::string& salt) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the salt ...
  for (unsigned char c : salt) h = (h ^ c) * 1099511628211ull;
  uint64_t z = base + h + 0x9e3779b97f4a7c15ull;  // ... finished with SplitMix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

namespace {

// A done training run's kept model: <db dir>/models/<run id>/model.pt, beside this run's own
// models folder.
std::string kept_model_path(const RunContext& ctx, const std::string& run_id) {
  if (ctx.models_dir.empty()) {
    throw std::invalid_argument("selection.source 'run' reads <db dir>/models/" + run_id +
                                "/model.pt, but this run has no database folder; use selection.file");
  }
  const std::filesystem::path path = std::filesystem::path(ctx.models_dir).parent_path() / run_id / "model.pt";
  if (!std::filesystem::exists(path)) {
    throw std::invalid_argument("selection.run '" + run_id + "': no kept model " + path.string() +
                                " (is it the id of a done training run of this database? `ubp db info` lists them)");
  }
  return path.string();
}

}  // namespace

results::RunResult SelectionExperiment::run(const nlohmann::json& resolved, const RunContext& ctx,
                                            spdlog::logger& log) {
  return run(settings::read_selection_run_settings(resolved), ctx, log);
}

results::RunResult SelectionExperiment::run(const settings::SelectionRunSettings& settings, const RunContext& ctx,
                                            spdlog::logger& log) {
  const settings::PruneSettings& prune = settings.prune;
  const settings::SelectionSettings& sel = settings.selection;
  const std::string& method = prune.method;
  const alg::BlockShape shape = prune.block;
  const double sparsity = prune.sparsity;
  const alg::Norm norm = prune.norm;
  const alg::Distribution dist = alg::distribution_from_string(sel.dist);
  const uint64_t seed = settings.experiment.seed;

  // The weight matrices: trained ones from a kept model, or random ones (seeded per layer name).
  std::vector<TrainedLayer> layers;
  if (sel.source == "run" || sel.source == "file") {
    layers = load_trained_layers(sel.source == "file" ? sel.file : kept_model_path(ctx, sel.run), sel.layers);
  } else {
    std::vector<LayerShape> shapes;
    if (sel.source == "model") {
      shapes = model_layers(sel.model, sel.layers);
    } else {
      for (int64_t i = 0; i < sel.matrices; ++i) {
        shapes.push_back({"matrix" + std::to_string(i), sel.rows, sel.cols, 1});
      }
    }
    for (const LayerShape& shape : shapes) {
      layers.push_back({shape.name, alg::random_matrix(shape.rows, shape.cols, dist, derive_seed(seed, shape.name))});
    }
  }

  alg::SelectorOptions options;
  options.memory_limit_bytes = prune.memory_limit_bytes;
  const auto& registry = alg::SelectorRegistry::instance();
  const auto selector = registry.create(method, options);
  // The optimum is the yardstick for every other method; for `optimal` itself it is the result.
  const bool compare = sel.compare_to_optimal && method != "optimal" && registry.contains("optimal");
  const auto optimal = compare ? registry.create("optimal", options) : nullptr;
  // Every layer's importance first: a global allocation ranks blocks across all of them.
  std::vector<alg::Matrix> importances;
  std::vector<alg::AllocationLayer> allocation_layers;
  importances.reserve(layers.size());
  for (const TrainedLayer& layer : layers) {
    importances.push_back(alg::importance(layer.weights.view(), norm));
    allocation_layers.push_back({layer.name, importances.back().view()});
  }
  alg::AllocationOptions allocation_options;
  allocation_options.mode = prune.allocation;
  allocation_options.shape = shape;
  allocation_options.sparsity = sparsity;
  allocation_options.min_sparsity = prune.min_sparsity;
  allocation_options.max_sparsity = prune.max_sparsity;
  const alg::Allocation allocation = alg::allocate_blocks(allocation_layers, allocation_options);
  if (allocation.status != alg::AllocationStatus::kExact) {
    log.warn("the per-layer sparsity limits [{}, {}] make the target unreachable ({}): {} blocks instead of {}",
             allocation_options.min_sparsity, allocation_options.max_sparsity, alg::to_string(allocation.status),
             allocation.total_budget, allocation.target_budget);
  }

  results::RunResult result;
  double retained = 0, total = 0, seconds = 0, optimum = 0;
  int64_t kept_cells = 0, cells = 0, kept_blocks = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const TrainedLayer& layer = layers[i];
    const alg::Matrix& scores = importances[i];
    const int64_t budget = allocation.layers[i].budget;

    const auto start = std::chrono::steady_clock::now();
    const alg::SelectionResult chosen = selector->select(scores.view(), shape, budget);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (optimal) {
      optimum += optimal->select(scores.view(), shape, budget).retained_importance;
    } else {
      optimum += chosen.retained_importance;
    }

    const int64_t rows = layer.weights.rows, cols = layer.weights.cols;
    const int64_t layer_cells = rows * cols;
    results::LayerRecord record;
    record.layer = layer.name;
    record.rows = rows;
    record.cols = cols;
    record.block_rows = chosen.block_shape.rows;  // 1x1 for unstructured
    record.block_cols = chosen.block_shape.cols;
    record.method = method;
    record.kept_blocks = static_cast<int64_t>(chosen.blocks.size());
    record.sparsity = 1.0 - static_cast<double>(chosen.kept_cells) / static_cast<double>(layer_cells);
    record.retained_importance = chosen.retained_importance;
    record.total_importance = chosen.total_importance;
    record.selection_seconds = elapsed;
    result.layers.push_back(record);

    retained += chosen.retained_importance;
    total += chosen.total_importance;
    seconds += elapsed;
    kept_cells += chosen.kept_cells;
    cells += layer_cells;
    kept_blocks += record.kept_blocks;
    log.debug("layer {}/{} {} {}x{}: {} blocks, sparsity {:.4f}, retained {:.4f} in {:.3f} ms", i + 1,
              layers.size(), layer.name, rows, cols, record.kept_blocks, record.sparsity,
              chosen.total_importance > 0 ? chosen.retained_importance / chosen.total_importance : 0.0, elapsed * 1e3);
  }

  result.metrics = {
      {metric::kRetainedFraction, 0, total > 0 ? retained / total : 0.0},
      {metric::kSparsity, 0, cells > 0 ? 1.0 - static_cast<double>(kept_cells) / static_cast<double>(cells) : 0.0},
      {metric::kKeptBlocks, 0, static_cast<double>(kept_blocks)},
      {metric::kSelectionSeconds, 0, seconds},
      {metric::kLayers, 0, static_cast<double>(layers.size())},
  };
  if (method == "optimal" || optimal) {
    result.metrics.push_back({metric::kRetainedVsOptimal, 0, optimum > 0 ? retained / optimum : 1.0});
  }
  log.info("{} on {} matrices: retained {:.4f} of the importance at sparsity {:.4f} ({:.3f} s)",
           method, layers.size(), result.metrics[0].value, result.metrics[1].value, seconds);
  return result;
}

UBP_REGISTER_EXPERIMENT("selection", SelectionExperiment);

}  // namespace ubp::experiments

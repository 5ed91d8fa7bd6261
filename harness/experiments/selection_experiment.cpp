#include "experiments/selection_experiment.h"

#include <chrono>

#include "experiments/layer_shapes.h"
#include "ubp/algorithms/allocation.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"

namespace ubp::experiments {

namespace alg = ubp::algorithms;

uint64_t derive_seed(uint64_t base, const std::string& salt) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the salt ...
  for (unsigned char c : salt) h = (h ^ c) * 1099511628211ull;
  uint64_t z = base + h + 0x9e3779b97f4a7c15ull;  // ... finished with SplitMix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

results::RunResult SelectionExperiment::run(const nlohmann::json& cfg, const RunContext&,
                                            spdlog::logger& log) {
  const auto& prune = cfg.at("prune");
  const auto& sel = cfg.at("selection");
  const std::string method = prune.at("method");
  const alg::BlockShape shape{prune.at("block")[0].get<int>(), prune.at("block")[1].get<int>()};
  const double sparsity = prune.at("sparsity");
  const alg::Norm norm = alg::norm_from_string(prune.at("norm"));
  const alg::Distribution dist = alg::distribution_from_string(sel.at("dist"));
  const uint64_t seed = cfg.at("experiment").at("seed").get<uint64_t>();

  std::vector<LayerShape> layers;
  if (sel.at("source") == "model") {
    layers = model_layers(sel.at("model"), sel.at("layers"));
  } else {
    for (int64_t i = 0; i < sel.at("matrices").get<int64_t>(); ++i) {
      layers.push_back({"matrix" + std::to_string(i), sel.at("rows"), sel.at("cols"), 1});
    }
  }

  alg::SelectorOptions options;
  options.memory_limit_bytes = prune.at("memory_limit_mib").get<int64_t>() << 20;
  const auto& registry = alg::SelectorRegistry::instance();
  const auto selector = registry.create(method, options);
  // The optimum is the yardstick for every other method; for `optimal` itself it is the result.
  const bool compare = sel.at("compare_to_optimal").get<bool>() && method != "optimal" && registry.contains("optimal");
  const auto optimal = compare ? registry.create("optimal", options) : nullptr;
  // Every layer's importance first: a global allocation ranks blocks across all of them.
  std::vector<alg::Matrix> importances;
  std::vector<alg::AllocationLayer> allocation_layers;
  importances.reserve(layers.size());
  for (const LayerShape& layer : layers) {
    const alg::Matrix weights = alg::random_matrix(layer.rows, layer.cols, dist, derive_seed(seed, layer.name));
    importances.push_back(alg::importance(weights.view(), norm));
    allocation_layers.push_back({layer.name, importances.back().view()});
  }
  alg::AllocationOptions allocation_options;
  allocation_options.mode = alg::allocation_mode_from_string(prune.at("allocation"));
  allocation_options.shape = shape;
  allocation_options.sparsity = sparsity;
  allocation_options.min_sparsity = prune.at("min_sparsity");
  allocation_options.max_sparsity = prune.at("max_sparsity");
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
    const LayerShape& layer = layers[i];
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

    const int64_t layer_cells = layer.rows * layer.cols;
    results::LayerRecord record;
    record.layer = layer.name;
    record.rows = layer.rows;
    record.cols = layer.cols;
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
              layers.size(), layer.name, layer.rows, layer.cols, record.kept_blocks, record.sparsity,
              chosen.total_importance > 0 ? chosen.retained_importance / chosen.total_importance : 0.0, elapsed * 1e3);
  }

  result.metrics = {
      {"retained_fraction", 0, total > 0 ? retained / total : 0.0},
      {"sparsity", 0, cells > 0 ? 1.0 - static_cast<double>(kept_cells) / static_cast<double>(cells) : 0.0},
      {"kept_blocks", 0, static_cast<double>(kept_blocks)},
      {"selection_seconds", 0, seconds},
      {"layers", 0, static_cast<double>(layers.size())},
  };
  if (method == "optimal" || optimal) {
    result.metrics.push_back({"retained_vs_optimal", 0, optimum > 0 ? retained / optimum : 1.0});
  }
  log.info("{} on {} matrices: retained {:.4f} of the importance at sparsity {:.4f} ({:.3f} s)",
           method, layers.size(), result.metrics[0].value, result.metrics[1].value, seconds);
  return result;
}

}  // namespace ubp::experiments

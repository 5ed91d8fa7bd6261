// Every key a ubp config may contain. Later capabilities add their sections here.
#include "config/plan.h"
#include "experiments/experiment.h"
#include "experiments/layer_shapes.h"
#include "ubp/algorithms/selector.h"

namespace ubp::config {

namespace {

Schema build_schema() {
  using T = ValueType;
  Schema s;
  // experiment: what kind of run, and its seed.
  s.add(KeySpec("experiment.kind", T::kString, nullptr,
                "what a run does: 'selection' runs a block selector on weight matrices")
            .must_be_given()
            .one_of([] { return experiments::experiment_kinds(); }));
  s.add(KeySpec("experiment.name", T::kString, "", "a label for reports; not part of the run id")
            .not_identity());
  s.add(KeySpec("experiment.seed", T::kInt, 0, "seed for everything random in the run").at_least(0));

  // prune: how blocks are chosen. Selectors register themselves, so the list grows on its own.
  s.add(KeySpec("prune.method", T::kString, "aligned", "block selector")
            .one_of([] { return algorithms::SelectorRegistry::instance().names(); }));
  s.add(KeySpec("prune.block", T::kBlockShape, Json::array({4, 1}),
                "block shape [rows, cols]; rows run along output channels")
            .range(1, 256));
  s.add(KeySpec("prune.sparsity", T::kFloat, 0.8, "target fraction of pruned weights per layer").range(0, 1));
  s.add(KeySpec("prune.norm", T::kString, "l1", "importance: |w| (l1) or w^2 (l2)").one_of({"l1", "l2"}));
  s.add(KeySpec("prune.memory_limit_mib", T::kInt, 2048,
                "MiB that optimal-dp may use for its tables; it refuses larger layers")
            .range(1, int64_t{1} << 30)
            .not_identity());
  s.add(KeySpec("prune.allocation", T::kString, "uniform",
                "how the block budget is spread over layers: the same sparsity everywhere (uniform), or "
                "one importance threshold over all layers' blocks (global)")
            .one_of({"uniform", "global"}));
  s.add(KeySpec("prune.min_sparsity", T::kFloat, 0.0, "no layer is pruned less than this (global allocation)")
            .range(0, 1));
  s.add(KeySpec("prune.max_sparsity", T::kFloat, 1.0, "no layer is pruned more than this (global allocation)")
            .range(0, 1));

  s.add_rule({{"prune.min_sparsity", "prune.max_sparsity"}, [](const Json& run) -> std::string {
                 const double lo = run["prune"]["min_sparsity"], hi = run["prune"]["max_sparsity"];
                 if (lo <= hi) return "";
                 return "min_sparsity " + Json(lo).dump() + " is above max_sparsity " + Json(hi).dump() +
                        " (accepted: min_sparsity <= max_sparsity)";
               }});

  // selection: the matrices a `selection` run prunes.
  const std::vector<std::string> selection{"selection"};
  s.add(KeySpec("selection.source", T::kString, "random",
                "random matrices of rows x cols, or the layer shapes of a model")
            .one_of({"random", "model"})
            .only_for(selection));
  s.add(KeySpec("selection.rows", T::kInt, 512, "rows (output channels) of a random matrix")
            .range(1, 65536)
            .only_for(selection));
  s.add(KeySpec("selection.cols", T::kInt, 512, "columns (inputs) of a random matrix")
            .range(1, 65536)
            .only_for(selection));
  s.add(KeySpec("selection.matrices", T::kInt, 1, "how many random matrices").range(1, 10000).only_for(selection));
  s.add(KeySpec("selection.dist", T::kString, "gaussian", "distribution of the random weights")
            .one_of({"gaussian", "uniform", "laplace"})
            .only_for(selection));
  s.add(KeySpec("selection.model", T::kString, "mobilenet_v1", "model whose layer shapes are used (source: model)")
            .one_of([] { return experiments::model_names(); })
            .only_for(selection));
  s.add(KeySpec("selection.compare_to_optimal", T::kBool, true,
                "also run `optimal` on every matrix and record retained_vs_optimal")
            .only_for(selection));
  s.add(KeySpec("selection.layers", T::kString, "pointwise",
                "which layers of the model: 1x1 convolutions, k x k convolutions, or both")
            .one_of({"pointwise", "conv", "all"})
            .only_for(selection));

  // output: where a campaign writes; the same for every run of a sweep.
  s.add(KeySpec("output.db", T::kString, "runs/ubp.db", "results database (the --db flag wins)").campaign_wide());
  s.add(KeySpec("output.report", T::kString, "",
                "if set, `ubp run` writes a report of the database to this folder at the end")
            .campaign_wide());
  return s;
}

}  // namespace

const Schema& ubp_schema() {
  static const Schema schema = build_schema();
  return schema;
}

}  // namespace ubp::config

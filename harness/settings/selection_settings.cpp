#include "settings/selection_settings.h"

#include "config/schema.h"
#include "experiments/layer_shapes.h"
#include "settings/settings_reader.h"

namespace ubp::settings {

using config::Json;
using config::KeySpec;
using config::Schema;
using config::ValueType;

SelectionRunSettings read_selection_run_settings(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  SelectionRunSettings s;
  s.experiment = read_experiment_settings(resolved);
  s.prune = read_prune_settings(resolved);
  SelectionSettings& sel = s.selection;
  sel.source = r.string("selection.source");
  sel.run = r.string("selection.run");
  sel.file = r.string("selection.file");
  sel.rows = r.integer("selection.rows");
  sel.cols = r.integer("selection.cols");
  sel.matrices = r.integer("selection.matrices");
  sel.dist = r.string("selection.dist");
  sel.model = r.string("selection.model");
  sel.compare_to_optimal = r.boolean("selection.compare_to_optimal");
  sel.layers = r.string("selection.layers");
  return s;
}

// `selection`: the matrices a `selection` run prunes.
void add_selection_keys(Schema& s) {
  using T = ValueType;
  const std::vector<std::string> selection{"selection"};
  s.add(KeySpec("selection.source", T::kString, "random",
                "random matrices of rows x cols, random matrices with the layer shapes of a model, the trained "
                "weights of a done training run of this database (selection.run), or of a kept model file "
                "(selection.file)")
            .one_of({"random", "model", "run", "file"})
            .only_for(selection));
  s.add(KeySpec("selection.run", T::kString, "",
                "source run: id of a done training run whose kept model <db dir>/models/<id>/model.pt is read "
                "(`ubp run` keeps one per training run; an unpruned run, prune.method none, has the dense weights)")
            .only_for(selection));
  s.add(KeySpec("selection.file", T::kString, "",
                "source file: a kept model file (model.pt of a training run, e.g. copied from another database)")
            .only_for(selection));
  s.add_rule({{"selection.source", "selection.run", "selection.file"}, [](const Json& run) -> std::string {
                 if (!run.contains("selection")) return "";  // not a selection run
                 const Json& sel = run["selection"];
                 const std::string source = sel["source"];
                 if (source == "run" && sel.value("run", "").empty()) {
                   return "source 'run' needs selection.run, the id of a done training run (`ubp db info` lists them)";
                 }
                 if (source == "file" && sel.value("file", "").empty()) {
                   return "source 'file' needs selection.file, the path of a kept model (model.pt)";
                 }
                 return "";
               }});
  // Random sources do not depend on the trained-weight keys (and keep the ids they had before
  // those keys existed).
  s.add_normalizer([](nlohmann::json& run) {
    if (run["experiment"]["kind"] != "selection") return;
    nlohmann::json& sel = run["selection"];
    if (sel["source"] != "run") sel.erase("run");
    if (sel["source"] != "file") sel.erase("file");
  });
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

}

}  // namespace ubp::settings

// Selection runs on trained weights: `selection.source: file` and `run` read a kept model and
// run the selectors on its layers' real weights, exactly as a training run would choose masks.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include "config/config_error.h"
#include "config/document.h"
#include "config/plan.h"
#include "experiments/selection_experiment.h"
#include "export/final_model.h"
#include "models/model_utils.h"
#include "support/temp_dir.h"
#include "training/masking.h"
#include "training/pruner.h"

namespace ubp::experiments {
namespace {

spdlog::logger& quiet_logger() {
  static spdlog::logger logger("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

// A kept model as a training run writes it, with weights drawn from `seed`.
exporter::SavedModel keep_model(const std::string& path, uint64_t seed) {
  exporter::SavedModel saved;
  saved.spec.name = "mobilenet_v1";
  saved.spec.width = 0.25;
  saved.spec.num_classes = 10;
  saved.spec.in_channels = 1;
  torch::manual_seed(seed);
  auto model = models::make_model(saved.spec);
  models::init_conv_bn_linear(*model);
  saved.input_shape = {1, 28, 28};
  saved.run_id = "trained";
  saved.config = nlohmann::json::object();
  exporter::save_final_model(path, saved, *model);
  saved.model = model;
  return saved;
}

nlohmann::json selection_config(const std::string& selection_yaml) {
  const auto doc = config::load_config_text(
      "experiment: {kind: selection, seed: 0}\n"
      "prune: {method: bed, block: [4, 1], sparsity: 0.75}\n"
      "selection: " + selection_yaml + "\n",
      "t.yaml");
  return config::ubp_schema().resolve(doc.tree, "selection");
}

TEST(TrainedSelection, AFileSourceSelectsOnEveryPointwiseLayersOwnWeights) {
  testing::TempDir dir;
  const auto saved = keep_model(dir.file("model.pt"), 11);
  const auto cfg = selection_config("{source: file, file: '" + dir.file("model.pt") + "'}");
  const auto result = SelectionExperiment().run(cfg, RunContext{}, quiet_logger());

  training::LayerFilter pointwise;
  const auto layers = training::select_layers(*saved.model, pointwise);
  ASSERT_EQ(result.layers.size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_EQ(result.layers[i].layer, layers[i].name);
    EXPECT_EQ(result.layers[i].rows, layers[i].rows);
    EXPECT_EQ(result.layers[i].cols, layers[i].cols);
    // The same selection a training run makes on these weights, computed on its own path.
    training::BlockMaskRequest request;
    request.method = "bed";
    request.sparsity = 0.75;
    const auto expected = training::select_block_mask(layers[i].weight, request);
    EXPECT_EQ(result.layers[i].kept_blocks, static_cast<int64_t>(expected.selection.blocks.size()));
    EXPECT_NEAR(result.layers[i].retained_importance, expected.selection.retained_importance,
                1e-6 * expected.selection.total_importance)
        << layers[i].name;
  }
}

TEST(TrainedSelection, ARunSourceReadsTheRunsKeptModelBesideTheDatabase) {
  testing::TempDir dir;
  keep_model(dir.file("models/0123456789abcdef/model.pt"), 12);
  RunContext ctx;
  ctx.models_dir = dir.file("models/selectionrun");
  const auto from_run =
      SelectionExperiment().run(selection_config("{source: run, run: 0123456789abcdef}"), ctx, quiet_logger());
  const auto from_file = SelectionExperiment().run(
      selection_config("{source: file, file: '" + dir.file("models/0123456789abcdef/model.pt") + "'}"), RunContext{},
      quiet_logger());
  ASSERT_EQ(from_run.layers.size(), 13u);
  for (size_t i = 0; i < from_run.layers.size(); ++i) {
    EXPECT_EQ(from_run.layers[i].retained_importance, from_file.layers[i].retained_importance);
  }
}

TEST(TrainedSelection, AMissingRunOrFileIsAClearError) {
  testing::TempDir dir;
  RunContext ctx;
  ctx.models_dir = dir.file("models/selectionrun");
  try {
    SelectionExperiment().run(selection_config("{source: run, run: feedfeedfeedfeed}"), ctx, quiet_logger());
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("feedfeedfeedfeed"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SelectionExperiment().run(selection_config("{source: file, file: '" + dir.file("none.pt") + "'}"),
                                         RunContext{}, quiet_logger()),
               std::exception);
  // Planning refuses a run source without its id, naming the key and where it stands.
  const std::string path = dir.write("no-run.yaml", "experiment: {kind: selection}\nselection: {source: run}\n");
  try {
    config::make_plan(path, {});
    FAIL() << "expected a config error";
  } catch (const config::ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 1u) << e.what();
    EXPECT_EQ(e.issues()[0].key, "selection.source");
    EXPECT_EQ(e.issues()[0].where.describe(), path + ":2:21");
    EXPECT_NE(e.issues()[0].message.find("selection.run"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ubp::experiments

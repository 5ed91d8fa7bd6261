#include "experiments/selection_experiment.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include "config/plan.h"
#include "experiments/layer_shapes.h"

namespace ubp::experiments {
namespace {

nlohmann::json resolved(const std::string& yaml) {
  const auto doc = config::load_config_text(yaml, "t.yaml");
  return config::ubp_schema().resolve(doc.tree, "selection");
}

spdlog::logger& quiet_logger() {
  static spdlog::logger logger("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

TEST(LayerShapes, MobileNetV1HasThirteenPointwiseLayers) {
  const auto layers = model_layers("mobilenet_v1", "pointwise");
  ASSERT_EQ(layers.size(), 13u);
  EXPECT_EQ(layers.front().rows, 64);
  EXPECT_EQ(layers.front().cols, 32);
  EXPECT_EQ(layers.back().rows, 1024);
  EXPECT_EQ(layers.back().cols, 1024);
  EXPECT_THROW(model_layers("mobilenet_v1", "conv"), std::invalid_argument);
}

TEST(LayerShapes, ResNet50HasItsBottleneckAndShortcutConvolutions) {
  const auto pointwise = model_layers("resnet50", "pointwise");
  const auto conv = model_layers("resnet50", "conv");
  EXPECT_EQ(conv.size(), 16u);                   // one 3x3 per bottleneck
  EXPECT_EQ(pointwise.size(), 16u * 2 + 4);      // two 1x1 per bottleneck + 4 shortcuts
  EXPECT_EQ(model_layers("resnet50", "all").size(), conv.size() + pointwise.size());
  EXPECT_EQ(conv.front().name, "layer1.0.conv2");
  EXPECT_EQ(conv.front().cols, 64 * 9);
  EXPECT_EQ(pointwise.back().name, "layer4.2.conv3");
  EXPECT_EQ(pointwise.back().rows, 2048);
}

TEST(SelectionExperiment, RecordsEveryMatrixWithTheRequestedSparsity) {
  SelectionExperiment experiment;
  const auto result = experiment.run(
      resolved("experiment: {kind: selection, seed: 3}\nprune: {sparsity: 0.75, block: [4, 1]}\n"
               "selection: {rows: 64, cols: 40, matrices: 3}\n"),
      RunContext{}, quiet_logger());
  ASSERT_EQ(result.layers.size(), 3u);
  for (const auto& layer : result.layers) {
    EXPECT_EQ(layer.rows, 64);
    EXPECT_EQ(layer.kept_blocks, 64 * 40 / 4 / 4);
    EXPECT_NEAR(layer.sparsity, 0.75, 1e-12);
    EXPECT_GT(layer.retained_importance, 0.25 * layer.total_importance)
        << "the best quarter of the blocks holds more than a quarter of the importance";
    EXPECT_LE(layer.retained_importance, layer.total_importance);
  }
  EXPECT_NE(result.layers[0].total_importance, result.layers[1].total_importance)
      << "each matrix has its own seed";
}

TEST(SelectionExperiment, IsDeterministicForAGivenSeed) {
  const auto cfg = resolved("experiment: {kind: selection, seed: 11}\nselection: {rows: 32, cols: 32}\n");
  SelectionExperiment experiment;
  const auto a = experiment.run(cfg, RunContext{}, quiet_logger());
  const auto b = experiment.run(cfg, RunContext{}, quiet_logger());
  EXPECT_EQ(a.layers[0].retained_importance, b.layers[0].retained_importance);
}

double metric(const results::RunResult& result, const std::string& key) {
  for (const auto& m : result.metrics) {
    if (m.key == key) return m.value;
  }
  ADD_FAILURE() << "no metric " << key;
  return -1;
}

bool has_metric(const results::RunResult& result, const std::string& key) {
  for (const auto& m : result.metrics) {
    if (m.key == key) return true;
  }
  return false;
}

TEST(SelectionExperiment, RunsEveryUnalignedSelectorAndComparesItWithTheOptimum) {
  for (const std::string method : {"bed", "greedy", "optimal-dp", "aligned"}) {
    SelectionExperiment experiment;
    const auto result = experiment.run(
        resolved("experiment: {kind: selection, seed: 5}\nprune: {method: " + method +
                 ", sparsity: 0.8, block: [4, 1]}\nselection: {rows: 48, cols: 40, matrices: 2}\n"),
        RunContext{}, quiet_logger());
    ASSERT_EQ(result.layers.size(), 2u) << method;
    EXPECT_EQ(result.layers[0].method, method);
    EXPECT_EQ(result.layers[0].kept_blocks, 48 * 40 / 5 / 4) << method;
    const double ratio = metric(result, "retained_vs_optimal");
    EXPECT_LE(ratio, 1.0 + 1e-12) << method;
    EXPECT_GT(ratio, 0.8) << method;
    if (method == "optimal-dp") EXPECT_NEAR(ratio, 1.0, 1e-12) << "the reference DP is exact too";
    if (method == "aligned") EXPECT_LT(ratio, 1.0) << "aligned tiles lose to free placement on random data";
  }
}

TEST(SelectionExperiment, OptimalIsItsOwnYardstickAndTheComparisonCanBeTurnedOff) {
  SelectionExperiment experiment;
  const auto optimal = experiment.run(
      resolved("experiment: {kind: selection}\nprune: {method: optimal}\nselection: {rows: 16, cols: 16}\n"),
      RunContext{}, quiet_logger());
  EXPECT_EQ(metric(optimal, "retained_vs_optimal"), 1.0);
  const auto without = experiment.run(
      resolved("experiment: {kind: selection}\nprune: {method: bed}\n"
               "selection: {rows: 16, cols: 16, compare_to_optimal: false}\n"),
      RunContext{}, quiet_logger());
  EXPECT_FALSE(has_metric(without, "retained_vs_optimal"));
}

TEST(SelectionExperiment, RecordsUnstructuredSelectionAsSingleWeights) {
  SelectionExperiment experiment;
  const auto result = experiment.run(
      resolved("experiment: {kind: selection}\nprune: {method: unstructured, sparsity: 0.5, block: [4, 1]}\n"
               "selection: {rows: 16, cols: 8}\n"),
      RunContext{}, quiet_logger());
  EXPECT_EQ(result.layers[0].block_rows, 1);
  EXPECT_EQ(result.layers[0].kept_blocks, 64);
  EXPECT_GE(metric(result, "retained_vs_optimal"), 1.0) << "single weights keep at least the block optimum";
}

TEST(SelectionExperiment, AGlobalAllocationKeepsTheOverallSparsityAndRespectsTheLimits) {
  SelectionExperiment experiment;
  // ResNet-50's 3x3 layers differ in size; the total must still come out at 80%.
  const auto result = experiment.run(
      resolved("experiment: {kind: selection}\n"
               "prune: {method: bed, sparsity: 0.8, allocation: global, min_sparsity: 0.6, max_sparsity: 0.95}\n"
               "selection: {source: model, model: resnet50, layers: conv, dist: laplace, "
               "compare_to_optimal: false}\n"),
      RunContext{}, quiet_logger());
  int64_t cells = 0, kept = 0;
  for (const auto& layer : result.layers) {
    cells += layer.rows * layer.cols;
    kept += layer.kept_blocks * 4;
    EXPECT_GE(layer.sparsity, 0.6 - 1e-9) << layer.layer;
    EXPECT_LE(layer.sparsity, 0.95 + 1e-3) << layer.layer;
  }
  EXPECT_NEAR(1.0 - static_cast<double>(kept) / static_cast<double>(cells), 0.8, 1e-5);
  EXPECT_NEAR(metric(result, "sparsity"), 0.8, 1e-5);
}

TEST(SelectionExperiment, UsesTheModelsLayerShapes) {
  SelectionExperiment experiment;
  const auto result = experiment.run(
      resolved("experiment: {kind: selection}\nselection: {source: model, model: mobilenet_v1}\n"),
      RunContext{}, quiet_logger());
  ASSERT_EQ(result.layers.size(), 13u);
  EXPECT_EQ(result.layers.back().layer, "model.13.pointwise");
}

}  // namespace
}  // namespace ubp::experiments

// `kind: training` on the synthetic dataset with a tiny MobileNetV1: GMP and ADMM reach the
// target sparsity with pruned weights kept at zero, every pruned layer is recorded, and the
// dense baseline is trained once and shared.
#include "experiments/training_experiment.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include <cmath>
#include <filesystem>

#include "config/document.h"
#include "config/plan.h"
#include "image_test_tree.h"
#include "support/temp_dir.h"

namespace ubp::experiments {
namespace {

namespace fs = std::filesystem;

nlohmann::json resolved(const std::string& yaml) {
  const auto doc = config::load_config_text(
      "experiment: {kind: training, seed: 1}\n"
      "data: {dataset: synthetic, image_size: 28, train_limit: 256, test_limit: 128}\n"
      "model: {name: mobilenet_v1, width: 0.25}\n"
      "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n" + yaml,
      "t.yaml");
  return config::ubp_schema().resolve(doc.tree, "training");
}

spdlog::logger& quiet_logger() {
  static spdlog::logger logger("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

struct Dirs {
  testing::TempDir tmp;
  RunContext context(const std::string& run_id) const {
    RunContext c;
    c.run_id = run_id;
    c.work_dir = tmp.file("work/" + run_id);
    c.cache_dir = tmp.file("cache");
    return c;
  }
};

double metric(const results::RunResult& r, const std::string& key, int64_t step = 0) {
  for (const auto& m : r.metrics) {
    if (m.key == key && m.step == step) return m.value;
  }
  ADD_FAILURE() << "no metric " << key << " at step " << step;
  return NAN;
}

// Zeros actually in the weights must cover at least what the masks pruned.
void expect_pruned(const results::RunResult& r, double target) {
  ASSERT_EQ(r.layers.size(), 13u);
  int64_t masked = 0, total = 0;
  for (const auto& layer : r.layers) {
    EXPECT_NEAR(layer.sparsity, target, 1e-9) << layer.layer;
    EXPECT_EQ(layer.block_rows, 4);
    // Against the dense weights: more than a random choice keeps, and clearly not everything.
    EXPECT_GT(layer.retained_importance, (1 - target) * layer.total_importance) << layer.layer;
    EXPECT_LT(layer.retained_importance, 0.97 * layer.total_importance) << layer.layer;
    masked += std::llround(layer.sparsity * static_cast<double>(layer.rows * layer.cols));
    total += layer.rows * layer.cols;
  }
  EXPECT_GE(metric(r, "sparsity") + 1e-12, static_cast<double>(masked) / static_cast<double>(total));
  EXPECT_LT(metric(r, "sparsity"), target + 0.01);  // zeros beyond the masks are rare
  EXPECT_GE(metric(r, "top1"), 0.0);
  EXPECT_LE(metric(r, "top5"), 100.0);
}

TEST(TrainingExperiment, GmpReachesTheTargetSparsityAndRecordsEveryPrunedLayer) {
  Dirs dirs;
  const auto cfg = resolved(
      "prune: {method: bed, sparsity: 0.75, ramp_epochs: 1, finetune_epochs: 1, update_every: 3}\n");
  TrainingExperiment experiment;
  const auto r = experiment.run(cfg, dirs.context("gmp"), quiet_logger());
  expect_pruned(r, 0.75);
  for (const auto& l : r.layers) EXPECT_EQ(l.method, "bed");
  // Per-epoch curves of the pruning phase: the ramp, then the fine-tuning with the target.
  EXPECT_LT(metric(r, "target_sparsity", 1), 0.75);
  EXPECT_DOUBLE_EQ(metric(r, "target_sparsity", 2), 0.75);
  EXPECT_GE(metric(r, "test.top1", 2), 0.0);
  EXPECT_GT(metric(r, "selection.seconds"), 0.0);
  EXPECT_TRUE(fs::exists(dirs.tmp.file("work/gmp/checkpoint.pt")));
}

TEST(TrainingExperiment, AdmmEndsHardPrunedWithTheSelectorsBlocks) {
  Dirs dirs;
  const auto cfg = resolved(
      "prune: {method: optimal, schedule: admm, sparsity: 0.5, admm_epochs: 2, finetune_epochs: 1, rho: 0.01}\n");
  TrainingExperiment experiment;
  const auto r = experiment.run(cfg, dirs.context("admm"), quiet_logger());
  expect_pruned(r, 0.5);
  EXPECT_DOUBLE_EQ(metric(r, "target_sparsity", 3), 0.5);
}

TEST(TrainingExperiment, OneShotPruningWithoutFineTuningStillEndsPruned) {
  Dirs dirs;
  const auto cfg = resolved(
      "prune: {method: aligned, sparsity: 0.5, ramp: constant, ramp_epochs: 1, finetune_epochs: 0}\n");
  TrainingExperiment experiment;
  expect_pruned(experiment.run(cfg, dirs.context("oneshot"), quiet_logger()), 0.5);
}

TEST(TrainingExperiment, OneShotChoosesTheFinalMasksBeforeTheFirstStepAndFineTunes) {
  Dirs dirs;
  const auto cfg = resolved("prune: {method: optimal, schedule: oneshot, sparsity: 0.75, finetune_epochs: 2}\n");
  TrainingExperiment experiment;
  const auto r = experiment.run(cfg, dirs.context("oneshot-schedule"), quiet_logger());
  expect_pruned(r, 0.75);
  EXPECT_DOUBLE_EQ(metric(r, "target_sparsity", 1), 0.75);  // pruned from the first epoch on
  EXPECT_DOUBLE_EQ(metric(r, "target_sparsity", 2), 0.75);
  EXPECT_EQ(metric(r, "revived_weights"), 0.0);
}

TEST(TrainingExperiment, NestedReselectionNeverRevivesAWeightAndBothRecordTheCount) {
  Dirs dirs;
  TrainingExperiment experiment;
  const std::string gmp = "prune: {method: optimal, sparsity: 0.75, ramp_epochs: 1, finetune_epochs: 1, update_every: 2, ";
  const auto nested = experiment.run(resolved(gmp + "reselect: nested}\n"), dirs.context("nested"), quiet_logger());
  expect_pruned(nested, 0.75);
  EXPECT_EQ(metric(nested, "revived_weights"), 0.0);
  const auto shadow = experiment.run(resolved(gmp + "reselect: shadow}\n"), dirs.context("shadow"), quiet_logger());
  expect_pruned(shadow, 0.75);
  EXPECT_FALSE(std::isnan(metric(shadow, "revived_weights")));  // recorded (shadow_weights_test checks its value)
}

TEST(TrainingExperiment, ARunDependsOnlyOnTheKeysOfItsOwnSchedule) {
  // oneshot ignores the ramp and ADMM keys, gmp the ADMM ones, admm the ramp ones: the same run id.
  EXPECT_EQ(resolved("prune: {schedule: oneshot, ramp_epochs: 3, rho: 0.5, reselect: nested, finetune_lr: restart}\n"),
            resolved("prune: {schedule: oneshot}\n"));
  EXPECT_EQ(resolved("prune: {schedule: gmp, rho: 0.5, admm_epochs: 4}\n"), resolved("prune: {schedule: gmp}\n"));
  EXPECT_EQ(resolved("prune: {schedule: admm, ramp_epochs: 3, update_every: 7}\n"), resolved("prune: {schedule: admm}\n"));
  EXPECT_NE(resolved("prune: {schedule: gmp, reselect: nested}\n"), resolved("prune: {schedule: gmp}\n"));
  EXPECT_NE(resolved("prune: {schedule: admm, finetune_lr: continue}\n"), resolved("prune: {schedule: admm}\n"));
}

TEST(TrainingExperiment, TheDenseBaselineIsTrainedOnceAndSharedByPrunedRuns) {
  Dirs dirs;
  TrainingExperiment experiment;
  const auto none = experiment.run(resolved("prune: {method: none}\n"), dirs.context("none"), quiet_logger());
  const std::string key = settings::dense_baseline_key(resolved("prune: {method: none}\n"));
  const std::string file = dirs.tmp.file("cache/dense-" + key + ".pt");
  ASSERT_TRUE(fs::exists(file));
  EXPECT_FALSE(fs::exists(dirs.tmp.file("cache/dense-" + key + ".partial.pt")));
  const auto written = fs::last_write_time(file);
  EXPECT_DOUBLE_EQ(metric(none, "top1"), metric(none, "dense.top1"));
  EXPECT_GE(metric(none, "dense.test.top1", 1), 0.0);  // the dense curve comes with it
  EXPECT_DOUBLE_EQ(metric(none, "sparsity"), 0.0);

  const auto pruned = experiment.run(
      resolved("prune: {method: aligned, sparsity: 0.5, ramp_epochs: 0, finetune_epochs: 1}\n"),
      dirs.context("aligned"), quiet_logger());
  EXPECT_EQ(fs::last_write_time(file), written) << "the baseline was trained again";
  EXPECT_DOUBLE_EQ(metric(pruned, "dense.top1"), metric(none, "dense.top1"));
}

TEST(TrainingExperiment, TrainsAndPrunesOnAnImageFolderSubset) {
  Dirs dirs;
  testing::make_image_tree(dirs.tmp.path() / "imagenet", 4, 12, 4);
  const auto doc = config::load_config_text(
      "experiment: {kind: training}\n"
      "data: {dataset: imagenet, root: " + dirs.tmp.file("imagenet") + ", image_size: 32, num_classes: 3,\n"
      "       images_per_class: 8, loader_threads: 2, cache: " + dirs.tmp.file("subset.cache") + "}\n"
      "model: {name: resnet18, small_input: true}\n"
      "train: {epochs: 1, batch_size: 8, lr: 0.05, threads: 1}\n"
      "prune: {method: bed, layers: conv, sparsity: 0.5, ramp_epochs: 0, finetune_epochs: 1}\n",
      "t.yaml");
  TrainingExperiment experiment;
  const auto r = experiment.run(config::ubp_schema().resolve(doc.tree, "training"), dirs.context("folder"),
                                quiet_logger());
  EXPECT_EQ(r.layers.size(), 16u);  // the 3x3 convolutions of ResNet-18's blocks, not the stem
  for (const auto& layer : r.layers) EXPECT_EQ(layer.cols % 9, 0) << layer.layer;
  EXPECT_GE(metric(r, "top1"), 0.0);
  EXPECT_GE(metric(r, "top5"), 99.99);  // 3 classes: the top 5 always hold the label
  EXPECT_TRUE(fs::exists(dirs.tmp.file("subset.cache.train")));
  EXPECT_TRUE(fs::exists(dirs.tmp.file("subset.cache.val")));
}

TEST(DenseBaselineKey, IgnoresThreadsButNotWhatChangesTheWeights) {
  const auto base = resolved("");
  auto more_threads = base;
  more_threads["train"]["threads"] = 7;
  auto other_pruning = base;
  other_pruning["prune"]["method"] = "optimal";
  auto longer = base;
  longer["train"]["epochs"] = 2;
  auto wider = base;
  wider["model"]["width"] = 0.5;
  EXPECT_EQ(settings::dense_baseline_key(base), settings::dense_baseline_key(more_threads));
  EXPECT_EQ(settings::dense_baseline_key(base), settings::dense_baseline_key(other_pruning));
  EXPECT_NE(settings::dense_baseline_key(base), settings::dense_baseline_key(longer));
  EXPECT_NE(settings::dense_baseline_key(base), settings::dense_baseline_key(wider));
}

}  // namespace
}  // namespace ubp::experiments

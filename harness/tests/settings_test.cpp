// The settings readers against real plans: every key read once, defaults from the schema, and
// the cross-key checks that stop a plan before its first run.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/plan.h"
#include "settings/latency_settings.h"
#include "settings/selection_settings.h"
#include "settings/settings_reader.h"
#include "settings/training_settings.h"
#include "support/temp_dir.h"

namespace ubp::settings {
namespace {

using ubp::testing::TempDir;

config::Plan plan_of(const TempDir& dir, const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return config::make_plan(dir.write("c.yaml", yaml), overrides);
}

std::string plan_error(const TempDir& dir, const std::string& yaml) {
  try {
    plan_of(dir, yaml);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Settings, ATrainingRunIsReadWithEveryDefaultAndItsSchedulesKeys) {
  TempDir dir;
  const config::Plan plan = plan_of(
      dir, "experiment: {kind: training, seed: 3}\ndata: {dataset: synthetic, train_limit: 64}\n"
           "prune: {method: aligned, schedule: admm, norm: l2, block: 2x1, rho: 0.5}\n"
           "train: {lr: 0.05, milestones: [2, 4], distributed: {world_size: 1}}\n");
  const TrainingSettings s = read_training_settings(plan.runs.at(0).resolved);
  EXPECT_EQ(s.experiment.seed, 3u);
  EXPECT_EQ(s.data.dataset, "synthetic");
  EXPECT_EQ(s.data.train_limit, 64);
  EXPECT_EQ(s.train.lr, 0.05);
  EXPECT_EQ(s.train.milestones, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(s.prune.schedule, PruneSchedule::kAdmm);
  EXPECT_EQ(s.prune.norm, algorithms::Norm::kL2);
  EXPECT_EQ(s.prune.block.rows, 2);
  EXPECT_EQ(s.prune.block.cols, 1);
  EXPECT_EQ(s.prune.rho, 0.5);
  EXPECT_EQ(s.prune.memory_limit_bytes, int64_t{2048} << 20);
  // The normalizer dropped GMP's keys from this ADMM run: they read as the schema's defaults.
  EXPECT_FALSE(plan.runs[0].resolved["prune"].contains("ramp"));
  EXPECT_EQ(s.prune.ramp, "cubic");
  EXPECT_EQ(s.distributed.world_size, 1);
  EXPECT_EQ(s.distributed.timeout_seconds, 600.0);
  EXPECT_EQ(s.dense_key, dense_baseline_key(plan.runs[0].resolved));
}

TEST(Settings, AnUnprunedRunReadsTheSchemasPruneDefaults) {
  TempDir dir;
  const config::Plan plan = plan_of(dir, "experiment: {kind: training}\nprune: {method: none, sparsity: 0.5}\n");
  const TrainingSettings s = read_training_settings(plan.runs.at(0).resolved);
  EXPECT_FALSE(s.prune.prunes());
  EXPECT_EQ(s.prune.block.rows, 4);  // what the kept model records as its grid
  EXPECT_EQ(s.prune.sparsity, 0.8);  // normalised away: the default
}

TEST(Settings, ASelectionRunIsRead) {
  TempDir dir;
  const config::Plan plan = plan_of(
      dir, "experiment: {kind: selection}\nprune: {method: optimal, allocation: global}\n"
           "selection: {source: model, model: resnet50, layers: all}\n");
  const SelectionRunSettings s = read_selection_run_settings(plan.runs.at(0).resolved);
  EXPECT_EQ(s.prune.method, "optimal");
  EXPECT_EQ(s.prune.allocation, algorithms::AllocationMode::kGlobal);
  EXPECT_EQ(s.selection.source, "model");
  EXPECT_EQ(s.selection.model, "resnet50");
  EXPECT_EQ(s.selection.layers, "all");
}

TEST(Settings, LatencyIsReadAsAListWithTheRunsMethod) {
  TempDir dir;
  const config::Plan plan = plan_of(
      dir, "experiment: {kind: training}\nprune: {method: bed}\n"
           "latency: {devices: [local], kernels: 'dense, unaligned', threads: [1, 2], sessions: 2}\n");
  EXPECT_TRUE(wants_latency(plan.runs.at(0).resolved));
  const LatencySettings s = read_latency_settings(plan.runs[0].resolved);
  EXPECT_EQ(s.devices, std::vector<std::string>{"local"});
  EXPECT_EQ(s.kernels, (std::vector<std::string>{"dense", "unaligned"}));
  EXPECT_EQ(s.threads, (std::vector<int>{1, 2}));
  EXPECT_EQ(s.protocol.sessions, 2);
  EXPECT_EQ(s.protocol.level, device::SessionLevel::kAll) << "every session counts unless asked";
  EXPECT_EQ(s.method, "bed");

  TempDir other;
  const config::Plan fastest =
      plan_of(other, "experiment: {kind: training}\nlatency: {devices: [local], level: fastest}\n");
  EXPECT_EQ(read_latency_settings(fastest.runs.at(0).resolved).protocol.level, device::SessionLevel::kFastest);
}

TEST(PlanChecks, AnUnknownLatencyLevelFailsThePlanNamingTheAcceptedOnes) {
  TempDir dir;
  const std::string error =
      plan_error(dir, "experiment: {kind: training}\nlatency: {devices: [local], level: slowest}\n");
  EXPECT_NE(error.find("c.yaml:2:"), std::string::npos) << error;
  EXPECT_NE(error.find("latency.level"), std::string::npos) << error;
  EXPECT_NE(error.find("fastest"), std::string::npos) << error;
}

TEST(Settings, AKeyNeitherGivenNorDeclaredThrowsNamingIt) {
  const nlohmann::json resolved = {{"data", {{"dataset", "synthetic"}}}};
  const SettingsReader reader(resolved);
  EXPECT_EQ(reader.string("data.dataset"), "synthetic");
  EXPECT_EQ(reader.integer("data.image_size"), 32);  // the schema's default
  try {
    reader.string("data.no_such_key");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("data.no_such_key"), std::string::npos) << e.what();
  }
  EXPECT_THROW(reader.integer("data.dataset"), std::invalid_argument);  // a string is no integer
}

TEST(PlanChecks, AnImageNetRootWithoutTrainAndValFailsThePlanWithItsLocation) {
  TempDir dir;
  dir.write("images/train/a/x.txt", "");
  const std::string root = (dir.path() / "images").string();
  const std::string yaml = "experiment: {kind: training}\ndata:\n  dataset: imagenet\n  root: " + root + "\n";
  const std::string error = plan_error(dir, yaml);
  EXPECT_NE(error.find(dir.file("c.yaml") + ":4:"), std::string::npos) << error;
  EXPECT_NE(error.find("data.root"), std::string::npos) << error;
  EXPECT_NE(error.find("has no val/"), std::string::npos) << error;

  EXPECT_NE(plan_error(dir, "experiment: {kind: training}\ndata: {dataset: imagenet}\n").find("empty"),
            std::string::npos);
  EXPECT_NE(plan_error(dir, "experiment: {kind: training}\ndata: {dataset: imagenet, root: " + root + "/none}\n")
                .find("is not a folder"),
            std::string::npos);
  dir.write("images/val/a/x.txt", "");
  EXPECT_EQ(plan_error(dir, yaml), "");
}

TEST(PlanChecks, SkippingBadImagesUnderDataParallelismNeedsACache) {
  TempDir dir;
  dir.write("images/train/a/x.txt", "");
  dir.write("images/val/a/x.txt", "");
  const std::string data = "data: {dataset: imagenet, skip_bad_images: true, root: " + (dir.path() / "images").string();
  const std::string train = "train: {batch_size: 8, distributed: {world_size: 2, rendezvous: 'file:/tmp/x'}}\n";
  const std::string error = plan_error(dir, "experiment: {kind: training}\n" + data + "}\n" + train);
  EXPECT_NE(error.find("data.skip_bad_images"), std::string::npos) << error;
  EXPECT_NE(error.find("needs data.cache"), std::string::npos) << error;
  EXPECT_EQ(plan_error(dir, "experiment: {kind: training}\n" + data + ", cache: c.bin}\n" + train), "");
}

TEST(PlanChecks, ABatchThatCannotBeSplitOverTheProcessesFailsThePlan) {
  TempDir dir;
  const std::string error = plan_error(
      dir, "experiment: {kind: training}\ntrain: {batch_size: 10, distributed: {world_size: 4, rendezvous: 'file:/x'}}\n");
  EXPECT_NE(error.find("train.batch_size"), std::string::npos) << error;
  EXPECT_NE(error.find("multiple of 4"), std::string::npos) << error;
}

TEST(PlanChecks, AnUnknownLatencyKernelFailsThePlan) {
  TempDir dir;
  const std::string error =
      plan_error(dir, "experiment: {kind: training}\nlatency: {devices: [local], kernels: 'dense,wros'}\n");
  EXPECT_NE(error.find("c.yaml:2:"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown kernel 'wros'"), std::string::npos) << error;
}

}  // namespace
}  // namespace ubp::settings

#include "config/plan.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "support/temp_dir.h"

namespace ubp::config {
namespace {

using ubp::testing::TempDir;

const char* kSweep =
    "experiment:\n  kind: selection\n  name: demo\n"
    "prune:\n  method: aligned\n"
    "selection:\n  rows: 32\n  cols: 16\n"
    "sweep:\n  prune.sparsity: [0.5, 0.8, 0.9]\n  prune.block: [[2, 1], [4, 1]]\n";

TEST(SweepPlan, IsTheCartesianProductInWrittenOrder) {
  TempDir dir;
  const Plan plan = make_plan(dir.write("s.yaml", kSweep), {});
  ASSERT_EQ(plan.runs.size(), 6u);
  // The last key varies fastest, like nested loops.
  EXPECT_EQ(plan.runs[0].label(), "prune.sparsity=0.5 prune.block=[2,1]");
  EXPECT_EQ(plan.runs[1].label(), "prune.sparsity=0.5 prune.block=[4,1]");
  EXPECT_EQ(plan.runs[5].label(), "prune.sparsity=0.9 prune.block=[4,1]");
  std::set<std::string> ids;
  for (const auto& run : plan.runs) {
    ids.insert(run.run_id);
    EXPECT_EQ(run.run_id.size(), 16u);
    EXPECT_EQ(run.kind, "selection");
  }
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(plan.runs[4].resolved["prune"]["sparsity"], 0.9);
  EXPECT_EQ(plan.runs[4].resolved["prune"]["block"], nlohmann::json::parse("[2,1]"));
}

TEST(SweepPlan, TheSameExperimentGetsTheSameIdWhereverItComesFrom) {
  TempDir dir;
  const Plan swept = make_plan(dir.write("s.yaml", kSweep), {});
  // Written out by hand, in another key order, through an include, with an int sparsity
  // written as a float and a block shape written as text.
  dir.write("base.yaml", "selection:\n  cols: 16\n  rows: 32\nprune:\n  block: 4x1\n");
  const Plan single = make_plan(
      dir.write("one.yaml", "include: base.yaml\nprune:\n  sparsity: 0.80\nexperiment:\n  kind: selection\n"),
      {});
  ASSERT_EQ(single.runs.size(), 1u);
  EXPECT_EQ(single.runs[0].run_id, swept.runs[3].run_id);
  EXPECT_EQ(single.runs[0].label(), "(no sweep)");
}

TEST(SweepPlan, TheNameDoesNotChangeTheRunIdButTheSeedDoes) {
  TempDir dir;
  const auto path = dir.write("s.yaml", kSweep);
  const std::string base = make_plan(path, {}).runs[0].run_id;
  EXPECT_EQ(make_plan(path, {"experiment.name=other"}).runs[0].run_id, base);
  EXPECT_NE(make_plan(path, {"experiment.seed=1"}).runs[0].run_id, base);
  EXPECT_NE(make_plan(path, {"prune.norm=l2"}).runs[0].run_id, base);
}

TEST(SweepPlan, AnOverridePinsASweptKey) {
  TempDir dir;
  const Plan plan = make_plan(dir.write("s.yaml", kSweep), {"prune.sparsity=0.7"});
  ASSERT_EQ(plan.runs.size(), 2u);
  for (const auto& run : plan.runs) EXPECT_EQ(run.resolved["prune"]["sparsity"], 0.7);
}

TEST(SweepPlan, AnOverrideCanReplaceASweepDimension) {
  TempDir dir;
  const Plan plan = make_plan(dir.write("s.yaml", kSweep), {"sweep.prune.sparsity=[0.6]"});
  ASSERT_EQ(plan.runs.size(), 2u);
  EXPECT_EQ(plan.runs[0].resolved["prune"]["sparsity"], 0.6);
}

TEST(SweepPlan, DuplicatePointsAreDroppedAndCounted) {
  TempDir dir;
  const Plan plan = make_plan(
      dir.write("d.yaml", "experiment: {kind: selection}\nsweep:\n  experiment.name: [a, b, c]\n"), {});
  EXPECT_EQ(plan.runs.size(), 1u);
  EXPECT_EQ(plan.duplicates_dropped, 2u);
}

TEST(SweepPlan, SweepValuesAreValidatedWithTheirOwnLocation) {
  TempDir dir;
  const auto path = dir.write(
      "bad.yaml",
      "experiment: {kind: selection}\nsweep:\n  prune.sparsity: [0.5, 7]\n  prune.sparsty: [0.1]\n"
      "  output.db: [a.db]\n  prune.block: 4\n");
  try {
    make_plan(path, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 4u) << e.what();
    EXPECT_EQ(e.issues()[0].key, "sweep.prune.sparsity[1]");
    EXPECT_EQ(e.issues()[0].where.describe(), path + ":3:25");
    EXPECT_NE(e.issues()[1].message.find("did you mean 'prune.sparsity'"), std::string::npos);
    EXPECT_NE(e.issues()[2].message.find("cannot be swept"), std::string::npos);
    EXPECT_NE(e.issues()[3].message.find("not a list"), std::string::npos);
  }
}

TEST(SweepPlan, AConflictBetweenKeysIsReportedOnceWithItsLocation) {
  TempDir dir;
  const auto path = dir.write("clamps.yaml",
                              "experiment: {kind: selection}\nprune:\n  allocation: global\n"
                              "  min_sparsity: 0.9\n  max_sparsity: 0.5\nsweep:\n  prune.sparsity: [0.5, 0.8]\n");
  try {
    make_plan(path, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 1u) << "one problem, not one per run: " << e.what();
    EXPECT_EQ(e.issues()[0].key, "prune.min_sparsity");
    EXPECT_EQ(e.issues()[0].where.describe(), path + ":4:17");
    EXPECT_NE(e.issues()[0].message.find("min_sparsity 0.9 is above max_sparsity 0.5"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(make_plan(path, {"prune.max_sparsity=0.95"}).runs.size(), 2u);
}

TEST(SweepPlan, ARequiredKeyMaySolelyComeFromTheSweep) {
  TempDir dir;
  const Plan plan = make_plan(dir.write("k.yaml", "sweep:\n  experiment.kind: [selection]\n"), {});
  EXPECT_EQ(plan.runs.size(), 1u);
}

TEST(SweepPlan, ConfigAndOverrideErrorsAreReportedTogether) {
  TempDir dir;
  const auto path = dir.write("e.yaml", "experiment: {kind: selection}\nprune: {sparsity: 3}\n");
  try {
    make_plan(path, {"nonsense", "prune.metod=bed"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.issues().size(), 3u) << e.what();
    EXPECT_NE(e.issues()[0].where.file.find("nonsense"), std::string::npos);
    bool named_override = false;
    for (const auto& issue : e.issues()) {
      named_override |= issue.key == "prune.metod" && issue.where.file.find("command line") != std::string::npos;
    }
    EXPECT_TRUE(named_override) << e.what();
  }
}

TEST(SweepPlan, CampaignKeysComeFromTheBaseConfig) {
  TempDir dir;
  const Plan plan = make_plan(dir.write("c.yaml", "experiment: {kind: selection}\noutput: {db: x/y.db}\n"), {});
  EXPECT_EQ(plan.campaign["output.db"], "x/y.db");
  EXPECT_EQ(plan.campaign["output.report"], "");
  EXPECT_EQ(plan.runs[0].resolved["output"]["db"], "x/y.db");
}

TEST(RunId, IsAHashOfTheCanonicalJson) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Flatten, GivesDottedKeysWithListsAsValues) {
  const auto flat = flatten(nlohmann::json::parse(R"({"a":{"b":1,"c":[4,1]},"d":"x"})"));
  ASSERT_EQ(flat.size(), 3u);
  EXPECT_EQ(flat[0].first, "a.b");
  EXPECT_EQ(flat[1].second, nlohmann::json::parse("[4,1]"));
  EXPECT_EQ(flat[2].first, "d");
}

TEST(TrainingPlan, AnUnprunedRunHasOneIdWhateverThePruningSettingsAndSeed) {
  TempDir dir;
  const Plan plan = make_plan(dir.write("t.yaml",
                                        "experiment: {kind: training}\n"
                                        "sweep:\n  prune.method: [none, bed]\n  prune.sparsity: [0.5, 0.8]\n"
                                        "  experiment.seed: [0, 1]\n"),
                              {});
  EXPECT_EQ(plan.runs.size(), 5u);  // one dense run and four pruned ones
  EXPECT_EQ(plan.duplicates_dropped, 3u);
  EXPECT_EQ(plan.runs[0].resolved["prune"], nlohmann::json({{"method", "none"}}));
  EXPECT_EQ(plan.runs[0].label(), "prune.method=\"none\" experiment.seed=0");  // sparsity dropped
  EXPECT_EQ(plan.runs[1].label(), "prune.method=\"bed\" prune.sparsity=0.5 experiment.seed=0");
  EXPECT_EQ(plan.runs[1].resolved["prune"]["method"], "bed");
  EXPECT_EQ(plan.runs[1].resolved["data"]["dataset"], "fashion_mnist");
}

TEST(TrainingPlan, MethodNoneIsRefusedForSelectionAndListsAreChecked) {
  TempDir dir;
  const auto none = dir.write("n.yaml", "experiment: {kind: selection}\nprune: {method: none}\n");
  try {
    make_plan(none, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("training runs only"), std::string::npos) << e.what();
  }
  const auto milestones = dir.write("m.yaml", "experiment: {kind: training}\ntrain: {milestones: [3, x]}\n");
  try {
    make_plan(milestones, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.milestones"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("is not an integer"), std::string::npos) << e.what();
  }
  const Plan ok = make_plan(dir.write("ok.yaml", "experiment: {kind: training}\ntrain: {milestones: [30, 60]}\n"), {});
  EXPECT_EQ(ok.runs[0].resolved["train"]["milestones"], nlohmann::json::array({30, 60}));
}

const char* kTrainingWithDevices = "experiment: {kind: training}\nlatency:\n  devices: ";

TEST(LatencyDevices, AreAYamlListAndPlanWithoutWarnings) {
  TempDir dir;
  const Plan plan = make_plan(dir.write("t.yaml", std::string(kTrainingWithDevices) + "[local, pixel]\n"), {});
  EXPECT_EQ(plan.runs[0].resolved["latency"]["devices"], nlohmann::json::array({"local", "pixel"}));
  EXPECT_TRUE(plan.warnings.empty());
  const Plan none = make_plan(dir.write("n.yaml", "experiment: {kind: training}\n"), {});
  EXPECT_EQ(none.runs[0].resolved["latency"]["devices"], nlohmann::json::array());
}

TEST(LatencyDevices, AsACommaSeparatedStringAreStillReadWithAWarningThatSaysWhere) {
  TempDir dir;
  const auto path = dir.write("t.yaml", std::string(kTrainingWithDevices) + "'local, pixel'\n");
  const Plan plan = make_plan(path, {});
  EXPECT_EQ(plan.runs[0].resolved["latency"]["devices"], nlohmann::json::array({"local", "pixel"}));
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_EQ(plan.warnings[0].format(),
            path + ":3:12: latency.devices: a comma-separated string is deprecated and read as the list "
                   "[local, pixel]; write a YAML list instead, e.g. devices: [local, pixel]");
  // The same devices either way: the same run (latency is not part of the run id anyway).
  const Plan listed = make_plan(dir.write("l.yaml", std::string(kTrainingWithDevices) + "[local, pixel]\n"), {});
  EXPECT_EQ(plan.runs[0].resolved_json, listed.runs[0].resolved_json);
}

TEST(LatencyDevices, ClearedByAnEmptyOverrideGiveNoWarning) {
  TempDir dir;
  const auto path = dir.write("t.yaml", std::string(kTrainingWithDevices) + "[local]\n");
  for (const char* clear : {"latency.devices=", "latency.devices=''", "latency.devices=[]"}) {
    const Plan plan = make_plan(path, {clear});
    EXPECT_EQ(plan.runs[0].resolved["latency"]["devices"], nlohmann::json::array()) << clear;
    EXPECT_TRUE(plan.warnings.empty()) << clear;
  }
  const Plan one = make_plan(path, {"latency.devices=pixel"});
  EXPECT_EQ(one.runs[0].resolved["latency"]["devices"], nlohmann::json::array({"pixel"}));
  ASSERT_EQ(one.warnings.size(), 1u);
  EXPECT_NE(one.warnings[0].format().find("command line override 'latency.devices=pixel'"), std::string::npos)
      << one.warnings[0].format();
}

TEST(LatencyDevices, RefuseAListOfNonStrings) {
  TempDir dir;
  try {
    make_plan(dir.write("t.yaml", std::string(kTrainingWithDevices) + "[local, [x]]\n"), {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("latency.devices: wrong type: element [\"x\"] of"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("accepted: a list of strings"), std::string::npos) << e.what();
  }
}

TEST(ShippedConfigs, AllPlanWithoutErrors) {
  TempDir imagenet;
  imagenet.write("train/n01/a.jpg", "");
  imagenet.write("val/n01/a.jpg", "");
  size_t checked = 0;
  const std::filesystem::path root = std::filesystem::path(UBP_SOURCE_DIR) / "configs";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".yaml") continue;
    // Files under base/ are fragments meant to be included, not run on their own; devices/ holds
    // device files (device/tests/test_device_config.cpp checks those).
    const auto folder = entry.path().parent_path().filename();
    if (folder == "base" || folder == "devices") continue;
    // The reproduce campaign's selection config reads the campaign's dense run, whose id
    // scripts/reproduce.sh gives on the command line.
    std::vector<std::string> overrides;
    if (entry.path().filename() == "selection.yaml" && folder == "reproduce") overrides = {"selection.run=0123456789abcdef"};
    // The paper's ImageNet configs need data.root, a folder with train/ and val/ (the plan checks it).
    if (folder == "paper") overrides = {"data.root=" + imagenet.path().string()};
    EXPECT_NO_THROW({
      const Plan plan = make_plan(entry.path().string(), overrides);
      EXPECT_GT(plan.runs.size(), 0u) << entry.path();
      EXPECT_TRUE(plan.warnings.empty()) << entry.path() << ": " << plan.warnings.front().format();
    }) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 3u);
}

}  // namespace
}  // namespace ubp::config

// Paired differences on real SQLite databases filled through results::Store: runs differing
// only in prune.method (and bookkeeping) are paired by seed, and the mean difference and its
// t-interval are checked against values computed by hand.
#include "ubp/reports/paired.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "report_test_support.h"
#include "support/temp_dir.h"
#include "ubp/reports/report.h"

namespace ubp::reports {
namespace {

using testing_support::add_done_run;
using testing_support::add_training_run;
using testing_support::latex_rows;
using testing_support::param;
using testing_support::parse_csv;
using testing_support::TrainingRun;
using ubp::testing::read_bytes;
using ubp::testing::TempDir;

// Upper 0.975 quantiles in closed form: df 1 (Cauchy) tan(0.475 pi), df 2 0.95 / sqrt(2 * 0.975 * 0.025).
const double kT975Df1 = std::tan(0.475 * std::acos(-1.0));
const double kT975Df2 = 0.95 / std::sqrt(2 * 0.975 * 0.025);

// At sparsity 0.8: aligned on seeds 0, 1, 2; bed on the same seeds (differences 0.5, 1.0, 1.5);
// optimal on seeds 0, 1 and 3 (differences -1.0, -0.5; seed 3 has no aligned run). Every run has
// its own experiment.name and output.db, which must not split the groups. At 0.5 one pair of
// bed and aligned; at 0.9 a bed run with no aligned run at all; a dense run (method none) and a
// failed aligned run are never paired.
void fill(results::Store& store) {
  const auto bookkeeping = [](const std::string& id) {
    return std::vector<results::Param>{param("experiment.name", "\"" + id + "\""),
                                       param("output.db", "\"runs/" + id + ".db\""),
                                       param("train.threads", id.size() % 2 == 0 ? "1" : "2")};
  };
  const std::map<std::string, std::map<int, double>> top1 = {
      {"aligned", {{0, 70.0}, {1, 71.0}, {2, 72.5}}},
      {"bed", {{0, 70.5}, {1, 72.0}, {2, 74.0}}},
      {"optimal", {{0, 69.0}, {1, 70.5}, {3, 75.0}}}};
  for (const auto& [method, by_seed] : top1) {
    for (const auto& [seed, value] : by_seed) {
      const std::string id = method + std::to_string(seed);
      add_training_run(store, {id, method, seed, value, "0.8", "[4,1]", bookkeeping(id), {}});
    }
  }
  add_training_run(store, {"a-half", "aligned", 0, 80.0, "0.5", "[4,1]", {}, {}});
  add_training_run(store, {"b-half", "bed", 0, 80.25, "0.5", "[4,1]", {}, {}});
  add_training_run(store, {"b-ninety", "bed", 0, 60.0, "0.9", "[4,1]", {}, {}});
  results::RunResult dense;
  dense.metrics = {{"top1", 0, 88.0}};
  add_done_run(store, "dense", "training", {param("model.name", "\"mobilenet_v1\""), param("prune.method", "\"none\"")},
               dense);
  store.register_run("failed", "training", "{}",
                     {param("model.name", "\"mobilenet_v1\""), param("prune.block", "[4,1]"),
                      param("prune.sparsity", "0.8"), param("prune.method", "\"aligned\""),
                      param("prune.schedule", "\"gmp\""), param("experiment.seed", "3")});
  store.mark_running("failed", "host");
  store.mark_failed("failed", "killed");
}

const PairedComparison* find(const PairedComparisons& paired, const std::string& method, const std::string& sparsity) {
  for (const auto& c : paired.comparisons) {
    if (c.method == method && c.settings.at("prune.sparsity") == sparsity) return &c;
  }
  return nullptr;
}

TEST(PairedComparisons, PairRunsBySeedAndGiveTheMeanDifferenceWithItsTInterval) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill(store);
  const auto paired = paired_comparisons(load_runs(store), "top1", "aligned");
  ASSERT_EQ(paired.comparisons.size(), 3u) << "bed and optimal at 0.8, bed at 0.5";
  EXPECT_EQ(paired.setting_keys,
            (std::vector<std::string>{"model.name", "prune.block", "prune.sparsity", "prune.schedule"}))
      << "bookkeeping keys neither split groups nor become columns";

  const PairedComparison* bed = find(paired, "bed", "0.8");
  ASSERT_NE(bed, nullptr);
  EXPECT_EQ(bed->seeds, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(bed->differences, (std::vector<double>{0.5, 1.0, 1.5}));
  EXPECT_EQ(bed->difference.n, 3u);
  EXPECT_DOUBLE_EQ(bed->difference.mean, 1.0);
  // sd 0.5, standard error 0.5 / sqrt(3).
  const double bed_half = kT975Df2 * 0.5 / std::sqrt(3.0);
  EXPECT_NEAR(*bed->difference.low, 1.0 - bed_half, 1e-9);
  EXPECT_NEAR(*bed->difference.high, 1.0 + bed_half, 1e-9);
  EXPECT_EQ(bed->unpaired, 0u);

  const PairedComparison* optimal = find(paired, "optimal", "0.8");
  ASSERT_NE(optimal, nullptr);
  EXPECT_EQ(optimal->seeds, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(optimal->differences, (std::vector<double>{-1.0, -0.5}));
  // sd of (-1, -0.5) is sqrt(0.125), standard error 0.25.
  EXPECT_NEAR(*optimal->difference.low, -0.75 - kT975Df1 * 0.25, 1e-9);
  EXPECT_NEAR(*optimal->difference.high, -0.75 + kT975Df1 * 0.25, 1e-9);
  EXPECT_EQ(optimal->unpaired, 2u) << "optimal's seed 3 and aligned's seed 2";

  const PairedComparison* half = find(paired, "bed", "0.5");
  ASSERT_NE(half, nullptr);
  EXPECT_EQ(half->difference.n, 1u);
  EXPECT_DOUBLE_EQ(half->difference.mean, 0.25);
  EXPECT_FALSE(half->difference.has_interval());

  EXPECT_EQ(paired.unpaired_runs, 1u) << "only optimal's seed 3 is in no pair (aligned's seed 2 pairs with bed)";
  EXPECT_EQ(paired.without_reference, 1u) << "bed at 0.9 has no aligned run";
}

TEST(PairedComparisons, KeepRunsThatDifferInAnotherSettingApartAndShowThatSetting) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  for (const char* lr : {"0.01", "0.001"}) {
    const std::vector<results::Param> extra = {param("prune.lr", lr)};
    add_training_run(store, {std::string("a") + lr, "aligned", 0, 70.0, "0.8", "[4,1]", extra, {}});
    add_training_run(store, {std::string("b") + lr, "bed", 0, lr == std::string("0.01") ? 71.0 : 69.0, "0.8",
                             "[4,1]", extra, {}});
  }
  const auto paired = paired_comparisons(load_runs(store), "top1", "aligned");
  ASSERT_EQ(paired.comparisons.size(), 2u);
  EXPECT_EQ(paired.setting_keys.back(), "prune.lr");
  EXPECT_EQ(paired.comparisons[0].settings.at("prune.lr"), "0.001") << "ordered numerically";
  EXPECT_DOUBLE_EQ(paired.comparisons[0].difference.mean, -1.0);
  EXPECT_DOUBLE_EQ(paired.comparisons[1].difference.mean, 1.0);
  EXPECT_EQ(settings_label(paired.comparisons[0], paired.setting_keys),
            "mobilenet_v1, 4x1, sparsity 0.8, gmp, prune.lr=0.001");
}

size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  ADD_FAILURE() << "no column " << name;
  return 0;
}

TEST(PairedTable, IsWrittenAsCsvLatexMarkdownAndHtmlWithTheLeftOutRunsCounted) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill(store);
  ReportOptions options;
  options.out_dir = dir.file("out");
  options.figures = false;
  const auto summary = write_report(store, options);
  EXPECT_NE(std::find(summary.table_names.begin(), summary.table_names.end(), "paired"), summary.table_names.end());

  const auto csv = parse_csv(read_bytes(dir.file("out/tables/paired.csv")));
  ASSERT_EQ(csv.size(), 4u);
  const auto& h = csv[0];
  // Rows ordered by sparsity, then method.
  EXPECT_EQ(csv[1][column(h, "prune.sparsity")], "0.5");
  EXPECT_EQ(csv[1][column(h, "95% CI low")], "") << "one pair, no interval";
  EXPECT_EQ(csv[2][column(h, "method")], "bed");
  EXPECT_EQ(csv[2][column(h, "pairs")], "3");
  EXPECT_DOUBLE_EQ(std::stod(csv[2][column(h, "aligned top1")]), (70.0 + 71.0 + 72.5) / 3);
  EXPECT_DOUBLE_EQ(std::stod(csv[2][column(h, "method top1")]), (70.5 + 72.0 + 74.0) / 3);
  EXPECT_DOUBLE_EQ(std::stod(csv[2][column(h, "difference")]), 1.0);
  EXPECT_NEAR(std::stod(csv[2][column(h, "95% CI low")]), 1.0 - kT975Df2 * 0.5 / std::sqrt(3.0), 1e-12);
  EXPECT_EQ(csv[3][column(h, "method")], "optimal");
  EXPECT_EQ(csv[3][column(h, "unpaired")], "2");
  EXPECT_NEAR(std::stod(csv[3][column(h, "95% CI high")]), -0.75 + kT975Df1 * 0.25, 1e-12);

  const auto tex = latex_rows(read_bytes(dir.file("out/tables/paired.tex")));
  ASSERT_EQ(tex.size(), 3u);
  // Hoisted: model, block, schedule. Shown: sparsity, method, pairs, two means, difference, CI, unpaired.
  ASSERT_EQ(tex[1].size(), 9u);
  EXPECT_EQ(tex[1][1], "bed");
  EXPECT_EQ(tex[1][3], "71.17") << "two decimals for accuracies";
  EXPECT_EQ(tex[1][5], "1.00");

  const std::string md = read_bytes(dir.file("out/report.md"));
  EXPECT_NE(md.find("## Paired differences"), std::string::npos) << md;
  EXPECT_NE(md.find("1 run is left out: no run of the other side has its seed"), std::string::npos) << md;
  EXPECT_NE(md.find("1 run has no aligned run with the same settings"), std::string::npos) << md;
  EXPECT_NE(read_bytes(dir.file("out/index.html")).find("id=\"table-paired\""), std::string::npos);
}

}  // namespace
}  // namespace ubp::reports

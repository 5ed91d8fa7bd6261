// write_report on real SQLite databases filled through results::Store with known values: the
// CSV and LaTeX numbers are checked against means and deviations computed here.
#include "ubp/reports/layer_kinds.h"
#include "ubp/reports/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdlib>
#include <map>
#include <set>

#include "report_test_support.h"
#include "support/temp_dir.h"

namespace ubp::reports {
namespace {

namespace fs = std::filesystem;
using testing_support::add_done_run;
using testing_support::latency_record;
using testing_support::latex_rows;
using testing_support::param;
using testing_support::parse_csv;
using ubp::testing::read_bytes;
using ubp::testing::TempDir;

struct Training {
  std::string id, method, sparsity = "0.8";
  int seed = 0;
  double top1 = 0, dense_top1 = 0;
  std::vector<results::LatencyRecord> latency;
  std::vector<results::LayerRecord> layers;
  std::string schedule;  // prune.schedule when not empty
};

void add_training(results::Store& store, const Training& t) {
  results::RunResult result;
  result.metrics = {{"top1", 0, t.top1}, {"dense.top1", 0, t.dense_top1}, {"train.loss", 1, 2.5}};
  result.latency = t.latency;
  result.layers = t.layers;
  std::vector<results::Param> params = {param("model.name", "\"mobilenet_v1\""), param("prune.block", "[4,1]"),
                                       param("prune.sparsity", t.sparsity),
                                       param("prune.method", "\"" + t.method + "\""),
                                       param("experiment.seed", std::to_string(t.seed))};
  if (!t.schedule.empty()) params.push_back(param("prune.schedule", "\"" + t.schedule + "\""));
  add_done_run(store, t.id, "training", params, result);
}

// Column index by header name; fails the test when missing.
size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  ADD_FAILURE() << "no column " << name;
  return 0;
}

double number(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  EXPECT_NE(end, text.c_str()) << "not a number: '" << text << "'";
  return value;
}

// Two methods, three seeds each, known accuracies.
const std::map<std::string, std::vector<double>> kTop1 = {{"aligned", {70.125, 70.5, 71.0}},
                                                           {"unaligned", {72.25, 71.875, 72.0}}};
const double kDenseTop1 = 73.5;

void fill_accuracy(results::Store& store) {
  for (const auto& [method, values] : kTop1) {
    for (size_t seed = 0; seed < values.size(); ++seed) {
      add_training(store, {method + std::to_string(seed), method, "0.8", static_cast<int>(seed), values[seed],
                           kDenseTop1, {}, {}});
    }
  }
}

TEST(Report, AccuracyCsvAndLatexHoldTheStoredMeansAndDeviations) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill_accuracy(store);
  ReportOptions options;
  options.out_dir = dir.file("out");
  const auto summary = write_report(store, options);
  EXPECT_EQ(summary.runs, 6u);
  // Both methods ran the same seeds: the paired table follows the accuracy table.
  EXPECT_EQ(summary.table_names, (std::vector<std::string>{"accuracy", "paired"}));

  const auto csv = parse_csv(read_bytes(dir.file("out/tables/accuracy.csv")));
  ASSERT_EQ(csv.size(), 3u);
  const auto& header = csv[0];
  const auto tex = latex_rows(read_bytes(dir.file("out/tables/accuracy.tex")));
  ASSERT_EQ(tex.size(), 2u);
  for (size_t r = 1; r < csv.size(); ++r) {
    const auto& row = csv[r];
    const auto& values = kTop1.at(row[column(header, "prune.method")]);
    double sum = 0;
    for (double v : values) sum += v;
    const double mean = sum / values.size();
    double squares = 0;
    for (double v : values) squares += (v - mean) * (v - mean);
    const double stddev = std::sqrt(squares / (values.size() - 1));
    EXPECT_DOUBLE_EQ(number(row[column(header, "top1")]), mean);
    EXPECT_DOUBLE_EQ(number(row[column(header, "top1 std")]), stddev);
    EXPECT_EQ(row[column(header, "runs")], "3");
    EXPECT_DOUBLE_EQ(number(row[column(header, "vs dense")]), mean - kDenseTop1);
    EXPECT_EQ(row[column(header, "model.name")], "mobilenet_v1") << "the CSV keeps hoisted columns";

    // LaTeX shows the hoisted columns once, so its rows are: method, top1 ± std, runs, vs dense.
    const auto& latex = tex[r - 1];
    ASSERT_EQ(latex.size(), 4u);
    EXPECT_EQ(latex[0], row[column(header, "prune.method")]);
    const size_t pm = latex[1].find(" $\\pm$ ");
    ASSERT_NE(pm, std::string::npos) << latex[1];
    // Accuracies in percent are printed with two decimals.
    EXPECT_NEAR(number(latex[1].substr(0, pm)), mean, 0.005 + 1e-12);
    EXPECT_NEAR(number(latex[1].substr(pm + 7)), stddev, 0.005 + 1e-12);
    EXPECT_NEAR(number(latex[3]), mean - kDenseTop1, 0.005 + 1e-12);
  }

  const std::string md = read_bytes(dir.file("out/report.md"));
  EXPECT_NE(md.find("Same in every row: model.name = mobilenet_v1, prune.block = [4,1], prune.sparsity = 0.8"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| prune.method | top1 | runs | vs dense |"), std::string::npos) << md;
  EXPECT_NE(md.find("Each row averages runs that differ in: experiment.seed."), std::string::npos) << md;
  EXPECT_NE(md.find("### training (6 runs)"), std::string::npos) << "the run listing stays: " << md;
  const std::string tex_text = read_bytes(dir.file("out/tables/accuracy.tex"));
  EXPECT_NE(tex_text.find("model.name = mobilenet\\_v1"), std::string::npos) << tex_text;
}

TEST(Report, DenseReferenceFallsBackToTheUnprunedRuns) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  results::RunResult dense;
  dense.metrics = {{"top1", 0, 74.0}};
  add_done_run(store, "dense", "training", {param("model.name", "\"mobilenet_v1\""), param("prune.method", "\"none\"")},
               dense);
  results::RunResult pruned;
  pruned.metrics = {{"top1", 0, 70.5}};
  add_done_run(store, "pruned", "training",
               {param("model.name", "\"mobilenet_v1\""), param("prune.method", "\"aligned\""),
                param("prune.sparsity", "0.5")},
               pruned);
  ReportOptions options;
  options.out_dir = dir.file("out");
  write_report(store, options);
  const auto csv = parse_csv(read_bytes(dir.file("out/tables/accuracy.csv")));
  ASSERT_EQ(csv.size(), 3u);
  for (size_t r = 1; r < 3; ++r) {
    const bool is_dense = csv[r][column(csv[0], "prune.method")] == "none";
    EXPECT_DOUBLE_EQ(number(csv[r][column(csv[0], "vs dense")]), is_dense ? 0.0 : 70.5 - 74.0);
  }
}

TEST(Report, WhereFiltersOnTextAndNumbersAndGroupByAndMetricChooseTheAxes) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill_accuracy(store);
  add_training(store, {"sparse", "aligned", "0.9", 0, 60.0, kDenseTop1, {}, {}});
  ReportOptions options;
  options.out_dir = dir.file("out");
  // 0.80 is the number 0.8, not the text "0.8".
  options.where = {parse_where("prune.sparsity=0.80"), parse_where("prune.method=aligned")};
  const auto summary = write_report(store, options);
  EXPECT_EQ(summary.runs, 3u);
  EXPECT_EQ(summary.runs_in_database, 7u);
  const auto csv = parse_csv(read_bytes(dir.file("out/tables/accuracy.csv")));
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(csv[1][column(csv[0], "prune.method")], "aligned");
  EXPECT_EQ(csv[1][column(csv[0], "runs")], "3");
  EXPECT_NE(read_bytes(dir.file("out/report.md")).find("`--where prune.sparsity=0.80, prune.method=aligned`: 3 of 7"),
            std::string::npos);

  // A repeated key means either value; --group-by puts the seed on the rows; --metric another value.
  ReportOptions by_seed;
  by_seed.out_dir = dir.file("out2");
  by_seed.where = {parse_where("prune.sparsity=0.9"), parse_where("prune.sparsity=0.8"),
                   parse_where("prune.block=[4, 1]")};
  by_seed.group_by = {"experiment.seed"};
  by_seed.metric = "dense.top1";
  EXPECT_EQ(write_report(store, by_seed).runs, 7u);
  const auto seeds = parse_csv(read_bytes(dir.file("out2/tables/accuracy.csv")));
  ASSERT_EQ(seeds.size(), 4u);
  EXPECT_EQ(seeds[0][0], "experiment.seed");
  EXPECT_EQ(seeds[0][1], "dense.top1");
  EXPECT_EQ(seeds[1][column(seeds[0], "runs")], "3") << "seed 0: two methods at 0.8 and the 0.9 run";
}

TEST(Report, RefusesUnknownKeysListingTheKnownOnes) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill_accuracy(store);
  ReportOptions options;
  options.out_dir = dir.file("out");
  options.where = {parse_where("model.arch=mobilenet_v1")};
  try {
    write_report(store, options);
    FAIL() << "expected ReportError";
  } catch (const ReportError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'model.arch'"), std::string::npos) << message;
    EXPECT_NE(message.find("known: experiment.seed, model.name, prune.block, prune.method, prune.sparsity"),
              std::string::npos)
        << message;
  }
  options.where.clear();
  options.group_by = {"model.arch"};
  EXPECT_THROW(write_report(store, options), ReportError);
  options.group_by.clear();
  options.metric = "top_1";
  try {
    write_report(store, options);
    FAIL() << "expected ReportError";
  } catch (const ReportError& e) {
    EXPECT_NE(std::string(e.what()).find("--metric top_1: no run has this metric (known: dense.top1, top1, train.loss)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_where("no-equals-sign"), ReportError);
  EXPECT_FALSE(fs::exists(dir.file("out")));
}

TEST(Report, EmptyAndFilteredOutDatabasesSaySoAndWriteNothing) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  ReportOptions options;
  options.out_dir = dir.file("out");
  EXPECT_THROW(write_report(store, options), ReportError);
  EXPECT_FALSE(fs::exists(dir.file("out")));

  fill_accuracy(store);
  options.where = {parse_where("prune.sparsity=0.5")};
  try {
    write_report(store, options);
    FAIL() << "expected ReportError";
  } catch (const ReportError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("no run matches --where prune.sparsity=0.5"), std::string::npos) << message;
    EXPECT_NE(message.find("holds 6 runs before filtering"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(dir.file("out")));
}

TEST(Report, LatencySpeedUpAndUnalignedToAlignedRatioLeaveFailedMeasurementsOut) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  // The aligned run's measurement is invalid (still used, but marked); the unaligned run has a
  // failed second measurement of its kernel that must not pull its mean towards 0.
  add_training(store, {"al", "aligned", "0.8", 0, 70, 73, {latency_record("dense", 10, 11), latency_record("aligned", 4, 5, false)}, {}});
  add_training(store, {"un", "unaligned", "0.8", 0, 71, 73,
                       {latency_record("dense", 12, 13), latency_record("unaligned", 3, 3.5), latency_record("unaligned", 0, 0, false, true)},
                       {}});
  ReportOptions options;
  options.out_dir = dir.file("out");
  write_report(store, options);
  const auto csv = parse_csv(read_bytes(dir.file("out/tables/latency.csv")));
  ASSERT_EQ(csv.size(), 5u);  // dense and aligned of "al", dense and unaligned of "un"
  const auto& h = csv[0];
  std::map<std::string, std::vector<std::string>> by_row;  // "method/kernel" -> row
  for (size_t r = 1; r < csv.size(); ++r) by_row[csv[r][column(h, "prune.method")] + "/" + csv[r][column(h, "kernel")]] = csv[r];
  ASSERT_EQ(by_row.count("aligned/aligned"), 1u);
  ASSERT_EQ(by_row.count("unaligned/unaligned"), 1u);
  const auto& aligned = by_row["aligned/aligned"];
  const auto& unaligned = by_row["unaligned/unaligned"];
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "p50 ms")]), 4.0);
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "p90 ms")]), 5.0);
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "speed-up")]), 10.0 / 4.0);
  EXPECT_EQ(aligned[column(h, "status")], "invalid 1/1");
  EXPECT_EQ(aligned[column(h, "unaligned/aligned")], "") << "the ratio sits on the unaligned rows";
  EXPECT_DOUBLE_EQ(number(unaligned[column(h, "p50 ms")]), 3.0);
  EXPECT_DOUBLE_EQ(number(unaligned[column(h, "speed-up")]), 12.0 / 3.0);
  EXPECT_DOUBLE_EQ(number(unaligned[column(h, "unaligned/aligned")]), 3.0 / 4.0);
  EXPECT_EQ(unaligned[column(h, "measured")], "1");
  EXPECT_EQ(unaligned[column(h, "status")], "failed 1/2");
  EXPECT_DOUBLE_EQ(number(by_row["aligned/dense"][column(h, "speed-up")]), 1.0);

  const std::string md = read_bytes(dir.file("out/report.md"));
  EXPECT_NE(md.find("failed measurements are left out of every mean, speed-up and ratio"), std::string::npos) << md;
  EXPECT_NE(md.find("Same in every row: model.name = mobilenet_v1, prune.block = [4,1], prune.sparsity = 0.8"),
            std::string::npos)
      << md;
}

results::LayerRecord layer(const std::string& name, int64_t rows, int64_t cols, const std::string& method,
                           double retained, double total, double seconds) {
  results::LayerRecord r;
  r.layer = name;
  r.rows = rows;
  r.cols = cols;
  r.block_rows = 4;
  r.block_cols = 1;
  r.method = method;
  r.kept_blocks = 10;
  r.sparsity = 0.75;
  r.retained_importance = retained;
  r.total_importance = total;
  r.selection_seconds = seconds;
  return r;
}

TEST(Report, SelectionTableComparesEachLayerWithTheOptimalSelection) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  const auto add = [&](const std::string& method, double scale, double seconds) {
    results::RunResult result;
    result.metrics = {{"retained_fraction", 0, 0.5}};
    result.layers = {layer("pw1", 64, 32, method, 8 * scale, 16, seconds),
                     layer("pw2", 128, 64, method, 20 * scale, 40, seconds * 2)};
    add_done_run(store, method, "selection",
                 {param("prune.method", "\"" + method + "\""), param("prune.sparsity", "0.75"),
                  param("selection.rows", "64")},
                 result);
  };
  add("optimal", 1.0, 0.5);
  add("bed", 0.9, 0.001);
  ReportOptions options;
  options.out_dir = dir.file("out");
  const auto summary = write_report(store, options);
  EXPECT_EQ(summary.table_names, std::vector<std::string>{"selection"});
  const auto csv = parse_csv(read_bytes(dir.file("out/tables/selection.csv")));
  ASSERT_EQ(csv.size(), 5u);
  const auto& h = csv[0];
  bool saw_bed_small = false;
  for (size_t r = 1; r < csv.size(); ++r) {
    const bool bed = csv[r][column(h, "method")] == "bed";
    const bool small = csv[r][column(h, "shape")] == "64x32";
    EXPECT_DOUBLE_EQ(number(csv[r][column(h, "vs optimal")]), bed ? 0.9 : 1.0);
    EXPECT_DOUBLE_EQ(number(csv[r][column(h, "retained fraction")]), bed ? 0.45 : 0.5);
    EXPECT_DOUBLE_EQ(number(csv[r][column(h, "ms per layer")]), 1e3 * (bed ? 0.001 : 0.5) * (small ? 1 : 2));
    saw_bed_small = saw_bed_small || (bed && small);
  }
  EXPECT_TRUE(saw_bed_small);
  EXPECT_EQ(csv[1][column(h, "shape")], "64x32") << "rows ordered by shape, numerically";
}

TEST(Report, LayerTableOfOneRunIncludesPerLayerLatency) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  auto timed = latency_record("aligned", 4, 5);
  timed.detail_json = R"({"layers": [{"name": "pw1", "p50_ms": 0.25}, {"name": "pw2", "p50_ms": 1.5}]})";
  auto dense = latency_record("dense", 9, 9);
  dense.detail_json = R"({"layers": [{"name": "pw1", "p50_ms": 0.5}, {"name": "pw2", "p50_ms": 4.5}]})";
  auto failed = latency_record("aligned", 0, 0, false, true);
  failed.device = "board";
  failed.detail_json = R"({"failed": true, "layers": [{"name": "pw1", "p50_ms": 7}]})";
  add_training(store, {"run1", "aligned", "0.8", 0, 70, 73, {timed, dense, failed},
                       {layer("pw1", 64, 32, "aligned", 8, 16, 0.1), layer("pw2", 128, 64, "aligned", 30, 40, 0.2)}});
  ReportOptions options;
  options.out_dir = dir.file("out");
  options.run = "run1";
  const auto summary = write_report(store, options);
  ASSERT_EQ(summary.table_names.back(), "layers-run1");
  const auto csv = parse_csv(read_bytes(dir.file("out/tables/layers-run1.csv")));
  ASSERT_EQ(csv.size(), 3u);
  const auto& h = csv[0];
  EXPECT_EQ(csv[2][column(h, "layer")], "pw2");
  EXPECT_DOUBLE_EQ(number(csv[2][column(h, "retained fraction")]), 30.0 / 40.0);
  EXPECT_DOUBLE_EQ(number(csv[1][column(h, "aligned ms (local, 1t)")]), 0.25);
  EXPECT_DOUBLE_EQ(number(csv[2][column(h, "aligned ms (local, 1t)")]), 1.5);
  EXPECT_EQ(csv[1][column(h, "kept blocks")], "10");
  EXPECT_DOUBLE_EQ(number(csv[1][column(h, "speed-up aligned (local, 1t)")]), 0.5 / 0.25);
  EXPECT_DOUBLE_EQ(number(csv[2][column(h, "speed-up aligned (local, 1t)")]), 4.5 / 1.5);
  EXPECT_EQ(csv[0].size(), 10u) << "layer, shape, block, method, kept, sparsity, retained, 2 times, 1 speed-up; "
                                   "nothing from the failed record: "
                               << read_bytes(dir.file("out/tables/layers-run1.csv"));

  options.run = "nope";
  EXPECT_THROW(write_report(store, options), ReportError);
}

TEST(Report, LayerKindTableSumsEachKindsPerLayerTimesAndAveragesOverRuns) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  const auto record = [](const std::string& kernel, double pointwise_ms) {
    auto r = latency_record(kernel, 1, 1);
    r.detail_json = R"({"layers": [{"name": "stem", "kind": "conv", "p50_ms": 0.5},
                                   {"name": "dw1", "kind": "depthwise", "p50_ms": 0.25},
                                   {"name": "pw1", "kind": "pointwise", "p50_ms": )" +
                    std::to_string(pointwise_ms) + R"(},
                                   {"name": "pw2", "kind": "pointwise", "p50_ms": 1},
                                   {"name": "gap", "kind": "pool", "p50_ms": 0.125},
                                   {"name": "fc", "kind": "fc", "p50_ms": 0.0625}]})";
    return r;
  };
  auto failed = record("aligned", 100);
  failed.failed = true;
  add_training(store, {"s0", "aligned", "0.8", 0, 70, 73, {record("dense", 3), record("aligned", 1), failed}, {}});
  add_training(store, {"s1", "aligned", "0.8", 1, 70, 73, {record("dense", 3), record("aligned", 2)}, {}});
  // A record without per-layer kinds (an older database) adds no row.
  auto no_kinds = latency_record("unaligned", 1, 1);
  no_kinds.detail_json = R"({"layers": [{"name": "pw1", "p50_ms": 0.5}]})";
  add_training(store, {"b0", "bed", "0.8", 0, 70, 73, {no_kinds}, {}});
  // An unpruned model in a block format: a table row, but no figure series.
  add_training(store, {"n0", "none", "0", 0, 80, 80, {record("aligned", 4)}, {}});

  const Table table = layer_kind_table(load_runs(store));
  const auto csv = parse_csv(to_csv(table));
  ASSERT_EQ(csv.size(), 4u) << to_csv(table);  // header, aligned and dense kernels, the unpruned one
  const auto& h = csv[0];
  std::map<std::string, size_t> row_of;
  for (size_t r = 1; r < csv.size(); ++r) {
    if (csv[r][column(h, "prune.method")] == "aligned") row_of[csv[r][column(h, "kernel")]] = r;
  }
  ASSERT_EQ(row_of.count("aligned"), 1u);
  const auto& aligned = csv[row_of["aligned"]];
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "conv ms")]), 0.5);
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "depthwise ms")]), 0.25);
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "pointwise ms")]), (1 + 1 + 2 + 1) / 2.0);  // the failed record left out
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "classifier ms")]), 0.0625);
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "other ms")]), 0.125);
  const double total = 0.5 + 0.25 + 2.5 + 0.0625 + 0.125;
  EXPECT_DOUBLE_EQ(number(aligned[column(h, "layers ms")]), total);
  EXPECT_NEAR(number(aligned[column(h, "pointwise share")]), 2.5 / total, 0.005);
  EXPECT_EQ(aligned[column(h, "measured")], "2");
  EXPECT_DOUBLE_EQ(number(csv[row_of["dense"]][column(h, "pointwise ms")]), 4.0);

  // The figure: one bar series per format, the kinds as categories.
  const auto figures = report_figures(load_runs(store), "top1", nullptr);
  const auto kinds = std::find_if(figures.begin(), figures.end(),
                                  [](const ReportFigure& f) { return f.figure.id.rfind("layer-kinds-", 0) == 0; });
  ASSERT_NE(kinds, figures.end());
  EXPECT_EQ(kinds->figure.categories, layer_kind_groups());
  ASSERT_EQ(kinds->figure.series.size(), 2u);
  EXPECT_EQ(kinds->figure.series[0].name, "dense");
  EXPECT_EQ(kinds->figure.series[1].name, "aligned s=0.8");
  EXPECT_DOUBLE_EQ(kinds->figure.series[1].points[2].y, 2.5);
}

const FigureSeries* series_named(const Figure& figure, const std::string& name) {
  for (const auto& series : figure.series) {
    if (series.name == name) return &series;
  }
  ADD_FAILURE() << figure.id << " has no series " << name;
  return nullptr;
}

TEST(ReportFigures, AccuracyAgainstSparsityDrawsEachPruningScheduleAsItsOwnLine) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  add_training(store, {"g0", "aligned", "0.8", 0, 70, 74, {}, {}, "gmp"});
  add_training(store, {"g1", "aligned", "0.8", 1, 72, 74, {}, {}, "gmp"});
  add_training(store, {"o0", "aligned", "0.8", 0, 60, 74, {}, {}, "oneshot"});
  const auto figures = report_figures(load_runs(store), "top1", nullptr);
  const auto lines = std::find_if(figures.begin(), figures.end(),
                                  [](const ReportFigure& f) { return f.figure.id == "accuracy-sparsity"; });
  ASSERT_NE(lines, figures.end());
  ASSERT_EQ(lines->figure.series.size(), 2u);
  const FigureSeries* gmp = series_named(lines->figure, "aligned [4,1] gmp");
  const FigureSeries* oneshot = series_named(lines->figure, "aligned [4,1] oneshot");
  ASSERT_TRUE(gmp != nullptr && oneshot != nullptr);
  EXPECT_DOUBLE_EQ(gmp->points[0].y, 71.0);
  EXPECT_DOUBLE_EQ(oneshot->points[0].y, 60.0);
}

TEST(ReportFigures, AccuracyLatencyPointsAreSeedMeansWithEachMethodsParetoFrontier) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  // aligned: 0.5 is slower and more accurate than 0.9 (both on the frontier); 0.7 is slower
  // than 0.9 and less accurate than 0.5 at the same latency (dominated).
  add_training(store, {"a5s0", "aligned", "0.5", 0, 72, 74, {latency_record("dense", 10, 11), latency_record("aligned", 8, 9)}, {}});
  add_training(store, {"a5s1", "aligned", "0.5", 1, 71, 74, {latency_record("dense", 10, 11), latency_record("aligned", 6, 9)}, {}});
  add_training(store, {"a7", "aligned", "0.7", 0, 69, 74, {latency_record("dense", 10, 11), latency_record("aligned", 7, 8)}, {}});
  add_training(store, {"a9", "aligned", "0.9", 0, 70, 74, {latency_record("dense", 10, 11), latency_record("aligned", 3, 4)}, {}});
  // The failed (faster-looking) record must not be chosen as the run's latency.
  add_training(store, {"u9", "bed", "0.9", 0, 71, 74,
                       {latency_record("dense", 10, 11), latency_record("unaligned", 2.5, 3), latency_record("unaligned", 0.1, 0.1, false, true)},
                       {}});
  const auto runs = load_runs(store);
  const auto figures = report_figures(runs, "top1", nullptr);
  ASSERT_GE(figures.size(), 2u);
  const Figure& scatter = figures[0].figure;
  EXPECT_EQ(scatter.id, "accuracy-latency-local-1t");
  const FigureSeries* aligned = series_named(scatter, "aligned");
  ASSERT_NE(aligned, nullptr);
  ASSERT_EQ(aligned->points.size(), 3u);
  std::map<std::string, FigurePoint> by_label;
  for (const auto& point : aligned->points) by_label[point.label] = point;
  EXPECT_DOUBLE_EQ(by_label["s=0.5"].x, (8.0 + 6.0) / 2);
  EXPECT_DOUBLE_EQ(by_label["s=0.5"].y, (72.0 + 71.0) / 2);
  std::set<std::string> frontier;
  for (size_t i : aligned->frontier) frontier.insert(aligned->points[i].label);
  EXPECT_EQ(frontier, (std::set<std::string>{"s=0.5", "s=0.9"}));
  const FigureSeries* bed = series_named(scatter, "bed");
  ASSERT_NE(bed, nullptr);
  ASSERT_EQ(bed->points.size(), 1u);
  EXPECT_DOUBLE_EQ(bed->points[0].x, 2.5);

  const Figure& lines = figures[1].figure;
  EXPECT_EQ(lines.id, "accuracy-sparsity");
  const FigureSeries* aligned_line = series_named(lines, "aligned [4,1]");
  ASSERT_NE(aligned_line, nullptr);
  ASSERT_EQ(aligned_line->points.size(), 3u);
  EXPECT_DOUBLE_EQ(aligned_line->points[0].x, 0.5);
  EXPECT_DOUBLE_EQ(aligned_line->points[0].y, 71.5);
}

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = path == nullptr ? "" : path;
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t colon = std::min(dirs.find(':', start), dirs.size());
    if (fs::exists(fs::path(dirs.substr(start, colon - start)) / tool)) return true;
    start = colon + 1;
  }
  return false;
}

TEST(Report, DrawsTheFiguresAndWritesAnIndexPageWithTablesAndFigures) {
  ASSERT_TRUE(on_path("gnuplot")) << "gnuplot is not installed (scripts/install-deps.sh installs gnuplot-nox)";
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  auto timed = latency_record("aligned", 4, 5);
  timed.detail_json = R"({"layers": [{"name": "pw1", "p50_ms": 0.25}, {"name": "pw2", "p50_ms": 1.5}]})";
  auto dense = latency_record("dense", 9, 9);
  dense.detail_json = R"({"layers": [{"name": "pw1", "p50_ms": 0.5}, {"name": "pw2", "p50_ms": 4.5}]})";
  add_training(store, {"run1", "aligned", "0.8", 0, 70, 73, {timed, dense},
                       {layer("pw1", 64, 32, "aligned", 8, 16, 0.1), layer("pw2", 128, 64, "aligned", 30, 40, 0.2)}});
  add_training(store, {"run2", "aligned", "0.9", 0, 68, 73, {latency_record("aligned", 3, 4)}, {}});
  ReportOptions options;
  options.out_dir = dir.file("out");
  options.run = "run1";
  const auto summary = write_report(store, options);
  EXPECT_TRUE(summary.figure_errors.empty()) << summary.figure_errors.front();
  EXPECT_EQ(summary.figure_names, (std::vector<std::string>{"accuracy-latency-local-1t", "accuracy-sparsity",
                                                            "selection-time", "layer-speedup-run1"}));
  for (const auto& name : summary.figure_names) {
    for (const char* ext : {".svg", ".png", ".dat", ".gp"}) {
      EXPECT_GT(fs::file_size(dir.file("out/figures/" + name + ext)), 0u) << name << ext;
    }
  }
  const std::string md = read_bytes(dir.file("out/report.md"));
  EXPECT_NE(md.find("![top1 against latency on local, 1 thread](figures/accuracy-latency-local-1t.svg)"),
            std::string::npos)
      << md;
  ASSERT_EQ(summary.index_path, dir.file("out/index.html"));
  const std::string html = read_bytes(summary.index_path);
  EXPECT_NE(html.find("id=\"table-accuracy\""), std::string::npos);
  EXPECT_NE(html.find("id=\"table-layers-run1\""), std::string::npos);
  EXPECT_NE(html.find("data:image/svg+xml"), std::string::npos) << "figures are embedded";

  ReportOptions plain = options;
  plain.out_dir = dir.file("plain");
  plain.figures = false;
  plain.html = false;
  const auto tables_only = write_report(store, plain);
  EXPECT_TRUE(tables_only.figure_names.empty());
  EXPECT_FALSE(fs::exists(dir.file("plain/figures")));
  EXPECT_FALSE(fs::exists(dir.file("plain/index.html")));
}

}  // namespace
}  // namespace ubp::reports

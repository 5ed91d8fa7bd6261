// The note under a report table whose rows come from more than one code version.
#include "ubp/reports/code_versions.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "report_test_support.h"
#include "support/temp_dir.h"
#include "ubp/reports/report.h"

namespace ubp::reports {
namespace {

using testing_support::add_done_run;
using testing_support::param;
using ubp::testing::read_bytes;
using ubp::testing::TempDir;

// Training runs of two methods, each with top-1 and one selected layer; failed runs too.
void fill(results::Store& store) {
  int seed = 0;
  for (const char* method : {"aligned", "bed"}) {
    for (int i = 0; i < 3; ++i, ++seed) {
      results::RunResult result;
      result.metrics = {{"top1", 0, 70.0 + seed}};
      results::LayerRecord layer;
      layer.layer = "pw1";
      layer.rows = 64;
      layer.cols = 32;
      layer.block_rows = 4;
      layer.method = method;
      layer.kept_blocks = 100;
      layer.retained_importance = 5;
      layer.total_importance = 10;
      result.layers = {layer};
      const std::string id = std::string(method) + std::to_string(i);
      add_done_run(store, id, "training",
                   {param("prune.method", "\"" + std::string(method) + "\""), param("experiment.seed",
                                                                                    std::to_string(seed))},
                   result);
    }
  }
  store.register_run("broken", "training", "{}", {param("prune.method", "\"bed\"")});
  store.mark_running("broken", "host");
  store.mark_failed("broken", "out of memory");
}

void set_commit(const results::Store& store, const std::string& where, const std::string& commit) {
  const std::string sql = "UPDATE runs SET git_commit = '" + commit + "', git_dirty = 0 WHERE " + where;
  ASSERT_EQ(sqlite3_exec(store.raw_handle(), sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
}

const Table& table_named(const ReportContent& content, const std::string& name) {
  for (const auto& table : content.tables) {
    if (table.name == name) return table;
  }
  throw std::runtime_error("no table " + name);
}

bool mentions(const std::vector<std::string>& notes, const std::string& part) {
  for (const auto& note : notes) {
    if (note.find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(CodeVersionNote, IsAbsentWhenEveryRunOfATableComesFromOneBuild) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill(store);
  set_commit(store, "run_id != 'broken'", "1111111111111111111111111111111111111111");
  set_commit(store, "run_id = 'broken'", "2222222222222222222222222222222222222222");  // failed: in no table
  const ReportContent content = build_report(store, ReportOptions{});
  for (const auto& table : content.tables) {
    EXPECT_FALSE(mentions(table.notes, "code versions")) << table.name;
  }
}

TEST(CodeVersionNote, NamesEachVersionAndItsRunsUnderEveryTableTheyMeetIn) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill(store);
  set_commit(store, "1", "1111111111111111111111111111111111111111");
  set_commit(store, "run_id IN ('bed1', 'bed2')", "abcdefabcdefabcdefabcdefabcdefabcdefabcd");
  ReportOptions options;
  options.out_dir = dir.file("report");
  const ReportContent content = build_report(store, options);
  const std::string version = results::this_build().version;
  const std::string build = results::this_build().build_type;
  const std::string expected = "Rows come from 2 code versions: ubp " + version + ", commit 111111111111, " + build +
                               " build (4 runs); ubp " + version + ", commit abcdefabcdef, " + build +
                               " build (2 runs).";
  for (const char* name : {"accuracy", "selection"}) {
    EXPECT_TRUE(mentions(table_named(content, name).notes, expected)) << name;
  }
  write_report(store, options);
  const std::string markdown = read_bytes(dir.file("report/report.md"));
  EXPECT_NE(markdown.find(expected), std::string::npos) << markdown;
  EXPECT_NE(read_bytes(dir.file("report/tables/accuracy.tex")).find("% Rows come from 2 code versions"),
            std::string::npos);
}

TEST(CodeVersionNote, CountsRunsFromBeforeSchemaV3AsAVersionOfTheirOwn) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill(store);
  const std::string sql = "UPDATE runs SET ubp_version = NULL, git_commit = NULL, git_dirty = NULL, "
                          "build_type = NULL WHERE run_id = 'aligned0'";
  ASSERT_EQ(sqlite3_exec(store.raw_handle(), sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  const ReportContent content = build_report(store, ReportOptions{});
  EXPECT_TRUE(mentions(table_named(content, "accuracy").notes, "code not recorded (run before schema v3) (1 run)"));
}

TEST(RunsBehindATable, AreTheDoneRunsWithWhatTheTableShows) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  fill(store);
  const ReportContent content = build_report(store, ReportOptions{});
  EXPECT_EQ(runs_behind(table_named(content, "accuracy"), content.runs, "top1").size(), 6u);
  EXPECT_EQ(runs_behind(table_named(content, "accuracy"), content.runs, "top5").size(), 0u);
  EXPECT_EQ(runs_behind(table_named(content, "selection"), content.runs, "top1").size(), 6u);
  Table layers;
  layers.name = "layers-bed2";
  const auto one = runs_behind(layers, content.runs, "top1");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one.front()->row.run_id, "bed2");
}

}  // namespace
}  // namespace ubp::reports

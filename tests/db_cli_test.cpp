// `ubp db runs`, `ubp db show` and `ubp db rm` on real databases that `ubp run` wrote.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/ubp_fixture.h"
#include "ubp/results/store.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;

class DbCommands : public UbpTest {
 protected:
  // Two done selection runs (sparsity 0.5 and 0.9) and a failed one (MobileNetV1 has no k x k
  // layers to prune, found when the run runs).
  std::string populated_db() {
    const auto done = ubp({"run", sweep_config("a.yaml", "[0.5, 0.9]"), "--db", "r.db"});
    EXPECT_EQ(done.exit_code, 0) << done.err;
    const auto failing = work.write("f.yaml",
                                    "experiment: {kind: selection, name: broken}\n"
                                    "selection: {source: model, model: mobilenet_v1, layers: conv}\n");
    EXPECT_EQ(ubp({"run", failing, "--db", "r.db"}).exit_code, 1);
    return work.file("r.db");
  }

  std::string id_with_sparsity(const std::string& db, const std::string& sparsity) {
    const auto ids = query(db, "SELECT run_id FROM params WHERE key = 'prune.sparsity' AND value_json = '" +
                                   sparsity + "' AND run_id IN (SELECT run_id FROM runs WHERE status = 'done')");
    EXPECT_EQ(ids.size(), 1u);
    return ids.empty() ? "" : ids.front();
  }

  static std::string line_with(const std::string& text, const std::string& needle) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (contains(line, needle)) return line;
    }
    return "";
  }
};

TEST_F(DbCommands, RunsListsEachRunWithItsStatusKeyMetricsAndLabel) {
  const std::string db = populated_db();
  const std::string half = id_with_sparsity(db, "0.5");
  const auto all = ubp({"db", "runs", db});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_TRUE(contains(all.out, "run id")) << all.out;
  EXPECT_TRUE(contains(all.out, "sparsity")) << all.out;
  EXPECT_TRUE(contains(all.out, "retained_vs_optimal")) << all.out;
  const std::string half_line = line_with(all.out, half);
  EXPECT_TRUE(contains(half_line, "selection  done")) << half_line;
  EXPECT_TRUE(contains(half_line, "e2e ")) << half_line;  // experiment.name starts the label
  EXPECT_TRUE(contains(half_line, "prune.sparsity=0.5")) << half_line;
  const std::string failed_line = line_with(all.out, "failed");
  EXPECT_TRUE(contains(failed_line, "broken")) << failed_line;
  EXPECT_TRUE(contains(failed_line, "(error: ")) << failed_line;
  EXPECT_TRUE(contains(failed_line, "no prunable 'conv' layers")) << failed_line;
  EXPECT_TRUE(contains(all.out, "3 runs (database " + db + ")")) << all.out;

  // Among the done runs only the sparsity tells them apart, so that is the whole label.
  const auto done = ubp({"db", "runs", db, "--status", "done"});
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(line_count(done.out), 4u) << done.out;  // header, two runs, summary
  const std::string done_line = line_with(done.out, half);
  EXPECT_EQ(done_line.substr(done_line.size() - std::string("e2e prune.sparsity=0.5").size()), "e2e prune.sparsity=0.5")
      << done_line;
  EXPECT_TRUE(contains(done.out, "2 runs of 3 match")) << done.out;

  const auto where = ubp({"db", "runs", db, "--where", "prune.sparsity=0.90"});
  ASSERT_EQ(where.exit_code, 0) << where.err;
  EXPECT_TRUE(contains(where.out, id_with_sparsity(db, "0.9"))) << where.out;
  EXPECT_FALSE(contains(where.out, half)) << where.out;
  EXPECT_TRUE(contains(where.out, "1 run of 3 match")) << where.out;
}

TEST_F(DbCommands, RunsAsJsonHasEveryFinalMetric) {
  const std::string db = populated_db();
  const auto r = ubp({"db", "runs", db, "--json", "--status", "done", "--status", "failed"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto runs = nlohmann::json::parse(r.out);
  ASSERT_EQ(runs.size(), 3u);
  size_t done = 0;
  for (const auto& run : runs) {
    const std::string id = run["run_id"];
    EXPECT_EQ(run["status"], query(db, "SELECT status FROM runs WHERE run_id = '" + id + "'")[0]);
    if (run["status"] != "done") {
      EXPECT_TRUE(contains(run["error"].get<std::string>(), "no prunable 'conv' layers")) << run;
      continue;
    }
    ++done;
    const auto keys = query(db, "SELECT DISTINCT key FROM metrics WHERE run_id = '" + id + "'");
    EXPECT_EQ(run["metrics"].size(), keys.size()) << run;
    const double stored = std::stod(
        query(db, "SELECT value FROM metrics WHERE key = 'retained_vs_optimal' AND run_id = '" + id + "'")[0]);
    EXPECT_DOUBLE_EQ(run["metrics"]["retained_vs_optimal"].get<double>(), stored);
  }
  EXPECT_EQ(done, 2u);
}

TEST_F(DbCommands, RunsRefusesAnUnknownFilterKeyOrStatus) {
  const std::string db = populated_db();
  const auto key = ubp({"db", "runs", db, "--where", "model.arch=x"});
  EXPECT_EQ(key.exit_code, 2);
  EXPECT_TRUE(contains(key.err, "no run has the parameter 'model.arch'")) << key.err;
  const auto status = ubp({"db", "runs", db, "--status", "finished"});
  EXPECT_EQ(status.exit_code, 2);
  EXPECT_TRUE(contains(status.err, "finished")) << status.err;
  EXPECT_EQ(ubp({"db", "runs", "absent.db"}).exit_code, 2);
  EXPECT_FALSE(fs::exists(work.file("absent.db")));
}

TEST_F(DbCommands, ShowPrintsTheResolvedConfigMetricsAndLayersOfARunNamedByItsFirstDigits) {
  const std::string db = populated_db();
  const std::string id = id_with_sparsity(db, "0.9");
  const auto text = ubp({"db", "show", db, id.substr(0, 8)});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "run       " + id)) << text.out;
  EXPECT_TRUE(contains(text.out, "status    done (attempts: 1")) << text.out;
  EXPECT_TRUE(contains(text.out, "resolved config:\n{")) << text.out;
  EXPECT_TRUE(contains(text.out, "\"sparsity\": 0.9")) << text.out;
  EXPECT_TRUE(contains(text.out, "\"norm\": \"l1\"")) << "the defaults are filled in: " << text.out;
  EXPECT_TRUE(contains(text.out, "retained_vs_optimal")) << text.out;
  EXPECT_TRUE(contains(text.out, "layers (2):")) << text.out;
  EXPECT_TRUE(contains(text.out, "64x48  4x1    aligned")) << text.out;

  const auto json = ubp({"db", "show", db, id, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["config"], nlohmann::json::parse(query(db, "SELECT config_json FROM runs WHERE run_id = '" + id + "'")[0]));
  EXPECT_EQ(std::to_string(parsed["metrics"].size()),
            query(db, "SELECT count(*) FROM metrics WHERE run_id = '" + id + "'")[0]);
  EXPECT_EQ(std::to_string(parsed["layers"].size()),
            query(db, "SELECT count(*) FROM layers WHERE run_id = '" + id + "'")[0]);

  const auto unknown = ubp({"db", "show", db, "zzzz"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.err, "no run 'zzzz'")) << unknown.err;
}

TEST_F(DbCommands, ShowListsTheLatencyMeasurementsOfARunFailedOnesIncluded) {
  const std::string db = work.file("l.db");
  {
    auto store = results::Store::open(db);
    store.register_run("0123456789abcdef", "training", R"({"model":{"name":"mobilenet_v1"}})", {});
    results::RunResult result;
    result.metrics = {{"top1", 0, 71.5}, {"train.loss", 1, 2.5}, {"train.loss", 2, 1.25}};
    results::LatencyRecord ok;
    ok.model = "models/0123456789abcdef/unaligned.ubpm";
    ok.device = "local";
    ok.kernel = "unaligned";
    ok.p50_ms = 3.25;
    ok.p90_ms = 3.5;
    ok.cv = 0.02;
    ok.samples = 90;
    ok.detail_json = R"({"sessions":[]})";
    results::LatencyRecord failed = ok;
    failed.device = "pixel";
    failed.failed = true;
    failed.valid = false;
    failed.error = "adb: device 'R5CT' not found (3 attempts)";
    result.latency = {ok, failed};
    store.finish_done("0123456789abcdef", result);
  }
  const auto text = ubp({"db", "show", db, "0123"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "latency (2):")) << text.out;
  EXPECT_TRUE(contains(line_with(text.out, "pixel"), "failed: adb: device 'R5CT' not found")) << text.out;
  const std::string local = line_with(text.out, "  local");
  EXPECT_TRUE(contains(local, "unaligned")) << local;
  EXPECT_TRUE(contains(local, "3.25")) << local;
  EXPECT_TRUE(contains(local, "valid")) << local;
  EXPECT_TRUE(contains(text.out, "train.loss  2 steps  step 1: 2.5  step 2: 1.25")) << text.out;
  const auto json = nlohmann::json::parse(ubp({"db", "show", db, "0123", "--json"}).out);
  EXPECT_EQ(json["latency"][1]["status"], "failed");
  EXPECT_EQ(json["latency"][0]["detail"], nlohmann::json::parse(R"({"sessions":[]})"));
}

TEST_F(DbCommands, RmRemovesARunWithAllItsRowsAndTheNextRunRedoesIt) {
  const std::string db = populated_db();
  const std::string id = id_with_sparsity(db, "0.5");
  const auto removed = ubp({"db", "rm", db, id.substr(0, 10)});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_TRUE(contains(removed.out, "removed 1 run from " + db + ": " + id)) << removed.out;
  for (const char* table : {"runs", "params", "metrics", "layers", "latency"}) {
    EXPECT_EQ(query(db, std::string("SELECT count(*) FROM ") + table + " WHERE run_id = '" + id + "'"),
              std::vector<std::string>{"0"})
        << table;
  }
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs"), std::vector<std::string>{"2"});
  const auto again = ubp({"run", work.file("a.yaml"), "--db", db});
  EXPECT_TRUE(contains(again.out, "2 runs: 1 done now, 1 already done")) << again.out;
}

TEST_F(DbCommands, RmFailedRemovesEveryFailedRunAndNothingElse) {
  const std::string db = populated_db();
  const auto removed = ubp({"db", "rm", db, "--failed"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_TRUE(contains(removed.out, "removed 1 run from")) << removed.out;
  EXPECT_EQ(query(db, "SELECT status FROM runs"), (std::vector<std::string>{"done", "done"}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM params WHERE run_id NOT IN (SELECT run_id FROM runs)"),
            std::vector<std::string>{"0"});
  const auto none = ubp({"db", "rm", db, "--failed"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_TRUE(contains(none.out, "no failed runs")) << none.out;
}

TEST_F(DbCommands, RmRemovesNothingWhenOneIdIsWrongOrARunIsRunning) {
  const std::string db = populated_db();
  const auto dump = [&] { return query(db, "SELECT run_id || status FROM runs ORDER BY run_id"); };
  const auto before = dump();
  const auto typo = ubp({"db", "rm", db, id_with_sparsity(db, "0.5"), "feedface"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_TRUE(contains(typo.err, "no run 'feedface'")) << typo.err;
  EXPECT_EQ(dump(), before);
  EXPECT_EQ(ubp({"db", "rm", db}).exit_code, 2);  // neither ids nor --failed
  EXPECT_EQ(dump(), before);

  // The failed run, retried by a `ubp run` somewhere else right now.
  const std::string id = query(db, "SELECT run_id FROM runs WHERE status = 'failed'").at(0);
  results::Store::open(db).mark_running(id, "elsewhere");
  const auto running = ubp({"db", "rm", db, id});
  EXPECT_EQ(running.exit_code, 2);
  EXPECT_TRUE(contains(running.err, "is running")) << running.err;
  EXPECT_TRUE(contains(running.err, "--force")) << running.err;
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs"), std::vector<std::string>{"3"});
  ASSERT_EQ(ubp({"db", "rm", db, id, "--force"}).exit_code, 0);
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs WHERE run_id = '" + id + "'"), std::vector<std::string>{"0"});
}

}  // namespace
}  // namespace ubp::testing

// A run's lifecycle: pending -> running -> done or failed, and what each step records.
#include <cmath>
#include <limits>

#include "test_support.h"

namespace ubp::results::testing {
namespace {

class ARun : public StoreTest {};

TEST_F(ARun, GoesFromPendingToRunningToDoneWithTimestampsAndAttempts) {
  Store store = Store::open(db());
  EXPECT_EQ(store.register_run("r1", "train", R"({"seed":7})", sample_params()),
            RunStatus::kPending);
  RunRow row = store.find_run("r1").value();
  EXPECT_EQ(row.status, RunStatus::kPending);
  EXPECT_EQ(row.kind, "train");
  EXPECT_EQ(row.config_json, R"({"seed":7})");
  EXPECT_FALSE(row.created_at.empty());
  EXPECT_TRUE(row.started_at.empty());
  EXPECT_TRUE(row.finished_at.empty());
  EXPECT_EQ(row.attempts, 0);

  store.mark_running("r1", "node-3");
  row = store.find_run("r1").value();
  EXPECT_EQ(row.status, RunStatus::kRunning);
  EXPECT_EQ(row.host, "node-3");
  EXPECT_GE(row.started_at, row.created_at);
  EXPECT_TRUE(row.finished_at.empty());
  EXPECT_EQ(row.attempts, 1);

  store.finish_done("r1", sample_result());
  row = store.find_run("r1").value();
  EXPECT_EQ(row.status, RunStatus::kDone);
  EXPECT_GE(row.finished_at, row.started_at);
  EXPECT_EQ(row.attempts, 1);
  EXPECT_TRUE(row.error.empty());
  EXPECT_EQ(store.metrics_of("r1").size(), sample_result().metrics.size());
  EXPECT_EQ(store.layers_of("r1").size(), 2u);
  EXPECT_EQ(store.latency_of("r1").size(), 2u);
}

TEST_F(ARun, ThatFailedKeepsItsErrorTextAndCanBeRetried) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  store.mark_running("r1", "node-1");
  store.mark_failed("r1", "CUDA out of memory\nat step 12");
  RunRow row = store.find_run("r1").value();
  EXPECT_EQ(row.status, RunStatus::kFailed);
  EXPECT_EQ(row.error, "CUDA out of memory\nat step 12");
  EXPECT_FALSE(row.finished_at.empty());

  store.mark_running("r1", "node-2");
  row = store.find_run("r1").value();
  EXPECT_EQ(row.status, RunStatus::kRunning);
  EXPECT_EQ(row.attempts, 2);
  EXPECT_EQ(row.host, "node-2");
  EXPECT_TRUE(row.error.empty());
  EXPECT_TRUE(row.finished_at.empty());
}

TEST_F(ARun, ThatIsDoneTakesLatencyRowsMeasuredLaterAndKeepsTheOthers) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  LatencyRecord late = sample_result().latency.at(0);
  late.device = "pixel";
  late.samples = 90;
  // Not done yet: refused, nothing written.
  const std::string message = store_error_of([&] { store.add_latency("r1", {late}); });
  EXPECT_NE(message.find("the run is pending, not done"), std::string::npos) << message;
  EXPECT_EQ(count_rows(store, "latency"), 0);
  EXPECT_NE(store_error_of([&] { store.add_latency("ghost", {late}); }).find("ghost"), std::string::npos);

  store.mark_running("r1", "h");
  store.finish_done("r1", sample_result());
  store.add_latency("r1", {late});
  const std::vector<LatencyRecord> rows = store.latency_of("r1");
  ASSERT_EQ(rows.size(), 3u);  // the run's own two, then the late one
  EXPECT_EQ(rows[2].device, "pixel");
  EXPECT_EQ(rows[2].samples, 90);
  EXPECT_EQ(store.metrics_of("r1").size(), sample_result().metrics.size());
}

TEST_F(ARun, ThatIsDoneStaysDoneWhenRegisteredAgain) {
  Store store = Store::open(db());
  store.register_run("r1", "train", R"({"a":1})", sample_params());
  store.mark_running("r1", "h");
  store.finish_done("r1", sample_result());
  const RunRow before = store.find_run("r1").value();

  EXPECT_EQ(store.register_run("r1", "other-kind", R"({"a":2})", {Param{"x", "1", 1.0}}),
            RunStatus::kDone);
  const RunRow after = store.find_run("r1").value();
  EXPECT_EQ(after.status, RunStatus::kDone);
  EXPECT_EQ(after.kind, "train");
  EXPECT_EQ(after.config_json, R"({"a":1})");
  EXPECT_EQ(after.created_at, before.created_at);
  EXPECT_EQ(store.params_of("r1").size(), sample_params().size());
  EXPECT_EQ(store.metrics_of("r1").size(), sample_result().metrics.size());
}

TEST_F(ARun, ThatIsDoneIsNotMarkedRunningAgain) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  store.mark_running("r1", "h");
  store.finish_done("r1", sample_result());
  const std::string message = store_error_of([&] { store.mark_running("r1", "h"); });
  EXPECT_EQ(message.rfind(db() + ": cannot mark run 'r1' running: it is already done", 0), 0u)
      << message;
  EXPECT_EQ(store.find_run("r1")->status, RunStatus::kDone);
}

TEST_F(ARun, FinishedTwiceHasItsResultsReplacedNotDuplicated) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  store.mark_running("r1", "h");
  store.finish_done("r1", sample_result(5, "first"));
  store.finish_done("r1", sample_result(2, "second"));

  const std::vector<Metric> metrics = store.metrics_of("r1");
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_EQ(metrics[0].key, "loss/second");
  EXPECT_EQ(metrics[2].key, "top1");
  EXPECT_EQ(count_rows(store, "metrics"), 3);
  EXPECT_EQ(count_rows(store, "layers"), 2);
  EXPECT_EQ(count_rows(store, "latency"), 2);
  EXPECT_EQ(store.latency_of("r1").at(0).model, "mobilenet_v1_second.ubpm");
}

TEST_F(ARun, StoresItsParamsWithTheirNumericValues) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", sample_params());
  const std::vector<Param> params = store.params_of("r1");  // ordered by key
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].key, "prune.block");
  EXPECT_EQ(params[0].json_value, "[4,1]");
  EXPECT_FALSE(params[0].number.has_value());
  EXPECT_EQ(params[1].key, "prune.method");
  EXPECT_EQ(params[1].json_value, "\"ubp\"");
  EXPECT_EQ(params[2].key, "prune.sparsity");
  EXPECT_EQ(params[2].number, 0.8);
  EXPECT_EQ(params[3].key, "seed");
  EXPECT_EQ(params[3].number, 7.0);
  EXPECT_EQ(scalar(store, "SELECT typeof(value_num) FROM params WHERE key = 'seed'"), "real");
  EXPECT_EQ(scalar(store, "SELECT typeof(value_num) FROM params WHERE key = 'prune.block'"),
            "null");
  EXPECT_EQ(scalar(store, "SELECT run_id FROM params WHERE key = 'prune.sparsity' AND "
                          "value_num BETWEEN 0.79 AND 0.81"),
            "r1");
}

TEST_F(ARun, RegisteredWithDuplicateParamKeysIsNotRecordedAtAll) {
  Store store = Store::open(db());
  const std::string message = store_error_of([&] {
    store.register_run("r1", "train", "{}", {Param{"seed", "1", 1.0}, Param{"seed", "2", 2.0}});
  });
  EXPECT_EQ(message.rfind(db() + ": cannot register run 'r1': UNIQUE constraint failed", 0), 0u)
      << message;
  EXPECT_FALSE(store.find_run("r1").has_value());
  EXPECT_EQ(count_rows(store, "params"), 0);
}

TEST_F(ARun, KeepsItsLayersAndLatencyExactlyAndInWrittenOrder) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  const RunResult result = sample_result();
  store.finish_done("r1", result);

  const std::vector<LayerRecord> layers = store.layers_of("r1");
  ASSERT_EQ(layers.size(), 2u);
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerRecord& want = result.layers[i];
    const LayerRecord& got = layers[i];
    EXPECT_EQ(got.layer, want.layer);
    EXPECT_EQ(got.rows, want.rows);
    EXPECT_EQ(got.cols, want.cols);
    EXPECT_EQ(got.block_rows, want.block_rows);
    EXPECT_EQ(got.block_cols, want.block_cols);
    EXPECT_EQ(got.method, want.method);
    EXPECT_EQ(got.kept_blocks, want.kept_blocks);
    EXPECT_EQ(got.sparsity, want.sparsity);
    EXPECT_EQ(got.retained_importance, want.retained_importance);
    EXPECT_EQ(got.total_importance, want.total_importance);
    EXPECT_EQ(got.selection_seconds, want.selection_seconds);
  }
  EXPECT_EQ(layers[0].layer, "pw13");  // not sorted by name

  const LatencyRecord& want = result.latency.at(0);
  const LatencyRecord got = store.latency_of("r1").at(0);
  EXPECT_EQ(got.model, want.model);
  EXPECT_EQ(got.device, want.device);
  EXPECT_EQ(got.kernel, want.kernel);
  EXPECT_EQ(got.threads, want.threads);
  EXPECT_EQ(got.p50_ms, want.p50_ms);
  EXPECT_EQ(got.p90_ms, want.p90_ms);
  EXPECT_EQ(got.p99_ms, want.p99_ms);
  EXPECT_EQ(got.min_ms, want.min_ms);
  EXPECT_EQ(got.mean_ms, want.mean_ms);
  EXPECT_EQ(got.valid, want.valid);
  EXPECT_EQ(got.detail_json, want.detail_json);
  EXPECT_EQ(got.cv, want.cv);
  EXPECT_EQ(got.samples, want.samples);
  EXPECT_EQ(got.sessions, want.sessions);
  EXPECT_FALSE(got.failed);
  EXPECT_EQ(got.error, "");
  EXPECT_FALSE(scalar(store, "SELECT recorded_at FROM latency").empty());

  const LatencyRecord failed = store.latency_of("r1").at(1);
  EXPECT_TRUE(failed.failed);
  EXPECT_FALSE(failed.valid);
  EXPECT_EQ(failed.error, result.latency.at(1).error);
  EXPECT_EQ(scalar(store, "SELECT status FROM latency WHERE device = 'pixel'"), "failed");
}

TEST_F(ARun, KeepsNotANumberAndInfiniteMetricValues) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  RunResult result;
  result.metrics = {Metric{"loss", 1, std::numeric_limits<double>::quiet_NaN()},
                    Metric{"loss", 2, std::numeric_limits<double>::infinity()},
                    Metric{"loss", 3, -0.5}};
  store.finish_done("r1", result);
  const std::vector<Metric> metrics = store.metrics_of("r1");
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_TRUE(std::isnan(metrics[0].value));
  EXPECT_TRUE(std::isinf(metrics[1].value));
  EXPECT_EQ(metrics[2].value, -0.5);
  EXPECT_EQ(metrics[2].step, 3);
}

TEST_F(ARun, ThatWasNeverRegisteredCannotBeMarkedOrFinished) {
  Store store = Store::open(db());
  for (const auto& [write, what] :
       std::vector<std::pair<std::function<void()>, std::string>>{
           {[&] { store.mark_running("ghost", "h"); }, "cannot mark run 'ghost' running"},
           {[&] { store.finish_done("ghost", sample_result()); },
            "cannot record the results of run 'ghost'"},
           {[&] { store.mark_failed("ghost", "x"); }, "cannot mark run 'ghost' failed"}}) {
    const std::string message = store_error_of(write);
    EXPECT_EQ(message, db() + ": " + what + ": no run 'ghost' in the database; register it first");
  }
  EXPECT_EQ(count_rows(store, "runs"), 0);
  EXPECT_EQ(count_rows(store, "metrics"), 0);
}

TEST_F(ARun, WithAnEmptyIdIsRefused) {
  Store store = Store::open(db());
  const std::string message = store_error_of([&] { store.register_run("", "train", "{}", {}); });
  EXPECT_NE(message.find("the run id is empty"), std::string::npos) << message;
}

TEST_F(ARun, ListIsOrderedByCreationTimeThenId) {
  Store store = Store::open(db());
  store.register_run("b", "train", "{}", {});
  store.register_run("a", "train", "{}", {});
  exec(store, "UPDATE runs SET created_at = '2026-01-01T00:00:00.000Z' WHERE run_id = 'b'");
  exec(store, "UPDATE runs SET created_at = '2026-01-02T00:00:00.000Z' WHERE run_id = 'a'");
  store.register_run("c", "select", "{}", {});
  exec(store, "UPDATE runs SET created_at = '2026-01-02T00:00:00.000Z' WHERE run_id = 'c'");
  std::vector<std::string> ids;
  for (const RunRow& row : store.list_runs()) ids.push_back(row.run_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_FALSE(store.find_run("zzz").has_value());
  EXPECT_TRUE(store.metrics_of("zzz").empty());
}

TEST_F(ARun, WrittenThroughOneConnectionIsSeenThroughAnother) {
  Store first = Store::open(db());
  Store second = Store::open(db());
  first.register_run("r1", "train", "{}", {});
  second.mark_running("r1", "h2");
  first.finish_done("r1", sample_result());
  EXPECT_EQ(second.find_run("r1")->status, RunStatus::kDone);
  EXPECT_EQ(second.find_run("r1")->host, "h2");
}

}  // namespace
}  // namespace ubp::results::testing

// Merging shard databases: each run once, in its most advanced state, idempotently.
#include <algorithm>

#include "test_support.h"

namespace ubp::results::testing {
namespace {

class MergingShards : public StoreTest {
 protected:
  static void set_finished_at(const Store& store, const std::string& run_id,
                              const std::string& when) {
    exec(store, "UPDATE runs SET finished_at = '" + when + "' WHERE run_id = '" + run_id + "'");
  }

  static void add_run(Store& store, const std::string& run_id, RunStatus status,
                      const std::string& tag, int metric_count = 3) {
    store.register_run(run_id, "train", R"({"tag":")" + tag + "\"}",
                       {Param{"tag", "\"" + tag + "\"", std::nullopt}, Param{"seed", "1", 1.0}});
    if (status == RunStatus::kPending) return;
    store.mark_running(run_id, "host-" + tag);
    if (status == RunStatus::kDone) store.finish_done(run_id, sample_result(metric_count, tag));
    if (status == RunStatus::kFailed) store.mark_failed(run_id, "failed in " + tag);
  }

  // destination:  A pending, B done (early), C running, D failed, F done (late)
  // source:       A done,    B done (late),  C pending, D running, E done, F done (early)
  void make_shards() {
    Store here = Store::open(db("dest.db"));
    add_run(here, "A", RunStatus::kPending, "dest");
    add_run(here, "B", RunStatus::kDone, "dest", 4);
    add_run(here, "C", RunStatus::kRunning, "dest");
    add_run(here, "D", RunStatus::kFailed, "dest");
    add_run(here, "F", RunStatus::kDone, "dest", 6);
    set_finished_at(here, "B", "2026-01-01T00:00:00.000Z");
    set_finished_at(here, "F", "2026-03-01T00:00:00.000Z");

    Store source = Store::open(db("source.db"));
    add_run(source, "A", RunStatus::kDone, "source", 5);
    add_run(source, "B", RunStatus::kDone, "source", 7);
    add_run(source, "C", RunStatus::kPending, "source");
    add_run(source, "D", RunStatus::kRunning, "source");
    add_run(source, "E", RunStatus::kDone, "source", 2);
    add_run(source, "F", RunStatus::kDone, "source", 9);
    set_finished_at(source, "B", "2026-02-01T00:00:00.000Z");
    set_finished_at(source, "F", "2026-02-01T00:00:00.000Z");
  }
};

TEST_F(MergingShards, KeepsEachRunOnceInItsMostAdvancedState) {
  make_shards();
  const std::string source_before = read_bytes(db("source.db"));
  Store here = Store::open(db("dest.db"));
  EXPECT_EQ(here.merge_from(db("source.db")), 3);  // A and B replaced, E copied

  std::vector<std::string> summary;
  for (const RunRow& run : here.list_runs()) {
    summary.push_back(run.run_id + ":" + to_string(run.status) + ":" + run.host);
  }
  std::sort(summary.begin(), summary.end());
  EXPECT_EQ(summary, (std::vector<std::string>{
                         "A:done:host-source", "B:done:host-source", "C:running:host-dest",
                         "D:failed:host-dest", "E:done:host-source", "F:done:host-dest"}));

  EXPECT_EQ(here.metrics_of("A").size(), 6u);  // 5 losses + top1, from the source
  EXPECT_EQ(here.metrics_of("B").size(), 8u);
  EXPECT_EQ(here.metrics_of("B").at(0).key, "loss/source");
  EXPECT_EQ(here.metrics_of("E").size(), 3u);
  EXPECT_EQ(here.metrics_of("F").size(), 7u);  // kept: the destination's copy finished later
  EXPECT_EQ(here.find_run("B")->finished_at, "2026-02-01T00:00:00.000Z");
  EXPECT_EQ(here.find_run("D")->error, "failed in dest");
  EXPECT_EQ(here.params_of("A").at(1).json_value, "\"source\"");  // ordered: seed, tag
  EXPECT_EQ(here.layers_of("E").at(0).layer, "pw13");  // written order survives the copy

  EXPECT_EQ(count_rows(here, "runs"), 6);
  EXPECT_EQ(count_rows(here, "params"), 12);
  EXPECT_EQ(count_rows(here, "metrics"), 6 + 8 + 3 + 7);
  EXPECT_EQ(count_rows(here, "layers"), 4 * 2);
  EXPECT_EQ(count_rows(here, "latency"), 4 * 2);  // two rows per done run
  EXPECT_EQ(count_rows(here, "latency", "model LIKE '%source%'"), 3 * 2);
  EXPECT_EQ(count_rows(here, "latency", "status = 'failed' AND error LIKE 'adb: %'"), 4);
  EXPECT_TRUE(column(here, "PRAGMA foreign_key_check").empty()) << "no orphan rows";
  EXPECT_EQ(read_bytes(db("source.db")), source_before);
}

TEST_F(MergingShards, TwiceWithTheSameSourceChangesNothingTheSecondTime) {
  make_shards();
  Store here = Store::open(db("dest.db"));
  EXPECT_EQ(here.merge_from(db("source.db")), 3);
  const std::string after_first = dump(here);
  EXPECT_EQ(here.merge_from(db("source.db")), 0);
  EXPECT_EQ(dump(here), after_first);
}

TEST_F(MergingShards, IntoAnEmptyDatabaseCopiesEveryRun) {
  make_shards();
  Store empty = Store::open(db("empty.db"));
  EXPECT_EQ(empty.merge_from(db("source.db")), 6);
  Store source = Store::open(db("source.db"), OpenMode::kReadOnly);
  for (const char* table : {"runs", "params", "metrics", "layers", "latency"}) {
    EXPECT_EQ(count_rows(empty, table), count_rows(source, table)) << table;
  }
}

TEST_F(MergingShards, FromAFileThatIsNotSQLiteFailsClearlyAndChangesNothing) {
  make_shards();
  write_bytes(db("notes.txt"), std::string(2000, 'n'));
  Store here = Store::open(db("dest.db"));
  const std::string before = dump(here);
  const std::string message = store_error_of([&] { here.merge_from(db("notes.txt")); });
  EXPECT_EQ(message, db("dest.db") + ": cannot merge " + db("notes.txt") + " into it: " +
                         db("notes.txt") +
                         ": not a SQLite database (file is damaged or of another kind); check "
                         "the path, or move the file aside to start a new database");
  EXPECT_EQ(dump(here), before);
  EXPECT_EQ(read_bytes(db("notes.txt")), std::string(2000, 'n'));
}

TEST_F(MergingShards, FromAMissingFileFailsAndDoesNotCreateIt) {
  Store here = Store::open(db("dest.db"));
  const std::string message = store_error_of([&] { here.merge_from(db("missing.db")); });
  EXPECT_NE(message.find(db("missing.db") + ": no such database"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(db("missing.db")));
}

TEST_F(MergingShards, FromANewerSchemaIsRefused) {
  make_shards();
  {
    Store source = Store::open(db("source.db"));
    exec(source, "PRAGMA user_version = " + std::to_string(Store::kSchemaVersion + 1));
  }
  Store here = Store::open(db("dest.db"));
  const std::string before = dump(here);
  const std::string message = store_error_of([&] { here.merge_from(db("source.db")); });
  EXPECT_NE(message.find("is newer than this ubp supports"), std::string::npos) << message;
  EXPECT_EQ(dump(here), before);
}

TEST_F(MergingShards, FromASchemaV1ShardFillsTheNewLatencyColumnsWithDefaults) {
  {
    Store source = Store::open(db("old.db"));
    add_run(source, "G", RunStatus::kDone, "old");
    downgrade_to_schema_v1(source);
    exec(source,
         "INSERT INTO latency(run_id, model, device, kernel, threads, p50_ms, valid, recorded_at) "
         "VALUES('G', 'm.ubpm', 'host', 'dense', 1, 4.0, 1, '2026-01-01T00:00:00.000Z')");
  }
  Store here = Store::open(db("dest.db"));
  EXPECT_EQ(here.merge_from(db("old.db")), 1);
  const std::vector<LatencyRecord> rows = here.latency_of("G");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].p50_ms, 4.0);
  EXPECT_FALSE(rows[0].failed);
  EXPECT_EQ(rows[0].sessions, 0);
  Store old = Store::open(db("old.db"), OpenMode::kReadOnly);
  EXPECT_EQ(old.schema_version(), 1);  // the source was only read
}

TEST_F(MergingShards, IntoItselfIsRefused) {
  make_shards();
  Store here = Store::open(db("dest.db"));
  const std::string before = dump(here);
  const std::string message = store_error_of([&] { here.merge_from(db("dest.db")); });
  EXPECT_NE(message.find("it is the same database"), std::string::npos) << message;
  EXPECT_EQ(dump(here), before);
}

TEST_F(MergingShards, StoppedByAFullDiskLeavesTheDestinationUnchanged) {
  {
    Store source = Store::open(db("source.db"));
    for (int i = 0; i < 20; ++i) {
      const std::string id = "big" + std::to_string(i);
      source.register_run(id, "train", "{}", {});
      source.finish_done(id, sample_result(5000, id));
    }
  }
  make_shards();
  Store here = Store::open(db("dest.db"));
  const std::string before = dump(here);
  const int64_t pages = std::stoll(scalar(here, "PRAGMA page_count"));
  exec(here, "PRAGMA max_page_count = " + std::to_string(pages + 4));
  const std::string message = store_error_of([&] { here.merge_from(db("source.db")); });
  EXPECT_NE(message.find("full"), std::string::npos) << message;
  EXPECT_EQ(dump(here), before);
  EXPECT_EQ(scalar(here, "PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace ubp::results::testing

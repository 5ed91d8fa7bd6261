// StoreInfo: the summary `ubp db info` prints.
#include "test_support.h"

namespace ubp::results::testing {
namespace {

class TheSummary : public StoreTest {};

TEST_F(TheSummary, OfAnEmptyDatabaseHasZeroCountsAndNoTimestamps) {
  Store store = Store::open(db());
  const StoreInfo info = store.info();
  EXPECT_EQ(info.path, db());
  EXPECT_EQ(info.schema_version, Store::kSchemaVersion);
  EXPECT_EQ(info.runs_pending + info.runs_running + info.runs_done + info.runs_failed, 0);
  EXPECT_TRUE(info.runs_by_kind.empty());
  EXPECT_EQ(info.metric_rows + info.layer_rows + info.latency_rows + info.param_rows, 0);
  EXPECT_TRUE(info.first_created_at.empty());
  EXPECT_TRUE(info.last_finished_at.empty());
  EXPECT_GT(info.file_bytes, 0);
}

TEST_F(TheSummary, CountsRunsByStatusAndKindAndTheRowsOfEachTable) {
  Store store = Store::open(db());
  store.register_run("p1", "train", "{}", sample_params());
  store.register_run("p2", "select", "{}", {});
  store.register_run("r1", "train", "{}", {});
  store.mark_running("r1", "h");
  store.register_run("d1", "train", "{}", {Param{"seed", "1", 1.0}});
  store.finish_done("d1", sample_result(3));
  store.register_run("d2", "latency", "{}", {});
  store.finish_done("d2", sample_result(1));
  store.register_run("f1", "select", "{}", {});
  store.mark_failed("f1", "bad matrix");
  exec(store, "UPDATE runs SET created_at = '2020-05-05T00:00:00.000Z' WHERE run_id = 'p2'");
  exec(store, "UPDATE runs SET finished_at = '2099-01-01T00:00:00.000Z' WHERE run_id = 'd2'");

  const StoreInfo info = store.info();
  EXPECT_EQ(info.runs_pending, 2);
  EXPECT_EQ(info.runs_running, 1);
  EXPECT_EQ(info.runs_done, 2);
  EXPECT_EQ(info.runs_failed, 1);
  EXPECT_EQ(info.runs_by_kind,
            (std::vector<std::pair<std::string, int64_t>>{
                {"latency", 1}, {"select", 2}, {"train", 3}}));
  EXPECT_EQ(info.param_rows, 5);
  EXPECT_EQ(info.metric_rows, 4 + 2);
  EXPECT_EQ(info.layer_rows, 4);
  EXPECT_EQ(info.latency_rows, 2 * 2);
  EXPECT_EQ(info.first_created_at, "2020-05-05T00:00:00.000Z");
  EXPECT_EQ(info.last_finished_at, "2099-01-01T00:00:00.000Z");
  EXPECT_EQ(info.file_bytes, std::stoll(scalar(store, "PRAGMA page_count")) *
                                 std::stoll(scalar(store, "PRAGMA page_size")));
}

TEST_F(TheSummary, IsAvailableOnAReadOnlyStore) {
  {
    Store store = Store::open(db());
    store.register_run("d1", "train", "{}", {});
    store.finish_done("d1", sample_result(2));
  }
  const StoreInfo info = Store::open(db(), OpenMode::kReadOnly).info();
  EXPECT_EQ(info.runs_done, 1);
  EXPECT_EQ(info.metric_rows, 3);
  EXPECT_FALSE(info.last_finished_at.empty());
}

}  // namespace
}  // namespace ubp::results::testing

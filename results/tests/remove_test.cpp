// Removing runs (`ubp db rm`) and finding a run by the first digits of its id (`ubp db show`).
#include "test_support.h"

namespace ubp::results::testing {
namespace {

class RemovingRuns : public StoreTest {
 protected:
  // Three done runs with every kind of row, one failed, one running, one pending.
  Store populated() {
    Store store = Store::open(db());
    for (const char* id : {"aaaa1111", "aaaa2222", "bbbb3333"}) {
      store.register_run(id, "training", "{}", sample_params());
      store.finish_done(id, sample_result(2, id));
    }
    store.register_run("ffff4444", "training", "{}", sample_params());
    store.mark_running("ffff4444", "h");
    store.mark_failed("ffff4444", "boom");
    store.register_run("rrrr5555", "training", "{}", sample_params());
    store.mark_running("rrrr5555", "h");
    store.register_run("pppp6666", "selection", "{}", {});
    return store;
  }
};

TEST_F(RemovingRuns, DeletesTheRunsAndEveryRowOfThemAndNothingElse) {
  Store store = populated();
  const RemovedRuns removed = store.remove_runs({"aaaa2222", "ffff4444"});
  EXPECT_EQ(removed.run_ids, (std::vector<std::string>{"aaaa2222", "ffff4444"}));
  EXPECT_EQ(removed.params, 2 * 4);
  EXPECT_EQ(removed.metrics, 3);  // sample_result(2): two steps and top1
  EXPECT_EQ(removed.layers, 2);
  EXPECT_EQ(removed.latency, 2);
  EXPECT_FALSE(store.find_run("aaaa2222"));
  EXPECT_FALSE(store.find_run("ffff4444"));
  for (const char* table : {"params", "metrics", "layers", "latency"}) {
    EXPECT_EQ(count_rows(store, table, "run_id IN ('aaaa2222', 'ffff4444')"), 0) << table;
  }
  EXPECT_EQ(count_rows(store, "runs"), 4);
  EXPECT_EQ(store.metrics_of("aaaa1111").size(), 3u);
  EXPECT_EQ(store.latency_of("bbbb3333").size(), 2u);
}

TEST_F(RemovingRuns, WithAnUnknownIdRemovesNothingAndNamesTheId) {
  Store store = populated();
  const std::string before = dump(store);
  const std::string message = store_error_of([&] { store.remove_runs({"aaaa1111", "nope"}); });
  EXPECT_NE(message.find("no run 'nope'"), std::string::npos) << message;
  EXPECT_NE(message.find("nothing was removed"), std::string::npos) << message;
  EXPECT_EQ(dump(store), before);
}

TEST_F(RemovingRuns, RefusesARepeatedId) {
  Store store = populated();
  const std::string before = dump(store);
  const std::string message = store_error_of([&] { store.remove_runs({"aaaa1111", "aaaa1111"}); });
  EXPECT_NE(message.find("named twice"), std::string::npos) << message;
  EXPECT_EQ(dump(store), before);
}

TEST_F(RemovingRuns, RefusesARunningRunUnlessAskedTo) {
  Store store = populated();
  const std::string message = store_error_of([&] { store.remove_runs({"rrrr5555"}); });
  EXPECT_NE(message.find("is running"), std::string::npos) << message;
  EXPECT_TRUE(store.find_run("rrrr5555"));
  EXPECT_EQ(store.remove_runs({"rrrr5555"}, /*allow_running=*/true).run_ids.size(), 1u);
  EXPECT_FALSE(store.find_run("rrrr5555"));
}

TEST_F(RemovingRuns, ByStatusRemovesExactlyTheRunsWithThatStatus) {
  Store store = populated();
  const RemovedRuns removed = store.remove_runs_with_status(RunStatus::kFailed);
  EXPECT_EQ(removed.run_ids, std::vector<std::string>{"ffff4444"});
  EXPECT_EQ(removed.params, 4);
  EXPECT_EQ(count_rows(store, "runs", "status = 'failed'"), 0);
  EXPECT_EQ(count_rows(store, "runs"), 5);
  EXPECT_TRUE(store.remove_runs_with_status(RunStatus::kFailed).run_ids.empty());
}

TEST_F(RemovingRuns, IsOneTransactionSoAFailureHalfwayLeavesEveryRun) {
  Store store = populated();
  const std::string before = dump(store);
  // A trigger that fails on the second run's deletion: the first must come back too.
  exec(store,
       "CREATE TRIGGER refuse_bbbb BEFORE DELETE ON runs WHEN old.run_id = 'bbbb3333' "
       "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
  const std::string message = store_error_of([&] { store.remove_runs({"aaaa1111", "bbbb3333"}); });
  EXPECT_NE(message.find("refused by the test"), std::string::npos) << message;
  exec(store, "DROP TRIGGER refuse_bbbb");
  EXPECT_EQ(dump(store), before);
}

TEST_F(RemovingRuns, IsRefusedOnAReadOnlyStore) {
  populated();
  Store store = Store::open(db(), OpenMode::kReadOnly);
  const std::string message = store_error_of([&] { store.remove_runs({"aaaa1111"}); });
  EXPECT_NE(message.find("read-only"), std::string::npos) << message;
  EXPECT_TRUE(store.find_run("aaaa1111"));
}

TEST_F(RemovingRuns, SurvivesReopeningTheFile) {
  populated().remove_runs({"bbbb3333"});
  const Store reopened = Store::open(db(), OpenMode::kReadOnly);
  EXPECT_FALSE(reopened.find_run("bbbb3333"));
  EXPECT_EQ(count_rows(reopened, "metrics", "run_id = 'bbbb3333'"), 0);
}

class ResolvingARunId : public RemovingRuns {};

TEST_F(ResolvingARunId, AcceptsAWholeIdOrAUniquePrefix) {
  const Store store = populated();
  EXPECT_EQ(store.resolve_run_id("aaaa1111"), "aaaa1111");
  EXPECT_EQ(store.resolve_run_id("bb"), "bbbb3333");
  EXPECT_EQ(store.resolve_run_id("aaaa2"), "aaaa2222");
}

TEST_F(ResolvingARunId, ListsTheCandidatesOfAnAmbiguousPrefix) {
  const Store store = populated();
  const std::string message = store_error_of([&] { store.resolve_run_id("aaaa"); });
  EXPECT_NE(message.find("matches 2 runs (aaaa1111, aaaa2222)"), std::string::npos) << message;
}

TEST_F(ResolvingARunId, RefusesAnUnknownOrEmptyId) {
  const Store store = populated();
  EXPECT_NE(store_error_of([&] { store.resolve_run_id("zz"); }).find("no run 'zz'"), std::string::npos);
  EXPECT_NE(store_error_of([&] { store.resolve_run_id(""); }).find("empty run id"), std::string::npos);
  // A prefix is compared as text: '%' and '_' are not wildcards.
  EXPECT_NE(store_error_of([&] { store.resolve_run_id("a%"); }).find("no run 'a%'"), std::string::npos);
}

}  // namespace
}  // namespace ubp::results::testing

// Writes that belong together land together or not at all: a full disk, a constraint error or
// a killed process leave the previous state and an intact database.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.h"

namespace ubp::results::testing {
namespace {

class AnInterruptedWrite : public StoreTest {};

RunResult large_result(int metric_count) {
  RunResult result;
  result.metrics.reserve(static_cast<size_t>(metric_count));
  for (int i = 0; i < metric_count; ++i) {
    result.metrics.push_back(Metric{"train/loss_per_iteration", i, 1.0 / (i + 1)});
  }
  return result;
}

// Lets the database grow only a few pages beyond its current size.
void simulate_full_disk(const Store& store) {
  const int64_t pages = std::stoll(scalar(store, "PRAGMA page_count"));
  exec(store, "PRAGMA max_page_count = " + std::to_string(pages + 2));
}

TEST_F(AnInterruptedWrite, ByAFullDiskLeavesTheRunRunningWithNoPartialMetrics) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", sample_params());
  store.mark_running("r1", "h");
  simulate_full_disk(store);

  const std::string message = store_error_of([&] { store.finish_done("r1", large_result(100000)); });
  EXPECT_EQ(message.rfind(db() + ": cannot record the results of run 'r1': ", 0), 0u) << message;
  EXPECT_NE(message.find("full"), std::string::npos) << message;

  EXPECT_EQ(store.find_run("r1")->status, RunStatus::kRunning);
  EXPECT_TRUE(store.find_run("r1")->finished_at.empty());
  EXPECT_EQ(count_rows(store, "metrics"), 0);
  EXPECT_EQ(store.params_of("r1").size(), sample_params().size());
  EXPECT_EQ(scalar(store, "PRAGMA integrity_check"), "ok");

  // The store stays usable once there is room again, and a fresh connection agrees.
  exec(store, "PRAGMA max_page_count = 1073741823");
  store.finish_done("r1", large_result(1000));
  Store reopened = Store::open(db());
  EXPECT_EQ(reopened.find_run("r1")->status, RunStatus::kDone);
  EXPECT_EQ(count_rows(reopened, "metrics"), 1000);
}

TEST_F(AnInterruptedWrite, ByAFullDiskKeepsTheEarlierResultsOfARunFinishedAgain) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  store.finish_done("r1", sample_result(3, "kept"));
  const std::string finished_at = store.find_run("r1")->finished_at;
  simulate_full_disk(store);

  EXPECT_THROW(store.finish_done("r1", large_result(100000)), StoreError);
  EXPECT_EQ(store.find_run("r1")->finished_at, finished_at);
  EXPECT_EQ(store.metrics_of("r1").size(), sample_result(3).metrics.size());
  EXPECT_EQ(store.metrics_of("r1").at(0).key, "loss/kept");
  EXPECT_EQ(store.layers_of("r1").size(), 2u);
  EXPECT_EQ(scalar(store, "PRAGMA integrity_check"), "ok");
}

TEST_F(AnInterruptedWrite, ByADuplicateLayerRollsBackTheWholeFinish) {
  Store store = Store::open(db());
  store.register_run("r1", "train", "{}", {});
  store.mark_running("r1", "h");
  RunResult result = sample_result();
  result.layers.push_back(result.layers.front());
  const std::string message = store_error_of([&] { store.finish_done("r1", result); });
  EXPECT_NE(message.find("UNIQUE constraint failed: layers"), std::string::npos) << message;
  EXPECT_EQ(store.find_run("r1")->status, RunStatus::kRunning);
  EXPECT_EQ(count_rows(store, "metrics"), 0);
  EXPECT_EQ(count_rows(store, "layers"), 0);
  EXPECT_EQ(count_rows(store, "latency"), 0);
}

// The child process is killed (SIGKILL) from inside SQLite's VM, halfway through inserting
// the metrics, so the transaction is cut off exactly as a crash would cut it.
TEST_F(AnInterruptedWrite, ByAKilledProcessLeavesTheRunRunningAndTheDatabaseIntact) {
  {
    Store store = Store::open(db());
    store.register_run("r1", "train", "{}", {});
    store.mark_running("r1", "h");
  }
  const pid_t child = fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    try {
      Store store = Store::open(db());
      exec(store, "PRAGMA cache_size = 8");  // spill uncommitted pages into the WAL early
      static int progress_calls = 0;
      sqlite3_progress_handler(
          store.raw_handle(), 1000,
          [](void*) -> int {
            if (++progress_calls == 500) ::kill(::getpid(), SIGKILL);
            return 0;
          },
          nullptr);
      store.finish_done("r1", large_result(100000));
    } catch (...) {
    }
    ::_exit(3);  // only reached if the kill did not happen
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child was not killed mid-write";
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(fs::exists(db() + "-wal"));  // the killed writer left its WAL behind

  Store store = Store::open(db());
  EXPECT_EQ(store.find_run("r1")->status, RunStatus::kRunning);
  EXPECT_EQ(count_rows(store, "metrics"), 0);
  EXPECT_EQ(scalar(store, "PRAGMA integrity_check"), "ok");
  store.finish_done("r1", large_result(10));
  EXPECT_EQ(count_rows(store, "metrics"), 10);
}

}  // namespace
}  // namespace ubp::results::testing

// A sweep killed with SIGKILL at any point leaves a sound database that keeps every finished
// run, and the next `ubp run` finishes the sweep with each run recorded exactly once.
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "support/ubp_fixture.h"

namespace ubp::testing {
namespace {

using KillAndResume = UbpTest;

std::set<std::string> as_set(const std::vector<std::string>& rows) { return {rows.begin(), rows.end()}; }

TEST_F(KillAndResume, ASweepKilledAtRandomPointsFinishesOnTheNextRunWithEveryRunOnce) {
  // 24 runs of some 50 ms each, so kills land before, between and inside runs.
  const auto cfg = work.write("k.yaml",
                              "experiment: {kind: selection}\n"
                              "selection: {rows: 512, cols: 512, matrices: 4}\n"
                              "sweep:\n  experiment.seed: [0, 1, 2, 3, 4, 5]\n"
                              "  prune.sparsity: [0.5, 0.7, 0.8, 0.9]\n");
  const auto db = work.file("k.db");
  // What one uninterrupted run records, to check that every run done after a kill is whole.
  const auto reference = run_process({UBP_BIN, "run", cfg, "--db", work.file("ref.db"), "--quiet",
                                      "experiment.seed=0", "prune.sparsity=0.5"},
                                     work.path().string());
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  const auto metrics_per_run = query(work.file("ref.db"), "SELECT count(*) FROM metrics");
  ASSERT_GE(std::stoi(metrics_per_run.at(0)), 5);
  std::mt19937 rng(20261128);
  std::uniform_int_distribution<int> delay_ms(5, 150);
  std::set<std::string> done_before;
  int kills = 0;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const pid_t pid = spawn({UBP_BIN, "run", cfg, "--db", db, "--quiet"}, work.path().string(),
                            work.file("out.txt"), work.file("err.txt"));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    const int code = wait_exit_code(pid);
    if (code == -SIGKILL) ++kills;
    if (!std::filesystem::exists(db)) continue;
    EXPECT_EQ(query(db, "PRAGMA integrity_check"), std::vector<std::string>{"ok"}) << "after kill " << attempt;
    const auto done_now = as_set(query(db, "SELECT run_id FROM runs WHERE status='done'"));
    for (const auto& id : done_before) EXPECT_TRUE(done_now.count(id)) << "run " << id << " was lost";
    // A done run has all of its rows: the end of a run is one transaction.
    for (const auto& id : done_now) {
      EXPECT_EQ(query(db, "SELECT count(*) FROM layers WHERE run_id='" + id + "'"), std::vector<std::string>{"4"});
      EXPECT_EQ(query(db, "SELECT count(*) FROM metrics WHERE run_id='" + id + "'"), metrics_per_run);
    }
    done_before = done_now;
  }
  EXPECT_GE(kills, 6) << "most attempts should have been killed mid-sweep";

  const auto finish = run_process({UBP_BIN, "run", cfg, "--db", db}, work.path().string());
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  EXPECT_TRUE(contains(finish.out, "24 runs:")) << finish.out;
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs"), std::vector<std::string>{"24"});
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs WHERE status='done'"), std::vector<std::string>{"24"});
  EXPECT_EQ(query(db, "SELECT count(*) FROM layers"), std::vector<std::string>{"96"});
  EXPECT_EQ(query(db, "SELECT count(*) FROM (SELECT run_id, layer FROM layers GROUP BY run_id, layer HAVING count(*) > 1)"),
            std::vector<std::string>{"0"});
  EXPECT_EQ(query(db, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});

  const auto again = run_process({UBP_BIN, "run", cfg, "--db", db}, work.path().string());
  EXPECT_TRUE(contains(again.out, "0 done now, 24 already done")) << again.out;
}

}  // namespace
}  // namespace ubp::testing

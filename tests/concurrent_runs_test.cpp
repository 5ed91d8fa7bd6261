// Several `ubp run` workers on one database: real processes, one real SQLite file. Each run is
// claimed by one worker under a lease; a worker that dies has its run taken over; a worker on
// another machine (simulated with UBP_HOSTNAME) gives a run up only when its heartbeat is stale.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>

#include "support/ubp_fixture.h"
#include "support/wait.h"

namespace ubp::testing {
namespace {

using namespace std::chrono_literals;

struct Worker {
  pid_t pid = -1;
  std::string out, err;  // files
};

class ConcurrentRunners : public UbpTest {
 protected:
  std::string db = work.file("shared.db");

  // `ubp run` of configs/sweeps/selection-quickstart.yaml (or `config`) on the shared database
  // as a worker on `host`; `args`: overrides (pinning swept keys shrinks the sweep) and flags.
  Worker start(const std::string& name, const std::string& host, std::vector<std::string> args,
               const std::string& config = std::string(UBP_SOURCE_DIR) + "/configs/sweeps/selection-quickstart.yaml") {
    Worker w{-1, work.file(name + ".out"), work.file(name + ".err")};
    std::vector<std::string> argv{UBP_BIN, "run", config, "--db", db};
    argv.insert(argv.end(), args.begin(), args.end());
    w.pid = spawn(argv, work.path().string(), w.out, w.err, {{"UBP_HOSTNAME", host}});
    return w;
  }

  std::string one(const std::string& sql) {
    const auto rows = query(db, sql);
    return rows.empty() ? "" : rows.front();
  }

  // The first column of the first row, or "" when there is none yet: no database file, no
  // schema (a worker is still creating it) or no matching row. For polling.
  std::string peek(const std::string& sql) {
    sqlite3* handle = nullptr;
    std::string value;
    if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(handle, 1000);
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(stmt, 0);
        if (text != nullptr) value = reinterpret_cast<const char*>(text);
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(handle);
    return value;
  }

  // Whether some process holds SQLite's write lock on the database right now.
  bool write_locked() {
    sqlite3* handle = nullptr;
    sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr);
    sqlite3_busy_timeout(handle, 0);
    const int rc = sqlite3_exec(handle, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) sqlite3_exec(handle, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(handle);
    return rc != SQLITE_OK;
  }

  // Freezes `worker` with SIGSTOP once `ready()` holds (checked again once it is stopped), and
  // outside any write transaction of its own: a frozen transaction would lock the others out.
  void freeze_when(const Worker& worker, const std::function<bool()>& ready) {
    const bool frozen = wait_until([&] {
      if (!ready()) return false;
      kill(worker.pid, SIGSTOP);
      int status = 0;
      waitpid(worker.pid, &status, WUNTRACED);
      if (ready() && !write_locked()) return true;
      kill(worker.pid, SIGCONT);
      waitpid(worker.pid, &status, WCONTINUED);
      return false;
    });
    ASSERT_TRUE(frozen) << "the worker never got there: " << read_bytes(worker.err);
  }

  // Freezes `worker` while it holds the lease of a running run; returns the run's id.
  std::string freeze_mid_run(const Worker& worker) {
    const std::string holding = "SELECT run_id FROM runs WHERE status = 'running' AND lease_pid = " +
                                std::to_string(worker.pid);
    std::string run_id;
    freeze_when(worker, [&] { return !(run_id = peek(holding)).empty(); });
    return run_id;
  }

  static size_t done_now(const std::string& out) {
    std::smatch match;
    if (!std::regex_search(out, match, std::regex(R"((\d+) done now)"))) return 0;
    return std::stoul(match[1]);
  }
};

TEST_F(ConcurrentRunners, ThreeWorkersStartedTogetherFinishTheQuickstartSweepWithOneAttemptPerRun) {
  std::vector<Worker> workers;
  for (const char* name : {"w1", "w2", "w3"}) {
    workers.push_back(start(name, "box", {"--report", work.file("report"), "--quiet"}));
  }
  size_t runs_done_by_workers = 0, workers_that_ran_something = 0;
  for (const Worker& w : workers) {
    EXPECT_EQ(wait_exit_code(w.pid), 0) << read_bytes(w.err);
    const std::string out = read_bytes(w.out);
    EXPECT_TRUE(contains(out, "24 runs:")) << out;
    runs_done_by_workers += done_now(out);
    workers_that_ran_something += done_now(out) > 0;
    std::cout << "worker " << w.pid << ": " << out;
  }
  EXPECT_EQ(one("SELECT count(*) FROM runs"), "24");
  EXPECT_EQ(one("SELECT count(*) FROM runs WHERE status = 'done'"), "24");
  EXPECT_EQ(one("SELECT sum(attempts) FROM runs"), "24") << "a run was done twice";
  EXPECT_EQ(one("SELECT max(attempts) FROM runs"), "1");
  EXPECT_EQ(runs_done_by_workers, 24u) << "each run is counted by the one worker that did it";
  EXPECT_GE(workers_that_ran_something, 2u) << "the workers did not overlap; the test proves nothing";
  EXPECT_EQ(one("SELECT count(*) FROM runs WHERE lease_token IS NOT NULL"), "0") << "a lease outlived its run";
  EXPECT_EQ(one("SELECT count(*) FROM (SELECT run_id, layer FROM layers GROUP BY run_id, layer HAVING count(*) > 1)"),
            "0");
  EXPECT_EQ(one("PRAGMA integrity_check"), "ok");
  // Each worker waits for the others' runs before it writes the report: every report is whole.
  const std::string report = read_bytes(work.file("report/report.md"));
  EXPECT_TRUE(contains(report, "24 runs, 24 done, 0 failed, 0 not finished")) << report.substr(0, 400);
  for (const auto& id : query(db, "SELECT run_id FROM runs")) EXPECT_TRUE(contains(report, id)) << id;
}

TEST_F(ConcurrentRunners, AWorkerKilledMidRunHasItsRunTakenOverAndFinishedByAnother) {
  // Three runs of about a second; a long lease timeout, so only the dead process frees the run.
  const std::vector<std::string> args{"prune.method=optimal", "prune.block=[4,1]", "--lease-timeout", "600"};
  const Worker first = start("first", "box", args);
  const std::string victim = freeze_mid_run(first);
  ASSERT_FALSE(victim.empty());
  const std::string first_pid = std::to_string(first.pid);

  const auto info = ubp({"db", "info", db});
  EXPECT_TRUE(contains(info.out, "leases     1 alive, 0 dead or stale")) << info.out;
  EXPECT_TRUE(contains(info.out, "run      " + victim + " by box pid " + first_pid)) << info.out;

  const Worker second = start("second", "box", args);
  // The second worker does what is free and then waits: the frozen worker still lives.
  const std::string waiting = "waiting for 1 run held by other runners: " + victim + " (box pid " + first_pid + ")";
  ASSERT_TRUE(wait_until([&] { return contains(read_bytes(second.err), waiting); }))
      << read_bytes(second.err);
  EXPECT_EQ(one("SELECT lease_pid || ' ' || attempts || ' ' || status FROM runs WHERE run_id = '" + victim + "'"),
            first_pid + " 1 running");

  kill(first.pid, SIGKILL);
  EXPECT_EQ(wait_exit_code(first.pid), -SIGKILL);
  EXPECT_EQ(wait_exit_code(second.pid), 0) << read_bytes(second.err);
  const std::string err = read_bytes(second.err);
  EXPECT_TRUE(contains(err, "run " + victim + ": taking it over from box pid " + first_pid)) << err;
  EXPECT_TRUE(contains(err, "its process is gone")) << err;
  EXPECT_EQ(one("SELECT status || ' ' || attempts FROM runs WHERE run_id = '" + victim + "'"), "done 2");
  EXPECT_EQ(one("SELECT count(*) FROM runs WHERE status = 'done'"), "3");
  EXPECT_EQ(one("SELECT sum(attempts) FROM runs"), "4") << "only the killed run was run twice";
  EXPECT_EQ(one("SELECT count(*) FROM layers WHERE run_id = '" + victim + "'"), "13");
  EXPECT_EQ(one("PRAGMA integrity_check"), "ok");
}

TEST_F(ConcurrentRunners, OnAnotherMachineAStaleHeartbeatIsTakenOverAndAFreshOneIsNot) {
  const std::vector<std::string> sweep{"prune.method=optimal", "prune.block=[4,1]"};
  std::vector<std::string> first_args = sweep;
  first_args.insert(first_args.end(), {"--lease-timeout", "600"});
  const Worker first = start("machine-a", "machine-a", first_args);
  const std::string victim = freeze_mid_run(first);
  ASSERT_FALSE(victim.empty());
  // Its pid is gone; machine B must not care: a pid names a process of machine A, and machine A
  // (played by this test, which renews the run's heartbeat as A's runner would) still works.
  kill(first.pid, SIGKILL);
  ASSERT_EQ(wait_exit_code(first.pid), -SIGKILL);
  const std::string holder = "machine-a pid " + std::to_string(first.pid);
  auto last_renewal = std::chrono::steady_clock::now();
  const auto keep_fresh = [&] {
    if (std::chrono::steady_clock::now() - last_renewal < 200ms) return;
    sqlite3* handle = nullptr;
    sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr);
    sqlite3_busy_timeout(handle, 5000);
    const std::string renew = "UPDATE runs SET lease_heartbeat = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE run_id = '" +
                              victim + "'";
    EXPECT_EQ(sqlite3_exec(handle, renew.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(handle);
    sqlite3_close(handle);
    last_renewal = std::chrono::steady_clock::now();
  };

  for (const auto& [host, verdict] : {std::pair<std::string, std::string>{"machine-a", "(dead: process gone)"},
                                      {"machine-b", "(alive)"}}) {
    const std::string out = work.file("info-" + host + ".out");
    const pid_t info = spawn({UBP_BIN, "db", "info", db, "--lease-timeout", "600"}, work.path().string(), out,
                             work.file("info.err"), {{"UBP_HOSTNAME", host}});
    ASSERT_EQ(wait_exit_code(info), 0);
    EXPECT_TRUE(contains(read_bytes(out), "run      " + victim + " by " + holder)) << read_bytes(out);
    EXPECT_TRUE(contains(read_bytes(out), verdict)) << "seen from " << host << ": " << read_bytes(out);
  }

  std::vector<std::string> second_args = sweep;
  second_args.insert(second_args.end(), {"--lease-timeout", "5"});
  const Worker second = start("machine-b", "machine-b", second_args);
  const std::string waiting = "waiting for 1 run held by other runners: " + victim + " (" + holder + ")";
  ASSERT_TRUE(wait_until([&] {
    keep_fresh();
    return contains(read_bytes(second.err), waiting);
  })) << read_bytes(second.err);
  keep_fresh();
  EXPECT_EQ(one("SELECT lease_host || ' ' || attempts FROM runs WHERE run_id = '" + victim + "'"), "machine-a 1")
      << "machine B took over a fresh lease";

  // Machine A stops renewing: after 5 s machine B takes the run over.
  const std::string last_beat = one("SELECT lease_heartbeat FROM runs WHERE run_id = '" + victim + "'");
  EXPECT_EQ(wait_exit_code(second.pid), 0) << read_bytes(second.err);
  const std::string err = read_bytes(second.err);
  EXPECT_TRUE(contains(err, "run " + victim + ": taking it over from " + holder)) << err;
  EXPECT_FALSE(contains(err, "its process is gone")) << "machine B judged machine A's pid: " << err;
  EXPECT_EQ(one("SELECT status || ' ' || attempts || ' ' || host FROM runs WHERE run_id = '" + victim + "'"),
            "done 2 machine-b");
  // Both times are written to the millisecond; julianday's doubles carry ~50 us of rounding (a
  // take-over exactly 5.000 s after the beat once read as 4.99997 s), so compare whole ms.
  const std::string waited_ms = one("SELECT CAST(round((julianday(started_at) - julianday('" + last_beat +
                                    "')) * 86400000) AS INTEGER) FROM runs WHERE run_id = '" + victim + "'");
  EXPECT_GE(std::stoll(waited_ms), 5000) << "taken over " << waited_ms << " ms after the last heartbeat";
  EXPECT_EQ(one("SELECT count(*) FROM runs WHERE status = 'done'"), "3");
  EXPECT_EQ(one("SELECT sum(attempts) FROM runs"), "4");
}

TEST_F(ConcurrentRunners, AHeartbeatThreadRenewsTheLeaseWhileALongRunWorks) {
  // One run of a few seconds; a 1 s timeout renews the heartbeat every quarter second.
  const auto cfg = work.write("long.yaml",
                              "experiment: {kind: selection}\n"
                              "prune: {method: optimal, block: [4, 1], sparsity: 0.8}\n"
                              "selection: {rows: 1024, cols: 1024, matrices: 8}\n");
  const pid_t pid = spawn({UBP_BIN, "run", cfg, "--db", db, "--lease-timeout", "1", "--report", ""},
                          work.path().string(), work.file("long.out"), work.file("long.err"));
  std::set<std::string> beats;
  std::set<std::string> tokens;
  const bool finished = wait_until([&] {
    const std::string row = peek("SELECT status || ' ' || coalesce(lease_token, '-') || ' ' || "
                                 "coalesce(lease_heartbeat, '-') FROM runs");
    if (row.rfind("done", 0) == 0) return true;
    if (row.rfind("running", 0) == 0) {
      std::istringstream fields(row);
      std::string status, token, beat;
      fields >> status >> token >> beat;
      tokens.insert(token);
      beats.insert(beat);
    }
    return false;
  });
  EXPECT_TRUE(finished);
  EXPECT_EQ(wait_exit_code(pid), 0) << read_bytes(work.file("long.err"));
  EXPECT_GE(beats.size(), 3u) << "the heartbeat was not renewed while the run worked";
  EXPECT_EQ(tokens.size(), 1u) << "the lease changed hands during the run";
  EXPECT_EQ(one("SELECT status || ' ' || attempts FROM runs"), "done 1");
}

TEST_F(ConcurrentRunners, ATrainingWorkerWhoseRunWasTakenOverWritesNoCheckpointOrModelForIt) {
  namespace fs = std::filesystem;
  const auto cfg = work.write("train.yaml",
                              "experiment: {kind: training, seed: 3}\n"
                              "data: {dataset: synthetic, image_size: 28, train_limit: 512, test_limit: 128}\n"
                              "model: {name: mobilenet_v1, width: 0.25}\n"
                              "train: {epochs: 3, batch_size: 32, lr: 0.05, threads: 1}\n"
                              "prune: {method: bed, sparsity: 0.75, ramp_epochs: 1, finetune_epochs: 2, "
                              "update_every: 5}\n");
  // Machine A trains the run; it is frozen (a suspended laptop) after its first pruned epoch's
  // checkpoint, and its heartbeat goes stale.
  const Worker first = start("a", "machine-a", {"--lease-timeout", "600", "--report", ""}, cfg);
  const fs::path work_dir = work.path() / "work";
  std::string run_id;
  freeze_when(first, [&] {
    run_id = peek("SELECT run_id FROM runs");
    return !run_id.empty() && fs::exists(work_dir / run_id / "checkpoint.pt");
  });
  ASSERT_FALSE(run_id.empty());
  // Machine B takes the run over, resumes from A's checkpoint and finishes it.
  const Worker second = start("b", "machine-b", {"--lease-timeout", "2", "--report", ""}, cfg);
  ASSERT_EQ(wait_exit_code(second.pid), 0) << read_bytes(second.err);
  EXPECT_TRUE(contains(read_bytes(second.err), "taking it over from machine-a")) << read_bytes(second.err);
  const fs::path model = work.path() / "models" / run_id / "model.pt";
  ASSERT_TRUE(fs::exists(model));
  const auto model_written = fs::last_write_time(model);
  const std::string recorded = one("SELECT group_concat(key || '=' || value, ',') FROM metrics");
  EXPECT_FALSE(fs::exists(work_dir / run_id)) << "B removed the finished run's checkpoints";

  // A wakes up: at its next checkpoint it finds the run gone and stops writing for it.
  kill(first.pid, SIGCONT);
  EXPECT_EQ(wait_exit_code(first.pid), 0) << read_bytes(first.err);
  const std::string a_err = read_bytes(first.err);
  EXPECT_TRUE(contains(a_err, "was taken over by another runner")) << a_err;
  EXPECT_TRUE(contains(read_bytes(first.out), "0 done now")) << read_bytes(first.out);
  EXPECT_FALSE(fs::exists(work_dir / run_id)) << "A wrote a checkpoint for a run it no longer held";
  EXPECT_EQ(fs::last_write_time(model), model_written) << "A rewrote the kept model";
  EXPECT_EQ(one("SELECT status || ' ' || attempts || ' ' || host FROM runs"), "done 2 machine-b");
  EXPECT_EQ(one("SELECT group_concat(key || '=' || value, ',') FROM metrics"), recorded);
}

}  // namespace
}  // namespace ubp::testing

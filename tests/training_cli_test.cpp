// `kind: training` through the real `ubp` binary: a run killed with SIGKILL, once while its
// dense baseline trains and once while it prunes, resumes from its checkpoints and records
// exactly what an uninterrupted run records; and the same for a run of two data-parallel processes.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "support/ubp_fixture.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;

// One LibTorch thread: the same arithmetic in the same order, so results match bit for bit.
const char* kTinyTraining =
    "experiment: {kind: training, seed: 3}\n"
    "data: {dataset: synthetic, image_size: 28, train_limit: 512, test_limit: 128}\n"
    "model: {name: mobilenet_v1, width: 0.25}\n"
    "train: {epochs: 3, batch_size: 32, lr: 0.05, threads: 1}\n"
    "prune: {method: bed, sparsity: 0.75, ramp_epochs: 1, finetune_epochs: 2, update_every: 5}\n";

// The first file under `dir` whose name ends with `suffix`, or "".
std::string find_file(const fs::path& dir, const std::string& suffix) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "";
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return e.path().string();
    }
  }
  return "";
}

// Starts `ubp run`, waits until `suffix` appears under `dir`, then kills it. False if the run
// ended (or 120 s passed) first.
bool kill_when_file_appears(const std::vector<std::string>& argv, const std::string& cwd, const fs::path& dir,
                            const std::string& suffix) {
  const pid_t pid = spawn(argv, cwd, cwd + "/out.txt", cwd + "/err.txt");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!find_file(dir, suffix).empty()) {
      kill(pid, SIGKILL);
      return wait_exit_code(pid) == -SIGKILL;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  wait_exit_code(pid);
  return false;
}

class TrainingRun : public UbpTest {
 protected:
  // Metrics that depend on the results only (not on timing), as "key@step=value" lines.
  static std::vector<std::string> result_metrics(const std::string& db) {
    return query(db,
                        "SELECT key || '@' || step || '=' || printf('%.12g', value) FROM metrics "
                        "WHERE key NOT IN ('images_per_second', 'seconds', 'selection.seconds') "
                        "ORDER BY key, step");
  }
};

TEST_F(TrainingRun, KilledWhileTrainingTheBaselineAndWhilePruningItResumesToTheSameResult) {
  const auto cfg = work.write("t.yaml", kTinyTraining);
  const auto ref = run_process({UBP_BIN, "run", cfg, "--db", work.file("ref/r.db"), "--quiet"}, work.path().string());
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const auto reference = result_metrics(work.file("ref/r.db"));
  ASSERT_GE(reference.size(), 10u);

  const std::vector<std::string> argv{UBP_BIN, "run", cfg, "--db", work.file("k/k.db"), "--quiet"};
  // A partial baseline exists after its first epoch; a run checkpoint after the first pruned one.
  ASSERT_TRUE(kill_when_file_appears(argv, work.path().string(), work.path() / "k" / "cache", ".partial.pt"));
  ASSERT_TRUE(kill_when_file_appears(argv, work.path().string(), work.path() / "k" / "work", "checkpoint.pt"));
  EXPECT_EQ(query(work.file("k/k.db"), "SELECT status FROM runs"), std::vector<std::string>{"running"});

  const auto finish = run_process(argv, work.path().string());
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  EXPECT_EQ(query(work.file("k/k.db"), "SELECT status || ' ' || attempts FROM runs"),
            std::vector<std::string>{"done 3"});
  EXPECT_EQ(result_metrics(work.file("k/k.db")), reference);
  EXPECT_EQ(query(work.file("k/k.db"), "SELECT layer || kept_blocks || printf('%.9g', retained_importance) FROM layers ORDER BY layer"),
            query(work.file("ref/r.db"), "SELECT layer || kept_blocks || printf('%.9g', retained_importance) FROM layers ORDER BY layer"));
  const std::string log = read_bytes(find_file(work.path() / "k" / "logs", ".log"));
  EXPECT_TRUE(contains(log, "dense baseline")) << log;
  EXPECT_TRUE(contains(log, "resuming after epoch")) << log;
  // Once done, the run's checkpoints are gone; the baseline stays cached for other runs.
  EXPECT_EQ(find_file(work.path() / "k" / "work", "checkpoint.pt"), "");
  EXPECT_NE(find_file(work.path() / "k" / "cache", ".pt"), "");
  EXPECT_EQ(find_file(work.path() / "k" / "cache", ".partial.pt"), "");
}

// Processes other than this one whose command line mentions `needle`.
int processes_mentioning(const std::string& needle) {
  int count = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == getpid()) continue;
    std::string cmdline = read_bytes((e.path() / "cmdline").string());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    count += contains(cmdline, needle);
  }
  return count;
}

// Data parallel (`--nproc 2`): the whole group is killed while pruning (the workers die with
// their parent), and the next `ubp run --nproc 2` resumes from rank 0's checkpoint, whose
// weights, momentum and masks rank 0 broadcasts, to exactly what an uninterrupted 2-process run
// records (one LibTorch thread per process: the same arithmetic in the same order).
TEST_F(TrainingRun, TwoProcessesKilledWhilePruningResumeToTheResultOfAnUninterruptedTwoProcessRun) {
  const auto cfg = work.write("t.yaml", kTinyTraining);
  const auto ref =
      run_process({UBP_BIN, "run", cfg, "--db", work.file("ref/r.db"), "--nproc", "2", "--quiet"}, work.path().string());
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const auto reference = result_metrics(work.file("ref/r.db"));
  ASSERT_GE(reference.size(), 10u);

  const std::vector<std::string> argv{UBP_BIN, "run", cfg, "--db", work.file("k/k.db"), "--nproc", "2", "--quiet"};
  ASSERT_TRUE(kill_when_file_appears(argv, work.path().string(), work.path() / "k" / "work", "checkpoint.pt"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (processes_mentioning(cfg) > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(processes_mentioning(cfg), 0) << "the workers outlived their killed parent";
  EXPECT_EQ(query(work.file("k/k.db"), "SELECT status FROM runs"), std::vector<std::string>{"running"});

  const auto finish = run_process(argv, work.path().string());
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  EXPECT_EQ(query(work.file("k/k.db"), "SELECT status || ' ' || attempts FROM runs"),
            std::vector<std::string>{"done 2"});
  EXPECT_EQ(result_metrics(work.file("k/k.db")), reference);
  const std::string log = read_bytes(find_file(work.path() / "k" / "logs", ".log"));
  EXPECT_TRUE(contains(log, "data parallel: rank 0 of 2")) << log;
  EXPECT_TRUE(contains(log, "resuming after epoch")) << log;
}

TEST_F(TrainingRun, ASweepSharesOneDenseBaselineAndReportsEveryEpoch) {
  const auto cfg = work.write("s.yaml", std::string(kTinyTraining) +
                                            "sweep:\n  prune.method: [none, aligned, optimal]\n");
  const auto r = ubp({"run", cfg, "--db", work.file("s.db")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(query(work.file("s.db"), "SELECT count(*) FROM runs WHERE status='done'"), std::vector<std::string>{"3"});
  // Trained once (3 epoch lines), then each pruned run's 3 epochs; not a terminal: no bar.
  size_t dense_lines = 0, pos = 0;
  while ((pos = r.err.find("dense epoch", pos)) != std::string::npos) ++dense_lines, ++pos;
  EXPECT_EQ(dense_lines, 3u) << r.err;
  EXPECT_TRUE(contains(r.err, "optimal epoch 3/3")) << r.err;
  EXPECT_FALSE(contains(r.err, "\r")) << "a progress bar was drawn on a pipe";
  // The dense run and the pruned runs agree on the baseline's accuracy.
  EXPECT_EQ(query(work.file("s.db"), "SELECT count(DISTINCT printf('%.9g', value)) FROM metrics WHERE key='dense.top1'"),
            std::vector<std::string>{"1"});
  EXPECT_EQ(query(work.file("s.db"), "SELECT count(*) FROM layers"), std::vector<std::string>{"26"});
}

}  // namespace
}  // namespace ubp::testing

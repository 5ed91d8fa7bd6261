// Sweeps on Slurm: `ubp plan --slurm` and `ubp run --task` against a real single-node Slurm
// cluster (Debian's slurm-wlm and munge) that the test starts with its own key, config, ports and
// state folders, and stops again. One task fails for a reason outside its run's identity; after
// the cause is fixed the array is resubmitted, only that task runs again, and the merged shards
// hold every run exactly once. A data-parallel array trains each task's run with two processes
// that srun starts, and a resubmission runs nothing again on any rank.
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "support/net.h"
#include "support/ubp_fixture.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Four selection runs on a 128x128 matrix; optimal-dp's table for it needs about 4 MiB, so with
// memory_limit_mib 1 that one run fails. The limit is not part of a run's identity: raising it
// in the file fixes the run without changing any run id.
std::string sweep_yaml(int memory_limit_mib) {
  return "experiment: {kind: selection, name: slurm-e2e}\n"
         "prune: {block: [4, 1], sparsity: 0.5, memory_limit_mib: " +
         std::to_string(memory_limit_mib) +
         "}\n"
         "selection: {rows: 128, cols: 128, matrices: 1, compare_to_optimal: false}\n"
         "sweep:\n  prune.method: [aligned, greedy, bed, optimal-dp]\n"
         "output: {db: merged.db}\n";
}

// Two tiny training runs, each trained by the processes of one array task. batch_size 32 splits
// evenly over 2 ranks; a short collective timeout turns a rank left waiting for a partner that
// never comes (the failure a resubmission could cause) into a quick failed task, not a hang.
std::string data_parallel_yaml() {
  return "experiment: {kind: training, name: slurm-ddp, seed: 1}\n"
         "data: {dataset: synthetic, image_size: 28, train_limit: 64, test_limit: 32}\n"
         "model: {name: mobilenet_v1, width: 0.25}\n"
         "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1, distributed: {timeout_s: 20}}\n"
         "prune: {method: bed, sparsity: 0.75, ramp_epochs: 0.5, finetune_epochs: 0.5, update_every: 1}\n"
         "sweep:\n  prune.sparsity: [0.5, 0.75]\n"
         "output: {db: merged.db}\n";
}

// Finds a daemon or client: Debian puts the daemons in /usr/sbin, which a test's PATH may lack.
std::string find_program(const std::string& name) {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir) / name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string tail_of(const std::string& file, size_t bytes = 1500) {
  const std::string text = read_bytes(file);
  return "--- " + file + " ---\n" + (text.size() > bytes ? text.substr(text.size() - bytes) : text);
}

// munged, slurmctld and slurmd as children of the test, on loopback; stopped in the destructor
// (with any job still queued), whatever the test's outcome. `error()` says why it could not start.
class SlurmCluster {
 public:
  explicit SlurmCluster(const fs::path& root) : root_(root) { start(); }
  ~SlurmCluster() { stop(); }
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  const std::string& error() const { return error_; }
  std::string conf() const { return (root_ / "slurm.conf").string(); }
  std::string logs() const {
    return tail_of((root_ / "munge.log").string()) + "\n" + tail_of((root_ / "slurmctld.log").string()) + "\n" +
           tail_of((root_ / "slurmd.log").string());
  }

 private:
  void start() {
    for (const char* program : {"munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scancel"}) {
      if (find_program(program).empty()) {
        error_ = std::string("cannot start Slurm: `") + program +
                 "` is not installed (Debian packages slurm-wlm and munge; scripts/install-deps.sh)";
        return;
      }
    }
    const passwd* user = getpwuid(geteuid());
    if (user == nullptr) {
      error_ = "cannot start Slurm: the current user has no passwd entry (SlurmUser needs a name)";
      return;
    }
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::string node = host;
    node = node.substr(0, node.find('.'));  // slurmd looks itself up by its short name

    // munge: a private key and socket, so the host's munged (if any) is neither needed nor used.
    const fs::path munge = root_ / "munge";
    fs::create_directories(munge);
    fs::permissions(munge, fs::perms::owner_all, fs::perm_options::replace);
    const std::string key = (munge / "munge.key").string();
    const std::string socket_path = (munge / "munge.socket").string();
    if (run_process({"dd", "if=/dev/urandom", "of=" + key, "bs=1024", "count=1"}, "").exit_code != 0 ||
        chmod(key.c_str(), 0400) != 0) {
      error_ = "cannot start Slurm: cannot write the munge key " + key;
      return;
    }
    std::vector<std::string> munged{find_program("munged"), "--foreground", "--socket=" + socket_path,
                                    "--key-file=" + key, "--pid-file=" + (munge / "munged.pid").string(),
                                    "--log-file=" + (root_ / "munge.log").string(),
                                    "--seed-file=" + (munge / "munged.seed").string()};
    // munged refuses to run as root unless forced; the test container is root.
    if (geteuid() == 0) munged.push_back("--force");
    pids_.push_back(spawn(munged, "", (root_ / "munged.out").string(), (root_ / "munged.err").string()));
    if (!wait_for([&] { return fs::exists(socket_path); }, 10s)) {
      error_ = "cannot start Slurm: munged did not create its socket " + socket_path + " within 10 s:\n" +
               tail_of((root_ / "munged.err").string()) + "\n" + tail_of((root_ / "munge.log").string());
      return;
    }

    // Linux process tracking and no task plugin: no cgroups, which a container does not offer.
    const fs::path state = root_ / "state", spool = root_ / "spool";
    fs::create_directories(state);
    fs::create_directories(spool);
    std::ofstream conf_file(conf());
    conf_file << "ClusterName=ubptest\n"
              << "SlurmctldHost=" << node << "(127.0.0.1)\n"
              << "SlurmctldPort=" << free_loopback_port() << "\nSlurmdPort=" << free_loopback_port() << "\n"
              << "AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket=" << socket_path << "\n"
              << "SlurmUser=" << user->pw_name << "\nSlurmdUser=" << user->pw_name << "\n"
              << "StateSaveLocation=" << state.string() << "\nSlurmdSpoolDir=" << spool.string() << "\n"
              << "SlurmctldPidFile=" << (root_ / "slurmctld.pid").string() << "\n"
              << "SlurmdPidFile=" << (root_ / "slurmd.pid").string() << "\n"
              << "SlurmctldLogFile=" << (root_ / "slurmctld.log").string() << "\n"
              << "SlurmdLogFile=" << (root_ / "slurmd.log").string() << "\n"
              << "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
              << "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
              << "JobCompType=jobcomp/none\nSwitchType=switch/none\nMpiDefault=none\n"
              << "SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
              << "ReturnToService=2\n"
              // RealMemory lets tasks ask for memory (--mem); the default is 1 MB.
              << "NodeName=" << node << " NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN\n"
              << "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
    conf_file.close();
    // Every Slurm command the test runs (sbatch, sinfo) and every job finds this cluster.
    setenv("SLURM_CONF", conf().c_str(), 1);

    pids_.push_back(spawn({find_program("slurmctld"), "-D", "-c", "-f", conf()}, "",
                          (root_ / "slurmctld.out").string(), (root_ / "slurmctld.err").string()));
    pids_.push_back(spawn({find_program("slurmd"), "-D", "-f", conf(), "-N", node}, "",
                          (root_ / "slurmd.out").string(), (root_ / "slurmd.err").string()));
    std::string last_state;
    const bool idle = wait_for(
        [&] {
          last_state = run_process({find_program("sinfo"), "-h", "-o", "%T"}, "").out;
          return contains(last_state, "idle");
        },
        60s);
    if (!idle) {
      error_ = "cannot start Slurm: the node did not become idle within 60 s (sinfo says '" + last_state +
               "'):\n" + tail_of((root_ / "slurmctld.err").string()) + "\n" +
               tail_of((root_ / "slurmd.err").string()) + "\n" + logs();
    }
  }

  void stop() {
    if (pids_.size() == 3) run_process({find_program("scancel"), "--user", getpwuid(geteuid())->pw_name}, "");
    // slurmd, slurmctld, then munged: the reverse of the order they depend on each other.
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) {
      kill(*it, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      int status = 0;
      while (waitpid(*it, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          kill(*it, SIGKILL);
          waitpid(*it, &status, 0);
          break;
        }
        std::this_thread::sleep_for(50ms);
      }
    }
    unsetenv("SLURM_CONF");
  }

  template <typename Ready>
  static bool wait_for(Ready ready, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ready()) return true;
      std::this_thread::sleep_for(200ms);
    }
    return ready();
  }

  fs::path root_;
  std::vector<pid_t> pids_;
  std::string error_;
};

class SlurmSweep : public UbpTest {
 protected:
  std::string slurm_dir() const { return work.file("array"); }
  std::string shard(size_t task) const { return work.file("array/shards/task-" + std::to_string(task) + ".db"); }

  // Run ids by task, read back from the manifest `ubp plan --slurm` wrote.
  std::vector<std::string> manifest_ids() const {
    std::vector<std::string> ids;
    std::stringstream lines(read_bytes(work.file("array/manifest.tsv")));
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line, "index\trun_id\tkind\tsweep_values");
    while (std::getline(lines, line)) {
      std::stringstream fields(line);
      std::string index, id;
      std::getline(fields, index, '\t');
      std::getline(fields, id, '\t');
      EXPECT_EQ(index, std::to_string(ids.size())) << line;
      ids.push_back(id);
    }
    return ids;
  }

  // The status column of each task in `ubp plan --status` output.
  static std::map<std::string, std::string> status_by_run(const std::string& out) {
    std::map<std::string, std::string> status;
    std::stringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      std::stringstream fields(line);
      std::string task, id, state;
      fields >> task >> id >> state;
      if (id.size() == 16 && task != "task") status[id] = state;
    }
    return status;
  }

  // Every array task's Slurm log, for failure messages.
  std::string job_logs() const {
    std::string text;
    if (!fs::is_directory(work.file("array/logs"))) return text;
    for (const auto& entry : fs::directory_iterator(work.file("array/logs"))) {
      text += tail_of(entry.path().string()) + "\n";
    }
    return text;
  }

  ProcessResult sbatch_wait(const std::string& script) {
    // --wait returns when every array task has ended; `timeout` bounds a cluster that stalls.
    return run_process({"timeout", "300", find_program("sbatch"), "--wait", script}, work.path().string());
  }
};

TEST_F(SlurmSweep, AFailedTaskIsRedoneByResubmittingAndTheMergedShardsHoldEveryRunOnce) {
  const auto started = std::chrono::steady_clock::now();
  SlurmCluster cluster(work.path() / "cluster");
  ASSERT_TRUE(cluster.error().empty()) << cluster.error();
  const double startup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  const auto cfg = work.write("sweep.yaml", sweep_yaml(1));
  // --parallel 1: Slurm must run the array's tasks one at a time (checked below).
  const auto plan = ubp({"plan", cfg, "--slurm", "array", "--parallel", "1", "--time", "00:10:00", "--mem",
                         "200M", "--job-name", "ubp-e2e"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_TRUE(contains(plan.out, "sbatch " + slurm_dir() + "/job.sbatch")) << plan.out;
  EXPECT_TRUE(contains(plan.out, "--status")) << plan.out;
  EXPECT_TRUE(contains(plan.out, "ubp db merge " + slurm_dir() + "/shards/*.db --into merged.db")) << plan.out;
  const std::string script = read_bytes(work.file("array/job.sbatch"));
  EXPECT_TRUE(contains(script, "#SBATCH --array=0-3%1\n")) << script;
  EXPECT_TRUE(contains(script, "#SBATCH --mem=200M\n")) << script;
  const std::string manifest = read_bytes(work.file("array/manifest.tsv"));
  const auto ids = manifest_ids();
  ASSERT_EQ(ids.size(), 4u) << manifest;

  const auto before = ubp({"plan", cfg, "--slurm", "array", "--status"});
  EXPECT_EQ(before.exit_code, 1);
  EXPECT_TRUE(contains(before.out, "4 planned runs: 0 done, 0 failed, 0 running, 4 missing")) << before.out;

  const auto first = sbatch_wait(work.file("array/job.sbatch"));
  ASSERT_TRUE(contains(first.out, "Submitted batch job")) << first.out << first.err << cluster.logs();
  EXPECT_NE(first.exit_code, 0) << "one task fails, so sbatch --wait reports it";
  ASSERT_NE(first.exit_code, 124) << "the array did not finish within 300 s\n" << cluster.logs();

  const auto failed = ubp({"plan", cfg, "--slurm", "array", "--status"});
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_TRUE(contains(failed.out, "4 planned runs: 3 done, 1 failed, 0 running, 0 missing")) << failed.out;
  EXPECT_TRUE(contains(failed.out, "memory limit")) << "the failed run's error is shown: " << failed.out;
  EXPECT_TRUE(contains(failed.out, "sbatch --array=3 ")) << failed.out;
  const auto first_status = status_by_run(failed.out);
  ASSERT_EQ(first_status.size(), 4u) << failed.out;
  for (size_t task = 0; task < 3; ++task) EXPECT_EQ(first_status.at(ids[task]), "done") << ids[task];
  EXPECT_EQ(first_status.at(ids[3]), "failed");

  // The %1 throttle held: sorted by start, each run started after the one before had finished.
  std::vector<std::pair<std::string, std::string>> intervals;
  for (size_t task = 0; task < 4; ++task) {
    for (const std::string& row : query(shard(task), "SELECT started_at || ' ' || finished_at FROM runs")) {
      intervals.emplace_back(row.substr(0, row.find(' ')), row.substr(row.find(' ') + 1));
    }
  }
  ASSERT_EQ(intervals.size(), 4u);
  std::sort(intervals.begin(), intervals.end());
  for (size_t i = 1; i < intervals.size(); ++i) {
    EXPECT_GT(intervals[i].first, intervals[i - 1].second) << "two array tasks ran at once despite %1";
  }

  std::vector<std::string> finished_at;
  for (size_t task = 0; task < 3; ++task) {
    const auto rows = query(shard(task), "SELECT finished_at FROM runs WHERE run_id='" + ids[task] + "'");
    ASSERT_EQ(rows.size(), 1u) << "each shard holds its own task's run";
    finished_at.push_back(rows[0]);
  }

  // The fix lies outside the run's identity: the same plan, the same run ids, the same manifest.
  work.write("sweep.yaml", sweep_yaml(64));
  ASSERT_EQ(ubp({"plan", cfg, "--slurm", "array", "--parallel", "2", "--time", "00:10:00", "--mem", "200M",
                 "--job-name", "ubp-e2e"})
                .exit_code,
            0);
  EXPECT_EQ(read_bytes(work.file("array/manifest.tsv")), manifest);

  const auto second = sbatch_wait(work.file("array/job.sbatch"));
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err << cluster.logs();
  const auto all_done = ubp({"plan", cfg, "--slurm", "array", "--status"});
  EXPECT_EQ(all_done.exit_code, 0) << all_done.out << all_done.err;
  EXPECT_TRUE(contains(all_done.out, "4 planned runs: 4 done, 0 failed, 0 running, 0 missing")) << all_done.out;

  // Only the failed task ran again: the done runs kept their first finish and one attempt.
  for (size_t task = 0; task < 3; ++task) {
    EXPECT_EQ(query(shard(task), "SELECT finished_at FROM runs"), std::vector<std::string>{finished_at[task]});
    EXPECT_EQ(query(shard(task), "SELECT attempts FROM runs"), std::vector<std::string>{"1"});
  }
  EXPECT_EQ(query(shard(3), "SELECT status || ' ' || attempts FROM runs"), std::vector<std::string>{"done 2"});

  std::vector<std::string> merge{"db", "merge"};
  for (size_t task = 0; task < 4; ++task) merge.push_back(shard(task));
  merge.insert(merge.end(), {"--into", "merged.db"});
  const auto merged = ubp(merge);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const auto db = work.file("merged.db");
  EXPECT_EQ(query(db, "SELECT count(*) || ' ' || count(DISTINCT run_id) FROM runs"), std::vector<std::string>{"4 4"});
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs WHERE status='done'"), std::vector<std::string>{"4"});
  auto merged_ids = query(db, "SELECT run_id FROM runs ORDER BY run_id");
  auto planned_ids = ids;
  std::sort(planned_ids.begin(), planned_ids.end());
  EXPECT_EQ(merged_ids, planned_ids);
  EXPECT_EQ(query(db, "SELECT count(DISTINCT run_id) FROM layers"), std::vector<std::string>{"4"});
  std::printf("[ info ] Slurm cluster up in %.1f s; whole test %.1f s\n", startup_s,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

// Each array task's run trained by two processes that srun starts on the node (CPUs=2: one each).
// Rank 0 writes the shard; rank 1 trains into a copy, so a resubmission finds both ranks agreeing
// that the run is done: nothing runs again, and no rank waits for a partner that never comes.
TEST_F(SlurmSweep, DataParallelArrayTrainsEachRunWithTwoProcessesAndAResubmissionRunsNothingAgain) {
  const auto started = std::chrono::steady_clock::now();
  SlurmCluster cluster(work.path() / "cluster");
  ASSERT_TRUE(cluster.error().empty()) << cluster.error();

  const auto cfg = work.write("ddp.yaml", data_parallel_yaml());
  const auto plan = ubp({"plan", cfg, "--slurm", "array", "--ntasks", "2", "--ntasks-per-node", "2", "--cpus", "1",
                         "--interface", "lo", "--time", "00:10:00", "--job-name", "ubp-ddp"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_TRUE(contains(plan.out, "trained by 2 processes on 1 node")) << plan.out;
  const auto ids = manifest_ids();
  ASSERT_EQ(ids.size(), 2u);

  const auto first = sbatch_wait(work.file("array/job.sbatch"));
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err << "\n" << job_logs() << cluster.logs();
  const auto status = ubp({"plan", cfg, "--slurm", "array", "--status"});
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_TRUE(contains(status.out, "2 planned runs: 2 done, 0 failed, 0 running, 0 missing")) << status.out;

  std::vector<std::string> finished_at;
  for (size_t task = 0; task < ids.size(); ++task) {
    EXPECT_EQ(query(shard(task), "SELECT run_id || ' ' || status || ' ' || attempts FROM runs"),
              std::vector<std::string>{ids[task] + " done 1"})
        << "rank 0 alone records the run in its task's shard";
    const auto rows = query(shard(task), "SELECT finished_at FROM runs");
    ASSERT_EQ(rows.size(), 1u);
    finished_at.push_back(rows[0]);
    const std::string run_log = read_bytes(work.file("array/shards/logs/" + ids[task] + ".log"));
    EXPECT_TRUE(contains(run_log, "data parallel: rank 0 of 2 (file:" + slurm_dir() + "/rendezvous/")) << run_log;
  }
  EXPECT_TRUE(fs::is_empty(work.file("array/rendezvous"))) << "a task that succeeded removes its store and copies";

  // Resubmitted: both ranks skip the done run at once. A rank 1 that trained would wait for rank 0
  // until timeout_s and fail the task; the time bound (sbatch --wait polls every few seconds) would
  // catch a rank waiting without a timeout.
  const auto again_started = std::chrono::steady_clock::now();
  const auto second = sbatch_wait(work.file("array/job.sbatch"));
  const double again_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - again_started).count();
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err << "\n" << job_logs() << cluster.logs();
  EXPECT_LT(again_s, 60.0) << job_logs();
  for (size_t task = 0; task < ids.size(); ++task) {
    EXPECT_EQ(query(shard(task), "SELECT finished_at || ' ' || attempts FROM runs"),
              std::vector<std::string>{finished_at[task] + " 1"});
  }
  EXPECT_TRUE(contains(job_logs(), "1 run: 0 done now, 1 already done")) << job_logs();

  const auto merged = ubp({"db", "merge", shard(0), shard(1), "--into", "merged.db"});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(query(work.file("merged.db"), "SELECT count(*) || ' ' || count(DISTINCT run_id) FROM runs WHERE "
                                          "status='done'"),
            std::vector<std::string>{"2 2"});
  std::printf("[ info ] data-parallel array: whole test %.1f s, resubmission %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), again_s);
}

// The data-parallel job script's text, without a cluster: the allocation it asks for, the srun
// line, where the flags and the config's slurm.* keys come in, and what is refused.
TEST_F(SlurmSweep, DataParallelJobScriptAsksForTheProcessesAndStartsThemWithSrun) {
  const auto cfg = work.write("ddp.yaml", data_parallel_yaml());
  ASSERT_EQ(ubp({"plan", cfg, "--slurm", "array"}).exit_code, 0);
  const std::string single = read_bytes(work.file("array/job.sbatch"));
  EXPECT_FALSE(contains(single, "srun")) << single;
  EXPECT_FALSE(contains(single, "--ntasks")) << single;
  EXPECT_TRUE(contains(single, "exec ")) << single;

  const auto plan = ubp({"plan", cfg, "slurm.ntasks=3", "slurm.interface=eth0", "--slurm", "array",
                         "--ntasks-per-node", "2", "--cpus", "4"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_TRUE(contains(plan.out, "one run trained by 3 processes on 2 nodes")) << plan.out;
  const std::string script = read_bytes(work.file("array/job.sbatch"));
  for (const char* line : {"#SBATCH --nodes=2\n", "#SBATCH --ntasks=3\n", "#SBATCH --ntasks-per-node=2\n",
                           "#SBATCH --cpus-per-task=4\n", "srun --kill-on-bad-exit=1 ",
                           " train.distributed.world_size=0 \"train.distributed.rendezvous=file:$scratch/store\" "
                           "train.distributed.interface=eth0 ",
                           "--task \"$SLURM_ARRAY_TASK_ID\"", "exec \"$@\" --db \"$UBP_SHARD\"",
                           " latency.devices= output.report= "}) {
    EXPECT_TRUE(contains(script, line)) << "missing: " << line << "\n" << script;
  }
  const std::string scratch = "scratch=" + slurm_dir() + "/rendezvous/\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"";
  EXPECT_TRUE(contains(script, scratch)) << script;
  EXPECT_EQ(run_process({"bash", "-n", work.file("array/job.sbatch")}, work.path().string()).exit_code, 0);

  // The flag wins over the key; more per node than processes asks for no idle slots.
  ASSERT_EQ(ubp({"plan", cfg, "slurm.ntasks=3", "--slurm", "array", "--ntasks", "2", "--ntasks-per-node", "8"})
                .exit_code,
            0);
  const std::string two = read_bytes(work.file("array/job.sbatch"));
  EXPECT_TRUE(contains(two, "#SBATCH --nodes=1\n#SBATCH --ntasks=2\n#SBATCH --ntasks-per-node=2\n")) << two;
  EXPECT_FALSE(contains(two, "interface")) << "no interface given: Gloo takes the host name's address\n" << two;

  const auto zero = ubp({"plan", cfg, "--slurm", "array", "--ntasks", "0"});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_TRUE(contains(zero.err, "--ntasks 0 is not accepted (accepted: 1 or more")) << zero.err;
  const auto zero_per_node = ubp({"plan", cfg, "--slurm", "array", "--ntasks", "2", "--ntasks-per-node", "0"});
  EXPECT_EQ(zero_per_node.exit_code, 2);
  EXPECT_TRUE(contains(zero_per_node.err, "--ntasks-per-node 0 is not accepted")) << zero_per_node.err;
  const auto bad_key = ubp({"plan", cfg, "slurm.ntasks=0", "--slurm", "array"});
  EXPECT_EQ(bad_key.exit_code, 2);
  EXPECT_TRUE(contains(bad_key.err, "slurm.ntasks: value 0 is out of range")) << bad_key.err;
  const auto bad_interface = ubp({"plan", cfg, "--slurm", "array", "--ntasks", "2", "--interface", "eth0; rm"});
  EXPECT_EQ(bad_interface.exit_code, 2);
  EXPECT_TRUE(contains(bad_interface.err, "--interface 'eth0; rm' is not accepted")) << bad_interface.err;
}

// Without Slurm: the data-parallel job script with a stand-in srun that starts SLURM_NTASKS
// copies of its command with SLURM_PROCID set, as srun does on one node. Run twice, it trains the
// run once; the second time both ranks skip it.
TEST_F(SlurmSweep, DataParallelJobScriptRunsWithAStandInSrunAndSkipsADoneRunOnEveryRank) {
  const auto cfg = work.write("ddp.yaml", data_parallel_yaml());
  ASSERT_EQ(ubp({"plan", cfg, "--slurm", "array", "--ntasks", "2", "--interface", "lo"}).exit_code, 0);
  const auto srun = work.write("bin/srun",
                               "#!/bin/bash\n"
                               "while [[ \"$1\" == --* ]]; do shift; done\n"
                               "for ((i = 0; i < SLURM_NTASKS; i++)); do SLURM_PROCID=$i \"$@\" & done\n"
                               "status=0\n"
                               "for job in $(jobs -p); do wait \"$job\" || status=$?; done\n"
                               "exit \"$status\"\n");
  ASSERT_EQ(chmod(srun.c_str(), 0755), 0);
  auto run_task = [&](const std::string& name) {
    const pid_t pid = spawn({"env", "PATH=" + work.file("bin") + ":" + getenv("PATH"), "SLURM_NTASKS=2",
                             "SLURM_CPUS_PER_TASK=1", "SLURM_ARRAY_JOB_ID=7", "SLURM_ARRAY_TASK_ID=1", "bash",
                             work.file("array/job.sbatch")},
                            work.path().string(), work.file(name + ".out"), work.file(name + ".err"));
    return wait_exit_code(pid);
  };
  ASSERT_EQ(run_task("first"), 0) << read_bytes(work.file("first.err"));
  const auto ids = manifest_ids();
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(query(shard(1), "SELECT run_id || ' ' || status || ' ' || attempts FROM runs"),
            std::vector<std::string>{ids[1] + " done 1"});
  const std::string run_log = read_bytes(work.file("array/shards/logs/" + ids[1] + ".log"));
  EXPECT_TRUE(contains(run_log, "data parallel: rank 0 of 2")) << run_log;
  const auto finished_at = query(shard(1), "SELECT finished_at FROM runs");

  ASSERT_EQ(run_task("second"), 0) << read_bytes(work.file("second.err"));
  EXPECT_TRUE(contains(read_bytes(work.file("second.err")), "1 already done, 0 to run"));
  EXPECT_EQ(query(shard(1), "SELECT finished_at FROM runs"), finished_at);
  EXPECT_FALSE(fs::exists(shard(0))) << "task 1 writes only its own shard";
  EXPECT_TRUE(fs::is_empty(work.file("array/rendezvous")));
}

// Without Slurm: the job script itself, run by a local pool of two processes per wave, one per
// array task id, as a cluster would. The real cluster test above is the one that counts.
TEST_F(SlurmSweep, LocalProcessPoolRunsTheSameJobScriptWithoutSlurm) {
  const auto cfg = work.write("sweep.yaml", sweep_yaml(64));
  ASSERT_EQ(ubp({"plan", cfg, "--slurm", "array"}).exit_code, 0);
  const auto ids = manifest_ids();
  ASSERT_EQ(ids.size(), 4u);
  for (size_t wave = 0; wave < ids.size(); wave += 2) {
    std::vector<pid_t> pool;
    for (size_t task = wave; task < std::min(ids.size(), wave + 2); ++task) {
      pool.push_back(spawn({"env", "SLURM_ARRAY_TASK_ID=" + std::to_string(task), "bash",
                            work.file("array/job.sbatch")},
                           work.path().string(), work.file("task" + std::to_string(task) + ".out"),
                           work.file("task" + std::to_string(task) + ".err")));
    }
    for (size_t i = 0; i < pool.size(); ++i) {
      EXPECT_EQ(wait_exit_code(pool[i]), 0) << read_bytes(work.file("task" + std::to_string(wave + i) + ".err"));
    }
  }
  const auto status = ubp({"plan", cfg, "--slurm", "array", "--status"});
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_TRUE(contains(status.out, "4 planned runs: 4 done")) << status.out;
  for (size_t task = 0; task < ids.size(); ++task) {
    EXPECT_EQ(query(shard(task), "SELECT run_id FROM runs"), std::vector<std::string>{ids[task]});
  }
}

TEST_F(SlurmSweep, TaskRunsExactlyOnePlannedRunAndRefusesAnIndexOutsideThePlan) {
  const auto cfg = work.write("sweep.yaml", sweep_yaml(64));
  const auto listed = ubp({"plan", cfg});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(contains(listed.out, "4 planned runs")) << listed.out;
  EXPECT_TRUE(contains(listed.out, "prune.method=\"bed\"")) << listed.out;
  EXPECT_FALSE(fs::exists(work.file("merged.db"))) << "plan writes nothing";

  const auto one = ubp({"run", cfg, "--task", "2", "--db", "t.db"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(query(work.file("t.db"), "SELECT json_extract(config_json, '$.prune.method') FROM runs"),
            std::vector<std::string>{"bed"});
  const auto again = ubp({"run", cfg, "--task", "2", "--db", "t.db"});
  EXPECT_TRUE(contains(again.out, "1 run: 0 done now, 1 already done")) << again.out;

  const auto outside = ubp({"run", cfg, "--task", "4", "--db", "t.db"});
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_TRUE(contains(outside.err, "--task 4 is out of range")) << outside.err;
  EXPECT_TRUE(contains(outside.err, "plans 4 runs (accepted: 0 to 3)")) << outside.err;

  const auto bad_time = ubp({"plan", cfg, "--slurm", "array", "--time", "ten minutes"});
  EXPECT_EQ(bad_time.exit_code, 2);
  EXPECT_TRUE(contains(bad_time.err, "--time 'ten minutes' is not accepted")) << bad_time.err;
  const auto no_dir = ubp({"plan", cfg, "--status"});
  EXPECT_EQ(no_dir.exit_code, 2);
  EXPECT_TRUE(contains(no_dir.err, "--status needs --slurm DIR")) << no_dir.err;
}

TEST_F(SlurmSweep, ATaskTrainsAndOwesItsLatencyWhichALaterRunOnTheDeviceHostMeasuresOnce) {
  const auto cfg = work.write(
      "t.yaml",
      "experiment: {kind: training, seed: 1}\n"
      "data: {dataset: synthetic, image_size: 28, train_limit: 64, test_limit: 32}\n"
      "model: {name: mobilenet_v1, width: 0.25}\n"
      "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n"
      "prune: {method: bed, sparsity: 0.75, ramp_epochs: 0.5, finetune_epochs: 0.5, update_every: 1}\n"
      "latency: {devices: [local], sessions: 1, cooldown_s: 0, warmup: 1, warmup_s: 0, iterations: 3, min_seconds: 0}\n");
  const auto task = ubp({"run", cfg, "--task", "0", "--db", "runs/r.db"});
  ASSERT_EQ(task.exit_code, 0) << task.err;
  EXPECT_TRUE(contains(task.err, "latency on local is not measured on a cluster node")) << task.err;
  EXPECT_EQ(query(work.file("runs/r.db"), "SELECT status FROM runs"), std::vector<std::string>{"done"});
  EXPECT_EQ(query(work.file("runs/r.db"), "SELECT count(*) FROM latency"), std::vector<std::string>{"0"});

  // Elsewhere, a merged database whose kept models are not beside it: the latency stays owed.
  fs::create_directories(work.file("elsewhere"));
  fs::copy_file(work.file("runs/r.db"), work.file("elsewhere/m.db"));
  const auto away = ubp({"run", cfg, "--db", "elsewhere/m.db"});
  ASSERT_EQ(away.exit_code, 0) << away.err;
  EXPECT_TRUE(contains(away.err, "owes latency but its kept model")) << away.err;
  EXPECT_EQ(query(work.file("elsewhere/m.db"), "SELECT count(*) FROM latency"), std::vector<std::string>{"0"});

  // On the device host, next to the models: the done run is not trained again, its owed
  // latency is measured (dense and BED's unaligned format), and a further run owes nothing.
  const auto device_host = ubp({"run", cfg, "--db", "runs/r.db"});
  ASSERT_EQ(device_host.exit_code, 0) << device_host.err;
  EXPECT_TRUE(contains(device_host.out, "1 already done")) << device_host.out;
  EXPECT_TRUE(contains(device_host.out, "latency measured now for 1 done run that owed it")) << device_host.out;
  EXPECT_EQ(query(work.file("runs/r.db"), "SELECT kernel || ':' || device || ':' || status FROM latency ORDER BY kernel"),
            (std::vector<std::string>{"dense:local:ok", "unaligned:local:ok"}));
  const auto again = ubp({"run", cfg, "--db", "runs/r.db"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(contains(again.out, "latency measured now")) << again.out;
  EXPECT_EQ(query(work.file("runs/r.db"), "SELECT count(*) FROM latency"), std::vector<std::string>{"2"});
}

}  // namespace
}  // namespace ubp::testing

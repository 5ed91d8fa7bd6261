// Over 500 lines: the plan printer, the Slurm array writer and its status check share the plan and its quoting rules.
// ubp plan CONFIG [key=value ...] [--slurm DIR [--status] [sbatch settings]]
//
// Prints a sweep's planned runs, or turns them into a Slurm job array: DIR/manifest.tsv (one
// line per run), DIR/job.sbatch (task N runs `ubp run CONFIG --task N` into its own shard,
// DIR/shards/task-N.db), and with --status reads the shards back to say what is done. Slurm does
// the scheduling; ubp only plans, runs one task, and merges (`ubp db merge`). With --ntasks N each
// task's run is trained by N data-parallel processes that srun starts (train.distributed).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <cstring>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "config/config_error.h"
#include "config/plan.h"
#include "latency/run_latency.h"
#include "ubp/results/store.h"
#include "ubp/support/atomic_file.h"
#include "ubp/support/text.h"

namespace ubp::cli {

namespace {

namespace fs = std::filesystem;

struct PlanArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string slurm_dir;
  bool status = false;
  std::string partition, time, mem, ubp_path, job_name, interface;
  int64_t cpus = 0, parallel = -1;  // 0 / -1: take the config's slurm.cpus / slurm.parallel
  int64_t ntasks = 0, ntasks_per_node = 0;
  // Whether the flag was given: `--ntasks 0` must be refused, not read as "take the config's".
  bool ntasks_given = false, ntasks_per_node_given = false, interface_given = false;
};

// Settings of the array after flags (which win) and the config's slurm.* keys.
struct SlurmSettings {
  std::string partition, time, mem, job_name, interface;
  int64_t cpus = 1, parallel = 0;
  int64_t ntasks = 1, ntasks_per_node = 1;  // data-parallel processes per run, and per node
  bool data_parallel() const { return ntasks > 1; }
  int64_t nodes() const { return (ntasks + ntasks_per_node - 1) / ntasks_per_node; }
};

// Quotes `word` for the bash script, so overrides such as prune.block=[4,1] reach ubp
// untouched. A word with control characters (a newline in an override) becomes $'...' with
// escapes: every line of the script stays one command or one comment, so no user text can end
// a comment line and start a command, or put a command before the #SBATCH lines (sbatch stops
// reading them at the first line that is not a comment).
std::string shell_quote(const std::string& word) { return support::bash_quote(word); }

// Whether `value` is 1..128 characters, each in `allowed` (letters and digits always).
bool only_characters(const std::string& value, const char* allowed) {
  if (value.empty() || value.size() > 128) return false;
  for (char c : value) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::strchr(allowed, c) == nullptr) return false;
  }
  return true;
}

bool all_digits(const std::string& text, size_t begin, size_t end) {
  if (begin >= end) return false;
  for (size_t i = begin; i < end; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

// Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
bool is_slurm_time(const std::string& t) {
  if (t.empty() || t.size() > 32) return false;
  size_t start = 0;
  const size_t dash = t.find('-');
  if (dash != std::string::npos) {
    if (!all_digits(t, 0, dash)) return false;
    start = dash + 1;
  }
  size_t fields = 0;
  while (true) {
    const size_t colon = t.find(':', start);
    const size_t end = colon == std::string::npos ? t.size() : colon;
    if (!all_digits(t, start, end) || ++fields > 3) return false;
    if (colon == std::string::npos) return true;
    start = colon + 1;
  }
}

// Slurm's memory sizes: digits and an optional K, M, G or T.
bool is_slurm_memory(const std::string& m) {
  if (m.empty() || m.size() > 32) return false;
  const size_t digits = std::strchr("KMGT", m.back()) != nullptr ? m.size() - 1 : m.size();
  return all_digits(m, 0, digits);
}

// A path an #SBATCH line can hold: those lines cannot quote, and % starts a Slurm file-name
// pattern (%A, %a); a control character would end the line.
void check_sbatch_path(const std::string& path, const std::string& what) {
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || std::strchr(" %'\"\\#", c) != nullptr) {
      throw std::invalid_argument(what + " '" + support::excerpt(path) + "' contains white space, a control character, "
                                  "a quote, a backslash, # or %, which #SBATCH lines cannot hold (accepted: a path "
                                  "without them)");
    }
  }
}

std::string manifest_path(const fs::path& dir) { return (dir / "manifest.tsv").string(); }
std::string script_path(const fs::path& dir) { return (dir / "job.sbatch").string(); }
fs::path shards_dir(const fs::path& dir) { return dir / "shards"; }

std::string ubp_binary(const PlanArgs& args) {
  if (!args.ubp_path.empty()) return fs::absolute(args.ubp_path).string();
  // The binary running now is the one whose plan the tasks must reproduce.
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the ubp binary (/proc/self/exe); pass --ubp PATH");
  return self.string();
}

// The command that reproduces this plan, for the lines we print.
std::string plan_command_line(const PlanArgs& args, const std::string& extra) {
  std::string line = "ubp plan " + shell_quote(args.config);
  for (const auto& o : args.overrides) line += " " + shell_quote(o);
  return line + " --slurm " + shell_quote(args.slurm_dir) + extra;
}

void check_setting(const std::string& value, bool valid, const std::string& name, const std::string& accepted) {
  if (value.empty() || valid) return;
  throw std::invalid_argument(name + " '" + support::excerpt(value) + "' is not accepted (accepted: " + accepted + ")");
}

SlurmSettings slurm_settings(const PlanArgs& args, const config::Plan& plan) {
  auto campaign_string = [&](const char* key) {
    const auto it = plan.campaign.find(key);
    return it != plan.campaign.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto campaign_int = [&](const char* key, int64_t fallback) {
    const auto it = plan.campaign.find(key);
    return it != plan.campaign.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
  };
  SlurmSettings s;
  s.partition = args.partition.empty() ? campaign_string("slurm.partition") : args.partition;
  s.time = args.time.empty() ? campaign_string("slurm.time") : args.time;
  s.mem = args.mem.empty() ? campaign_string("slurm.mem") : args.mem;
  s.cpus = args.cpus > 0 ? args.cpus : campaign_int("slurm.cpus", 1);
  s.parallel = args.parallel >= 0 ? args.parallel : campaign_int("slurm.parallel", 0);
  s.job_name = args.job_name.empty() ? "ubp-" + fs::path(args.config).stem().string() : args.job_name;
  // These go into #SBATCH lines, which sbatch splits on white space: check them here rather
  // than let sbatch reject (or misread) the script later on the cluster.
  const std::string from = args.partition.empty() ? "slurm.partition" : "--partition";
  check_setting(s.partition, only_characters(s.partition, "_.,-"), from,
                "partition names, comma-separated, up to 128 characters");
  check_setting(s.time, is_slurm_time(s.time), args.time.empty() ? "slurm.time" : "--time",
                "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
  check_setting(s.mem, is_slurm_memory(s.mem), args.mem.empty() ? "slurm.mem" : "--mem",
                "a size such as 500M, 4G or 4096 (MiB)");
  check_setting(s.job_name, only_characters(s.job_name, "_.+-"), "--job-name",
                "letters, digits and _.+-, up to 128 characters");

  auto count = [](bool given, int64_t flag, int64_t from_config, const std::string& name, const char* accepted) {
    const int64_t value = given ? flag : from_config;
    if (value < 1) {
      throw std::invalid_argument(name + " " + std::to_string(value) + " is not accepted (accepted: " + accepted + ")");
    }
    return value;
  };
  s.ntasks = count(args.ntasks_given, args.ntasks, campaign_int("slurm.ntasks", 1),
                   args.ntasks_given ? "--ntasks" : "slurm.ntasks",
                   "1 or more processes per run; 1 trains each run in one process, without srun");
  s.ntasks_per_node = count(args.ntasks_per_node_given, args.ntasks_per_node, campaign_int("slurm.ntasks_per_node", 1),
                            args.ntasks_per_node_given ? "--ntasks-per-node" : "slurm.ntasks_per_node",
                            "1 or more processes per node");
  // More per node than there are processes would only ask Slurm for slots nobody uses.
  s.ntasks_per_node = std::min(s.ntasks_per_node, s.ntasks);
  s.interface = args.interface_given ? args.interface : campaign_string("slurm.interface");
  check_setting(s.interface, only_characters(s.interface, "_.:@-"), args.interface_given ? "--interface" : "slurm.interface",
                "a network interface name such as eth0, ib0 or lo; empty: the host name's address");
  return s;
}

void write_manifest(const config::Plan& plan, const fs::path& dir) {
  // Labels are JSON values: control characters inside them are escaped, so one run is one line.
  std::ostringstream out;
  out << "index\trun_id\tkind\tsweep_values\n";
  for (const auto& run : plan.runs) {
    out << run.index << '\t' << run.run_id << '\t' << run.kind << '\t' << run.label() << '\n';
  }
  support::write_file_atomically(manifest_path(dir), out.str());
}

// The body of a data-parallel task: srun starts `command` (ubp run CONFIG [overrides]) once per
// process, train.distributed taking world size and rank from SLURM_NTASKS and SLURM_PROCID. The
// bash given to srun is a fixed text; the values reach it as its arguments and environment, so
// only the outer script needs quoting.
void write_data_parallel_step(std::ostream& out, const SlurmSettings& s, const fs::path& dir,
                              const std::string& command) {
  const std::string rendezvous = shell_quote((dir / "rendezvous").string() + "/");
  out << "# The " << s.ntasks << " processes of this task meet through a file store in a folder of their own on the\n"
      << "# shared " << dir.string() << " (a requeued task starts over in an empty one).\n"
      << "scratch=" << rendezvous << "\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
      << "shard=" << shell_quote(shards_dir(dir).string() + "/") << "\"task-$SLURM_ARRAY_TASK_ID.db\"\n"
      << "rm -rf \"$scratch\"\n"
      << "mkdir -p \"$scratch/start\"\n"
      << "# Rank 0 writes the shard. The others write into copies of it taken now, before rank 0 opens it:\n"
      << "# a run becomes done only at the end of a training that needs every rank, so the copies skip\n"
      << "# exactly the runs rank 0 skips (else rank 0 would skip a done run that the others wait for).\n"
      << "for suffix in \"\" -wal -shm; do\n"
      << "  if [[ -e \"$shard$suffix\" ]]; then cp \"$shard$suffix\" \"$scratch/start/task.db$suffix\"; fi\n"
      << "done\n"
      << "export UBP_SHARD=\"$shard\" UBP_SCRATCH=\"$scratch\"\n"
      << "status=0\n"
      << "# --kill-on-bad-exit: a process that fails stops the others, which would wait in a collective.\n"
      << "# srun takes --cpus-per-task from its own command line only (Slurm 22.05 on).\n"
      << "srun --kill-on-bad-exit=1 --cpus-per-task=\"$SLURM_CPUS_PER_TASK\" bash -c '\n"
      << "  if [[ \"$SLURM_PROCID\" == 0 ]]; then exec \"$@\" --db \"$UBP_SHARD\"; fi\n"
      << "  copy=\"$UBP_SCRATCH/rank$SLURM_PROCID\"\n"
      << "  cp -r \"$UBP_SCRATCH/start\" \"$copy\"\n"
      << "  exec \"$@\" --db \"$copy/task.db\" latency.devices= output.report= >\"$copy.log\" 2>&1\n"
      << "' ubp-rank " << command << " \\\n"
      << "    train.distributed.world_size=0 \"train.distributed.rendezvous=file:$scratch/store\"";
  if (!s.interface.empty()) out << " " << shell_quote("train.distributed.interface=" + s.interface);
  out << " \\\n    --task \"$SLURM_ARRAY_TASK_ID\" || status=$?\n"
      << "# The store and the copies are throwaway; after a failure they keep the other ranks' logs.\n"
      << "if [[ \"$status\" == 0 ]]; then\n"
      << "  rm -rf \"$scratch\"\n"
      << "else\n"
      << "  echo \"srun exited with status $status; ranks 1.. logged to $scratch/rank*.log\" >&2\n"
      << "fi\n"
      << "exit \"$status\"\n";
}

void write_script(const PlanArgs& args, const config::Plan& plan, const SlurmSettings& s, const fs::path& dir) {
  const std::string last = std::to_string(plan.runs.size() - 1);
  const std::string chdir = fs::current_path().string();
  check_sbatch_path(chdir, "the working directory (#SBATCH --chdir)");
  std::ostringstream out;
  out << "#!/bin/bash\n"
      << "# Written by `" << plan_command_line(args, "") << "`.\n"
      << "# One array task per planned run (" << manifest_path(dir) << "); task N runs planned run N\n"
      << "# into its own shard. Resubmitting redoes only what is not done; `sbatch --array=2,5 "
      << script_path(dir) << "`\n# resubmits chosen tasks.\n"
      << "#SBATCH --job-name=" << s.job_name << "\n"
      << "#SBATCH --array=0-" << last << (s.parallel > 0 ? "%" + std::to_string(s.parallel) : "") << "\n"
      << "#SBATCH --output=" << (dir / "logs" / "%A_%a.out").string() << "\n"
      << "#SBATCH --chdir=" << chdir << "\n"
      << "#SBATCH --cpus-per-task=" << s.cpus << "\n";
  if (s.data_parallel()) {
    out << "#SBATCH --nodes=" << s.nodes() << "\n"
        << "#SBATCH --ntasks=" << s.ntasks << "\n"
        << "#SBATCH --ntasks-per-node=" << s.ntasks_per_node << "\n";
  }
  if (!s.partition.empty()) out << "#SBATCH --partition=" << s.partition << "\n";
  if (!s.time.empty()) out << "#SBATCH --time=" << s.time << "\n";
  if (!s.mem.empty()) out << "#SBATCH --mem=" << s.mem << "\n";
  out << "set -euo pipefail\n"
      << "# LibTorch and OpenBLAS would otherwise start a thread per core of the whole node.\n"
      << "export OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n";
  std::string command = shell_quote(ubp_binary(args)) + " run " + shell_quote(fs::absolute(args.config).string());
  for (const auto& o : args.overrides) command += " " + shell_quote(o);
  if (s.data_parallel()) {
    write_data_parallel_step(out, s, dir, command);
  } else {
    out << "exec " << command << " --task \"$SLURM_ARRAY_TASK_ID\" --db " << shell_quote(shards_dir(dir).string())
        << "\"/task-$SLURM_ARRAY_TASK_ID.db\"\n";
  }
  support::write_file_atomically(script_path(dir), out.str(), 0755);
}

int write_array(const PlanArgs& args, const config::Plan& plan) {
  if (plan.runs.empty()) return fail(args.config + " plans no runs: nothing to submit", 2);
  const fs::path dir = fs::absolute(args.slurm_dir);
  check_sbatch_path(dir.string(), "--slurm folder");
  const SlurmSettings settings = slurm_settings(args, plan);
  fs::create_directories(shards_dir(dir));
  fs::create_directories(dir / "logs");
  write_manifest(plan, dir);
  write_script(args, plan, settings, dir);

  const std::string db = plan.campaign.at("output.db").get<std::string>();
  std::printf("wrote %s (%zu run%s) and %s (array 0-%zu%s)\n", manifest_path(dir).c_str(), plan.runs.size(),
              plan.runs.size() == 1 ? "" : "s", script_path(dir).c_str(), plan.runs.size() - 1,
              settings.parallel > 0 ? ("%" + std::to_string(settings.parallel)).c_str() : "");
  if (plan.runs.size() > 1000) {
    std::printf("note: %zu tasks; clusters refuse arrays above their MaxArraySize (1001 by default)\n",
                plan.runs.size());
  }
  if (settings.data_parallel()) {
    std::printf("submit:   sbatch %s   (each task: one run trained by %lld processes on %lld node%s, srun)\n",
                script_path(dir).c_str(), static_cast<long long>(settings.ntasks),
                static_cast<long long>(settings.nodes()), settings.nodes() == 1 ? "" : "s");
    if (std::any_of(plan.runs.begin(), plan.runs.end(), [](const auto& run) { return run.kind != "training"; })) {
      std::printf("note: only training runs are data parallel; each of the %lld processes of another kind's task "
                  "runs it alone, and rank 0's result is kept\n",
                  static_cast<long long>(settings.ntasks));
    }
  } else {
    std::printf("submit:   sbatch %s\n", script_path(dir).c_str());
  }
  std::printf("watch:    %s   (and squeue --me)\n", plan_command_line(args, " --status").c_str());
  std::printf("resubmit: sbatch %s   (after failures or timeouts: runs already done are skipped)\n",
              script_path(dir).c_str());
  std::printf("merge:    ubp db merge %s/*.db --into %s\n", shards_dir(dir).string().c_str(), db.c_str());
  if (std::any_of(plan.runs.begin(), plan.runs.end(), latency::wants_latency)) {
    std::printf("latency:  owed by the tasks; on the device host: ubp db merge %s/task-*.db --into %s/all.db,\n"
                "          then ubp run %s --db %s/all.db (measures it, trains nothing again)\n",
                shards_dir(dir).string().c_str(), shards_dir(dir).string().c_str(), args.config.c_str(),
                shards_dir(dir).string().c_str());
  }
  return 0;
}

int print_plan(const config::Plan& plan) {
  std::printf("%5s  %-16s  %-10s  %s\n", "task", "run id", "kind", "sweep values");
  for (const auto& run : plan.runs) {
    std::printf("%5zu  %-16s  %-10s  %s\n", run.index, run.run_id.c_str(), run.kind.c_str(), run.label().c_str());
  }
  std::printf("%zu planned run%s; `--slurm DIR` writes them as a Slurm job array\n", plan.runs.size(),
              plan.runs.size() == 1 ? "" : "s");
  return 0;
}

int rank_of(results::RunStatus status) {
  switch (status) {
    case results::RunStatus::kDone: return 3;
    case results::RunStatus::kFailed: return 2;
    case results::RunStatus::kRunning: return 1;
    case results::RunStatus::kPending: return 0;
  }
  return 0;
}

// Run ids of the manifest written earlier, in task order; empty if there is none.
std::vector<std::string> manifest_run_ids(const fs::path& dir) {
  std::vector<std::string> ids;
  std::ifstream in(manifest_path(dir));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string index, run_id;
    std::getline(fields, index, '\t');
    std::getline(fields, run_id, '\t');
    ids.push_back(run_id);
  }
  return ids;
}

int print_status(const PlanArgs& args, const config::Plan& plan) {
  const fs::path dir = fs::absolute(args.slurm_dir);
  std::vector<std::string> expected;
  for (const auto& run : plan.runs) expected.push_back(run.run_id);
  if (fs::exists(manifest_path(dir)) && manifest_run_ids(dir) != expected) {
    std::fprintf(stderr,
                 "warning: %s lists other runs than this plan: the config or overrides changed since "
                 "`ubp plan --slurm`; job.sbatch runs the new plan, so write it again before resubmitting\n",
                 manifest_path(dir).c_str());
  }

  // The most advanced copy of each run over every shard, as `ubp db merge` would keep it.
  std::map<std::string, results::RunRow> best;
  size_t shards = 0, unreadable = 0;
  std::vector<fs::path> shard_files;
  if (fs::is_directory(shards_dir(dir))) {
    for (const auto& entry : fs::directory_iterator(shards_dir(dir))) {
      if (entry.path().extension() == ".db") shard_files.push_back(entry.path());
    }
  }
  std::sort(shard_files.begin(), shard_files.end());
  for (const auto& file : shard_files) {
    try {
      const auto store = results::Store::open(file.string(), results::OpenMode::kReadOnly);
      ++shards;
      for (auto& row : store.list_runs()) {
        auto it = best.find(row.run_id);
        if (it == best.end() || rank_of(row.status) > rank_of(it->second.status) ||
            (rank_of(row.status) == rank_of(it->second.status) && row.finished_at > it->second.finished_at)) {
          best[row.run_id] = std::move(row);
        }
      }
    } catch (const results::StoreError& e) {
      ++unreadable;
      std::fprintf(stderr, "warning: skipping shard: %s\n", e.what());
    }
  }

  size_t done = 0, failed = 0, running = 0, missing = 0;
  std::string not_done;
  std::printf("%5s  %-16s  %-8s  %-40s  %s\n", "task", "run id", "status", "sweep values", "detail");
  for (const auto& run : plan.runs) {
    const auto it = best.find(run.run_id);
    std::string status = "missing", detail;
    if (it != best.end()) {
      const results::RunRow& row = it->second;
      switch (row.status) {
        case results::RunStatus::kDone:
          status = "done";
          detail = "finished " + row.finished_at + " on " + row.host;
          break;
        case results::RunStatus::kFailed:
          status = "failed";
          detail = row.error;
          break;
        case results::RunStatus::kRunning:
          // A task killed by Slurm (time limit, node failure) also leaves its run `running`.
          status = "running";
          detail = "since " + row.started_at + " on " + row.host + " (or killed: see " + (dir / "logs").string() + ")";
          break;
        case results::RunStatus::kPending:
          status = "missing";  // registered, never started
          break;
      }
    }
    if (status == "done") {
      ++done;
    } else {
      failed += status == "failed";
      running += status == "running";
      missing += status == "missing";
      not_done += (not_done.empty() ? "" : ",") + std::to_string(run.index);
    }
    std::printf("%5zu  %-16s  %-8s  %-40s  %s\n", run.index, run.run_id.c_str(), status.c_str(),
                run.label().c_str(), detail.c_str());
  }
  std::printf("%zu planned run%s: %zu done, %zu failed, %zu running, %zu missing (%zu shard%s in %s%s)\n",
              plan.runs.size(), plan.runs.size() == 1 ? "" : "s", done, failed, running, missing, shards,
              shards == 1 ? "" : "s", shards_dir(dir).string().c_str(),
              unreadable > 0 ? (", " + std::to_string(unreadable) + " unreadable").c_str() : "");
  if (!not_done.empty()) {
    std::printf("to redo them: sbatch %s   (or only these tasks: sbatch --array=%s %s)\n",
                script_path(dir).c_str(), not_done.c_str(), script_path(dir).c_str());
  } else {
    const std::string db = plan.campaign.at("output.db").get<std::string>();
    std::printf("all done: ubp db merge %s/*.db --into %s\n", shards_dir(dir).string().c_str(), db.c_str());
  }
  return not_done.empty() && unreadable == 0 ? 0 : 1;
}

int plan_main(const PlanArgs& args) {
  config::Plan plan;
  try {
    plan = config::make_plan(args.config, args.overrides);
  } catch (const config::ConfigError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: invalid config (nothing was written):\n");
    for (const auto& issue : e.issues()) std::fprintf(stderr, "  %s\n", issue.format().c_str());
    return 2;
  }
  try {
    if (args.slurm_dir.empty()) return print_plan(plan);
    if (args.status) return print_status(args, plan);
    return write_array(args, plan);
  } catch (const std::invalid_argument& e) {
    return fail(e.what(), 2);
  } catch (const fs::filesystem_error& e) {
    return fail(e.what(), 2);
  } catch (const support::FileError& e) {
    return fail(std::string("cannot write the Slurm files: ") + e.what(), 1);
  }
}

}  // namespace

Command add_plan_command(CLI::App& app) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* sub = app.add_subcommand(
      "plan",
      "Print a config's planned runs (task numbers for `ubp run --task`), or with --slurm DIR write them\n"
      "as a Slurm job array: DIR/manifest.tsv and DIR/job.sbatch, each task running one planned run into\n"
      "its own shard DIR/shards/task-N.db. With --status, say which runs are done, failed, running or\n"
      "missing across the shards; the exit status is 0 only when all are done. With --ntasks N each task's\n"
      "run is trained by N data-parallel processes that srun starts; rank 0 writes the shard.");
  sub->add_option("config", args->config, "YAML config, e.g. configs/sweeps/selection-quickstart.yaml")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("overrides", args->overrides, "Dotted overrides key=value, passed on to every task");
  sub->add_option("--slurm", args->slurm_dir, "Folder for the manifest, the sbatch script, shards and logs");
  sub->add_flag("--status", args->status, "Report the runs' status from DIR/shards/*.db (needs --slurm)");
  sub->add_option("--partition", args->partition, "Slurm partition (default: the config's slurm.partition)");
  sub->add_option("--time", args->time, "Time limit per task, e.g. 02:00:00 (default: slurm.time)");
  sub->add_option("--cpus", args->cpus, "CPUs per task (default: slurm.cpus)")->check(CLI::PositiveNumber);
  sub->add_option("--mem", args->mem, "Memory per task, e.g. 8G (default: slurm.mem)");
  sub->add_option("--parallel", args->parallel, "Tasks running at once, 0 for no limit (default: slurm.parallel)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--job-name", args->job_name, "Slurm job name (default: ubp-<config file name>)");
  sub->add_option("--ubp", args->ubp_path, "ubp binary the tasks run (default: this one), as the nodes see it");
  CLI::Option* ntasks = sub->add_option(
      "--ntasks", args->ntasks,
      "Data-parallel processes training each task's run, started by srun (default: slurm.ntasks, 1)");
  CLI::Option* per_node = sub->add_option(
      "--ntasks-per-node", args->ntasks_per_node,
      "Of those, at most this many per node; the task asks for ceil(N/K) nodes (default: slurm.ntasks_per_node, 1)");
  CLI::Option* interface = sub->add_option(
      "--interface", args->interface,
      "Network interface the processes' Gloo traffic uses, e.g. eth0 (default: slurm.interface; empty: the "
      "host name's address)");
  return {sub, [args, ntasks, per_node, interface] {
            args->ntasks_given = ntasks->count() > 0;
            args->ntasks_per_node_given = per_node->count() > 0;
            args->interface_given = interface->count() > 0;
            if (args->status && args->slurm_dir.empty()) {
              return fail("--status needs --slurm DIR: the folder whose shards to read", 2);
            }
            return plan_main(*args);
          }};
}

}  // namespace ubp::cli

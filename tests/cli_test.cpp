// The `ubp` command line end to end: runs, skips, failures, bad input, merge, info, report.
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/ubp_fixture.h"
#include "ubp/results/store.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;
using CommandLine = UbpTest;

TEST_F(CommandLine, RunsASweepAndSkipsDoneRunsOnTheNextRun) {
  const auto cfg = sweep_config("s.yaml", "[0.5, 0.7, 0.9]");
  const auto first = ubp({"run", cfg, "--db", "r.db"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(contains(first.out, "3 runs: 3 done now, 0 already done, 0 failed")) << first.out;
  EXPECT_TRUE(contains(first.err, "[3/3]")) << "a progress line per run: " << first.err;
  EXPECT_TRUE(contains(first.err, "left")) << first.err;

  const auto db = work.file("r.db");
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs WHERE status='done'"), std::vector<std::string>{"3"});
  EXPECT_EQ(query(db, "SELECT count(*) FROM layers"), std::vector<std::string>{"6"});
  for (const auto& id : query(db, "SELECT run_id FROM runs")) {
    EXPECT_TRUE(fs::exists(work.path() / "logs" / (id + ".log"))) << "a log file per run beside the database";
  }

  const auto second = ubp({"run", cfg, "--db", "r.db"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(contains(second.out, "3 runs: 0 done now, 3 already done, 0 failed")) << second.out;
  EXPECT_EQ(query(db, "SELECT sum(attempts) FROM runs"), std::vector<std::string>{"3"});
}

TEST_F(CommandLine, RecordsTheIdentityOfEachRunAsItsResolvedConfig) {
  const auto cfg = sweep_config("s.yaml", "[0.5]");
  ASSERT_EQ(ubp({"run", cfg, "--db", "r.db"}).exit_code, 0);
  const auto json = query(work.file("r.db"), "SELECT config_json FROM runs");
  ASSERT_EQ(json.size(), 1u);
  const auto resolved = nlohmann::json::parse(json[0]);
  EXPECT_EQ(resolved["prune"]["sparsity"], 0.5);
  EXPECT_EQ(resolved["prune"]["norm"], "l1") << "defaults are filled in";
  EXPECT_EQ(query(work.file("r.db"), "SELECT value_json FROM params WHERE key='selection.rows'"),
            std::vector<std::string>{"64"});
}

TEST_F(CommandLine, DryRunPrintsThePlanWithoutWritingAnything) {
  const auto cfg = sweep_config("s.yaml", "[0.5, 0.7]");
  const auto before = ubp({"run", cfg, "--db", "r.db", "--dry-run"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_TRUE(contains(before.out, "2 planned runs, 0 already done, 2 to run")) << before.out;
  EXPECT_TRUE(contains(before.out, "prune.sparsity=0.7")) << before.out;
  EXPECT_FALSE(fs::exists(work.file("r.db")));

  ASSERT_EQ(ubp({"run", cfg, "--db", "r.db", "prune.sparsity=0.5"}).exit_code, 0);
  const auto after = ubp({"run", cfg, "--db", "r.db", "-n"});
  EXPECT_TRUE(contains(after.out, "2 planned runs, 1 already done, 1 to run")) << after.out;
}

TEST_F(CommandLine, AFailedRunIsRecordedAndTheSweepGoesOnButTheExitStatusSaysSo) {
  // MobileNetV1 has no k x k layers to prune: that run fails when it runs, not when planned.
  const auto cfg = work.write("f.yaml",
                              "experiment: {kind: selection}\n"
                              "selection: {source: model, model: mobilenet_v1}\n"
                              "sweep:\n  selection.layers: [conv, pointwise]\n");
  const auto result = ubp({"run", cfg, "--db", "r.db"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.out, "2 runs: 1 done now, 0 already done, 1 failed")) << result.out;
  const auto db = work.file("r.db");
  EXPECT_EQ(query(db, "SELECT status FROM runs ORDER BY status"), (std::vector<std::string>{"done", "failed"}));
  const auto error = query(db, "SELECT error FROM runs WHERE status='failed'");
  ASSERT_EQ(error.size(), 1u);
  EXPECT_TRUE(contains(error[0], "no prunable 'conv' layers")) << error[0];

  // The next run retries the failed run only.
  const auto again = ubp({"run", cfg, "--db", "r.db"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.out, "0 done now, 1 already done, 1 failed")) << again.out;
}

TEST_F(CommandLine, ConfigErrorsAreReportedTogetherWithFileLineAndKey) {
  const auto cfg = work.write("bad.yaml",
                              "experiment:\n  kind: selection\nprune:\n  sparsty: 0.5\n  block: wide\n"
                              "selection:\n  rows: -4\n");
  const auto result = ubp({"run", cfg, "--db", "r.db"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "invalid config (3 problems; nothing was run)")) << result.err;
  EXPECT_TRUE(contains(result.err, cfg + ":4:3: prune.sparsty: unknown key; did you mean 'prune.sparsity'?"))
      << result.err;
  EXPECT_TRUE(contains(result.err, cfg + ":5:10: prune.block: wrong type")) << result.err;
  EXPECT_TRUE(contains(result.err, cfg + ":7:9: selection.rows: value -4 is out of range")) << result.err;
  EXPECT_FALSE(fs::exists(work.file("r.db"))) << "nothing runs before the config is valid";
}

TEST_F(CommandLine, EachKindOfBadInputGivesAClearErrorAndANonZeroExit) {
  struct Case {
    std::string name, yaml, expected;
  };
  const std::vector<Case> cases = {
      {"malformed.yaml", "experiment: {kind: selection\n", "malformed YAML"},
      {"unknown.yaml", "experiment: {kind: selection}\ncolour: red\n", "colour: unknown key"},
      {"type.yaml", "experiment: {kind: selection}\nprune: {sparsity: [1]}\n", "is not a number"},
      {"range.yaml", "experiment: {kind: selection}\nprune: {sparsity: 1.01}\n", "out of range"},
      {"allowed.yaml", "experiment: {kind: trianing}\n", "is not allowed (did you mean 'training'?)"},
      {"missing.yaml", "prune: {sparsity: 0.5}\n", "experiment.kind: required key is missing"},
      {"include.yaml", "include: gone.yaml\nexperiment: {kind: selection}\n", "included file 'gone.yaml' not found"},
  };
  for (const auto& c : cases) {
    const auto result = ubp({"run", work.write(c.name, c.yaml), "--db", "r.db"});
    EXPECT_EQ(result.exit_code, 2) << c.name;
    EXPECT_TRUE(contains(result.err, c.expected)) << c.name << ": " << result.err;
    EXPECT_TRUE(contains(result.err, c.name)) << "names the file: " << result.err;
    EXPECT_EQ(line_count(result.err), 1u) << "one problem, one line: " << result.err;
  }
  const auto override_result = ubp({"run", sweep_config("s.yaml", "[0.5]"), "--db", "r.db", "prune.blok=4x1"});
  EXPECT_EQ(override_result.exit_code, 2);
  EXPECT_TRUE(contains(override_result.err, "command line override 'prune.blok=4x1'")) << override_result.err;
  EXPECT_FALSE(fs::exists(work.file("r.db")));
}

// The database must be left byte for byte as it was whenever ubp refuses it.
TEST_F(CommandLine, ANonSqliteDatabaseIsRefusedAndLeftUntouched) {
  const auto db = work.write("notes.db", "these are my notes, not a database\n");
  const auto cfg = sweep_config("s.yaml", "[0.5]");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"run", cfg, "--db", db}, {"db", "info", db}, {"report", "--db", db, "--out", "rep"},
           {"db", "merge", db, "--into", "c.db"}}) {
    const auto result = ubp(args);
    EXPECT_EQ(result.exit_code, 2) << args[0];
    EXPECT_TRUE(contains(result.err, "not a SQLite database")) << result.err;
    EXPECT_TRUE(contains(result.err, db)) << result.err;
    EXPECT_EQ(line_count(result.err), 1u) << "one line: " << result.err;
  }
  EXPECT_EQ(read_bytes(db), "these are my notes, not a database\n");
  EXPECT_FALSE(fs::exists(work.file("c.db"))) << "a bad merge source is refused before the destination is made";
}

TEST_F(CommandLine, ADatabaseFromANewerSchemaIsRefusedAndLeftUntouched) {
  const auto db = work.file("new.db");
  {
    auto store = results::Store::open(db);
    ASSERT_EQ(sqlite3_exec(store.raw_handle(), "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  const std::string bytes = read_bytes(db);
  const auto result = ubp({"run", sweep_config("s.yaml", "[0.5]"), "--db", db});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "newer")) << result.err;
  EXPECT_EQ(line_count(result.err), 1u) << result.err;
  EXPECT_EQ(read_bytes(db), bytes);
  EXPECT_EQ(ubp({"db", "info", db}).exit_code, 2);
}

// Makes a directory read-only for this process, root included (chattr +i), or for a
// non-root user (chmod); undoes it on destruction.
class ReadOnlyDirectory {
 public:
  explicit ReadOnlyDirectory(const std::string& path) : path_(path) {
    if (geteuid() != 0) {
      ok_ = chmod(path.c_str(), 0555) == 0;
      chmod_ = true;
    } else {
      ok_ = run_process({"chattr", "+i", path}, "").exit_code == 0;
    }
  }
  ~ReadOnlyDirectory() {
    if (!ok_) return;
    if (chmod_) chmod(path_.c_str(), 0755);
    else run_process({"chattr", "-i", path_}, "");
  }
  bool ok() const { return ok_; }

 private:
  std::string path_;
  bool ok_ = false, chmod_ = false;
};

TEST_F(CommandLine, ADatabaseInAReadOnlyDirectoryIsRefusedAndKeepsItsRuns) {
  fs::create_directories(work.path() / "ro");
  const auto db = (work.path() / "ro" / "r.db").string();
  const auto cfg = sweep_config("s.yaml", "[0.5, 0.7]");
  ASSERT_EQ(ubp({"run", cfg, "--db", db, "prune.sparsity=0.5"}).exit_code, 0);
  const std::string bytes = read_bytes(db);
  {
    ReadOnlyDirectory guard((work.path() / "ro").string());
    ASSERT_TRUE(guard.ok()) << "could not make a directory read-only (chattr +i as root, chmod otherwise)";
    const auto result = ubp({"run", cfg, "--db", db});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(contains(result.err, db)) << result.err;
    EXPECT_EQ(line_count(result.err), 1u) << result.err;
    EXPECT_EQ(read_bytes(db), bytes);
  }
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs WHERE status='done'"), std::vector<std::string>{"1"});
}

TEST_F(CommandLine, ADatabaseThatCannotBeCreatedIsAClearError) {
  work.write("plain-file", "x");
  const auto result = ubp({"run", sweep_config("s.yaml", "[0.5]"), "--db", "plain-file/r.db"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "plain-file/r.db")) << result.err;
}

TEST_F(CommandLine, MergeCombinesDatabasesWithoutDuplicatingRuns) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5, 0.7]"), "--db", "a.db"}).exit_code, 0);
  ASSERT_EQ(ubp({"run", sweep_config("b.yaml", "[0.7, 0.9]"), "--db", "b.db"}).exit_code, 0);
  const auto merged = ubp({"db", "merge", "a.db", "b.db", "--into", "c.db"});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const auto c = work.file("c.db");
  EXPECT_EQ(query(c, "SELECT count(*) FROM runs"), std::vector<std::string>{"3"});
  EXPECT_EQ(query(c, "SELECT count(*) FROM layers"), std::vector<std::string>{"6"});
  // Each distinct run's metrics exactly once: a.db holds two runs' worth.
  const int per_run = std::stoi(query(work.file("a.db"), "SELECT count(*) FROM metrics")[0]) / 2;
  EXPECT_EQ(query(c, "SELECT count(*) FROM metrics"), std::vector<std::string>{std::to_string(3 * per_run)});

  ASSERT_EQ(ubp({"db", "merge", "a.db", "b.db", "--into", "c.db"}).exit_code, 0);
  EXPECT_EQ(query(c, "SELECT count(*) FROM runs"), std::vector<std::string>{"3"});
  // Every run of the combined sweep is now already done in the merged database.
  const auto rerun = ubp({"run", sweep_config("all.yaml", "[0.5, 0.7, 0.9]"), "--db", "c.db"});
  EXPECT_TRUE(contains(rerun.out, "0 done now, 3 already done")) << rerun.out;
}

TEST_F(CommandLine, DbInfoSummarisesADatabase) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5, 0.7]"), "--db", "a.db"}).exit_code, 0);
  const auto text = ubp({"db", "info", "a.db"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "2: 2 done, 0 failed")) << text.out;
  const auto json = ubp({"db", "info", "a.db", "--json"});
  const auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["runs"]["done"], 2);
  EXPECT_EQ(parsed["runs_by_kind"]["selection"], 2);
  EXPECT_EQ(parsed["rows"]["layers"], 4);
  EXPECT_EQ(ubp({"db", "info", "absent.db"}).exit_code, 2);
  EXPECT_FALSE(fs::exists(work.file("absent.db"))) << "info never creates a database";
}

TEST_F(CommandLine, ReportWritesATableOfTheVaryingParametersAndMetrics) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5, 0.9]"), "--db", "a.db", "--report", "rep"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(work.file("rep/report.md")));
  const auto result = ubp({"report", "--db", "a.db", "--out", "rep2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string md = read_bytes(work.file("rep2/report.md"));
  EXPECT_TRUE(contains(md, "### selection (2 runs)")) << md;
  EXPECT_TRUE(contains(md, "| run | prune.sparsity | kept_blocks | layers | retained_fraction |")) << md;
  EXPECT_TRUE(contains(md, "`selection.rows=64`")) << md;
  const auto kept = query(work.file("a.db"), "SELECT CAST(value AS INTEGER) FROM metrics WHERE key='kept_blocks'");
  ASSERT_EQ(kept.size(), 2u);
  for (const auto& k : kept) EXPECT_TRUE(contains(md, "| " + k + " |")) << k;
}

TEST_F(CommandLine, ReportWhereFiltersTheRunsAndWritesCsvAndLatexTables) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5, 0.9]"), "--db", "a.db"}).exit_code, 0);
  const auto result = ubp({"report", "--db", "a.db", "--out", "rep", "--where", "prune.sparsity=0.90"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "(1 of 2 runs")) << result.out;
  const std::string md = read_bytes(work.file("rep/report.md"));
  EXPECT_TRUE(contains(md, "`--where prune.sparsity=0.90`: 1 of 2 runs")) << md;
  EXPECT_TRUE(contains(md, "### selection (1 run)")) << md;
  EXPECT_TRUE(fs::exists(work.file("rep/tables/selection.csv")));
  EXPECT_TRUE(fs::exists(work.file("rep/tables/selection.tex")));

  const auto none = ubp({"report", "--db", "a.db", "--out", "rep2", "--where", "prune.sparsity=0.7"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_TRUE(contains(none.err, "no run matches --where prune.sparsity=0.7")) << none.err;
  EXPECT_TRUE(contains(none.err, "2 runs before filtering")) << none.err;
  EXPECT_FALSE(fs::exists(work.file("rep2")));
  const auto unknown = ubp({"report", "--db", "a.db", "--out", "rep2", "--where", "model.arch=x"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(contains(unknown.err, "known: ")) << unknown.err;
}

TEST_F(CommandLine, ReportOfAnEmptyDatabaseSaysSoAndWritesNothing) {
  { results::Store::open(work.file("empty.db")); }
  const auto result = ubp({"report", "--db", "empty.db", "--out", "rep"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "holds no runs")) << result.err;
  EXPECT_FALSE(fs::exists(work.file("rep/report.md")));
}

TEST_F(CommandLine, EverySubcommandHasHelp) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"run", "--help"}, {"db", "--help"}, {"db", "info", "--help"},
           {"db", "merge", "--help"}, {"report", "--help"}, {"select", "--help"}}) {
    const auto result = ubp(args);
    EXPECT_EQ(result.exit_code, 0) << args[0];
    EXPECT_TRUE(contains(result.out, "Usage:") || contains(result.out, "USAGE")) << result.out;
  }
  const auto bare = ubp({});
  EXPECT_EQ(bare.exit_code, 2) << "a subcommand is required";
  EXPECT_TRUE(contains(bare.out, "Usage:")) << "bare ubp shows what it can do: " << bare.out;
  EXPECT_TRUE(contains(ubp({"--version"}).out, "LibTorch 1.13"));
}

TEST_F(CommandLine, AnUnknownCommandOrOptionIsAOneLineUsageError) {
  const auto command = ubp({"rnu", "x.yaml"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_TRUE(contains(command.err, "unknown command 'rnu' (accepted: run, db, report, select")) << command.err;
  EXPECT_EQ(line_count(command.err), 1u) << command.err;
  const auto option = ubp({"report", "--db", "x.db", "--out", "r", "--colour"});
  EXPECT_EQ(option.exit_code, 2);
  EXPECT_TRUE(contains(option.err, "--colour")) << option.err;
  EXPECT_EQ(line_count(option.err), 1u) << option.err;
}

TEST_F(CommandLine, QuietHidesProgressAndVerboseShowsTheRunsOwnLog) {
  const auto cfg = sweep_config("s.yaml", "[0.5]");
  const auto quiet = ubp({"run", cfg, "--db", "q.db", "--quiet"});
  ASSERT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "");
  const auto verbose = ubp({"run", cfg, "--db", "v.db", "--verbose"});
  ASSERT_EQ(verbose.exit_code, 0);
  EXPECT_TRUE(contains(verbose.err, "layer 1/2 matrix0 64x48")) << verbose.err;
}

}  // namespace
}  // namespace ubp::testing

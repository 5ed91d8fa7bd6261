// Where `ubp run` and `ubp report` write a report, and how a new report replaces an old one.
#include <filesystem>

#include "support/ubp_fixture.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;
using ReportFolder = UbpTest;

// Everything in `dir` whose name starts with '.' and holds ".new-": a new report's scratch
// folder, which must never be left behind.
std::vector<std::string> scratch_folders(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.front() == '.' && contains(name, ".new-")) found.push_back(name);
  }
  return found;
}

TEST_F(ReportFolder, OfRunWithDbIsBesideThatDatabaseSoTwoDatabasesGetTwoReports) {
  // Both configs ask for the same output.report: with --db each report goes beside its database.
  const std::string extra = "output: {report: shared-report}\n";
  const auto a = ubp({"run", sweep_config("a.yaml", "[0.5]", extra), "--db", "one/a.db"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto b = ubp({"run", sweep_config("b.yaml", "[0.9]", extra), "--db", "two/b.db"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(contains(a.out, "report: " + (fs::path("one") / "a-report" / "report.md").string())) << a.out;
  const std::string report_a = read_bytes(work.file("one/a-report/report.md"));
  const std::string report_b = read_bytes(work.file("two/b-report/report.md"));
  EXPECT_TRUE(contains(report_a, "one/a.db")) << report_a;
  EXPECT_TRUE(contains(report_a, "prune.sparsity=0.5")) << report_a;
  EXPECT_TRUE(contains(report_b, "two/b.db")) << report_b;
  EXPECT_TRUE(contains(report_b, "prune.sparsity=0.9")) << report_b;
  EXPECT_FALSE(fs::exists(work.file("shared-report")));
}

TEST_F(ReportFolder, OfRunIsTheConfigsWithoutDbTheFlagsWithReportAndNoneWhenTheConfigAsksForNone) {
  const auto cfg = sweep_config("a.yaml", "[0.5]", "output: {db: runs/a.db, report: runs/configured}\n");
  ASSERT_EQ(ubp({"run", cfg}).exit_code, 0);
  EXPECT_TRUE(fs::exists(work.file("runs/configured/report.md")));
  ASSERT_EQ(ubp({"run", cfg, "--db", "x.db", "--report", "mine"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(work.file("mine/report.md")));
  EXPECT_FALSE(fs::exists(work.file("x-report")));
  ASSERT_EQ(ubp({"run", sweep_config("quiet.yaml", "[0.5]"), "--db", "y.db"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(work.file("y-report"))) << "no output.report in the config: no report";
}

TEST_F(ReportFolder, ASecondReportLeavesNoStaleFile) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5, 0.9]"), "--db", "a.db"}).exit_code, 0);
  const std::string run = query(work.file("a.db"), "SELECT run_id FROM runs LIMIT 1")[0];
  // The first report has a table of one run's layers; the second does not ask for it.
  const auto first = ubp({"report", "--db", "a.db", "--out", "rep", "--run", run, "--no-figures"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string layer_table = work.file("rep/tables/layers-" + run + ".csv");
  ASSERT_TRUE(fs::exists(layer_table));
  work.write("rep/notes-from-last-week.txt", "stale\n");
  const auto second = ubp({"report", "--db", "a.db", "--out", "rep", "--no-figures"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(contains(second.out, "report: rep/report.md")) << second.out;
  EXPECT_TRUE(fs::exists(work.file("rep/report.md")));
  EXPECT_TRUE(fs::exists(work.file("rep/tables/selection.csv")));
  EXPECT_FALSE(fs::exists(layer_table));
  EXPECT_FALSE(fs::exists(work.file("rep/notes-from-last-week.txt")));
  EXPECT_TRUE(scratch_folders(work.path()).empty());
  // A report folder is as readable as any other new folder (the scratch folder starts private).
  fs::create_directory(work.file("reference"));
  EXPECT_EQ(fs::status(work.file("rep")).permissions(), fs::status(work.file("reference")).permissions());
}

TEST_F(ReportFolder, BehindALinkIsReplacedWhereTheLinkPointsAndTheLinkStays) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5]"), "--db", "a.db"}).exit_code, 0);
  ASSERT_EQ(ubp({"report", "--db", "a.db", "--out", "site/rep", "--no-figures"}).exit_code, 0);
  work.write("site/rep/stale.txt", "old\n");
  fs::create_directory_symlink("site/rep", work.file("latest"));
  const auto r = ubp({"report", "--db", "a.db", "--out", "latest", "--no-figures"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(work.file("latest")));
  EXPECT_TRUE(fs::exists(work.file("site/rep/report.md")));
  EXPECT_FALSE(fs::exists(work.file("site/rep/stale.txt")));
  EXPECT_TRUE(scratch_folders(work.path() / "site").empty());
}

TEST_F(ReportFolder, ThatCannotBeBuiltLeavesTheEarlierReportAsItWas) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5, 0.9]"), "--db", "a.db"}).exit_code, 0);
  ASSERT_EQ(ubp({"report", "--db", "a.db", "--out", "out/rep", "--no-figures"}).exit_code, 0);
  const std::string before = read_bytes(work.file("out/rep/report.md"));
  const auto none = ubp({"report", "--db", "a.db", "--out", "out/rep", "--where", "prune.sparsity=0.7"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_TRUE(contains(none.err, "no run matches")) << none.err;
  EXPECT_EQ(read_bytes(work.file("out/rep/report.md")), before);
  EXPECT_TRUE(scratch_folders(work.path() / "out").empty());
}

TEST_F(ReportFolder, IsNeverAFolderHoldingOtherFiles) {
  ASSERT_EQ(ubp({"run", sweep_config("a.yaml", "[0.5]"), "--db", "a.db"}).exit_code, 0);
  work.write("paper/draft.tex", "\\documentclass{article}\n");
  const auto refused = ubp({"report", "--db", "a.db", "--out", "paper", "--no-figures"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(contains(refused.err, "holds files but no report.md")) << refused.err;
  EXPECT_TRUE(fs::exists(work.file("paper/draft.tex")));
  EXPECT_FALSE(fs::exists(work.file("paper/report.md")));
  EXPECT_TRUE(scratch_folders(work.path()).empty());
  // An empty folder is fine, and so is "rep/" for "rep".
  fs::create_directories(work.file("empty"));
  EXPECT_EQ(ubp({"report", "--db", "a.db", "--out", "empty/", "--no-figures"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(work.file("empty/report.md")));
}

}  // namespace
}  // namespace ubp::testing

// Runs record the code that produced them, and `ubp report` says when a table mixes code
// versions: the real binary on a real database.
#include <sqlite3.h>

#include "support/ubp_fixture.h"

namespace ubp::testing {
namespace {

using Provenance = UbpTest;

TEST_F(Provenance, EveryRunRecordsTheVersionCommitTreeStateAndBuildTypeOfTheBinary) {
  const auto cfg = sweep_config("s.yaml", "[0.5, 0.8]");
  const auto db = work.file("p.db");
  ASSERT_EQ(ubp({"run", cfg, "--db", db, "--quiet"}).exit_code, 0);
  const auto version = ubp({"--version"}).out;
  const auto rows = query(db, "SELECT ubp_version || '|' || git_commit || '|' || coalesce(git_dirty, 'unknown') || "
                              "'|' || build_type FROM runs");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], rows[1]);
  const std::string commit = rows[0].substr(rows[0].find('|') + 1, rows[0].find('|', rows[0].find('|') + 1) -
                                                                       rows[0].find('|') - 1);
  EXPECT_TRUE(contains(version, "ubp " + rows[0].substr(0, rows[0].find('|')) + ", commit " + commit.substr(0, 12)))
      << version << " vs " << rows[0];
  // The build recorded a commit of the source tree (one without git metadata says unknown).
  if (run_process({"git", "-C", UBP_SOURCE_DIR, "rev-parse", "HEAD"}, work.path().string()).exit_code == 0) {
    ASSERT_EQ(commit.size(), 40u) << commit;
    EXPECT_EQ(run_process({"git", "-C", UBP_SOURCE_DIR, "cat-file", "-e", commit + "^{commit}"}, work.path().string())
                  .exit_code,
              0)
        << commit << " is no commit of " << UBP_SOURCE_DIR;
  } else {
    EXPECT_EQ(commit, "unknown");
  }
}

TEST_F(Provenance, AReportSaysWhenATablesRowsComeFromDifferentCode) {
  const auto cfg = sweep_config("s.yaml", "[0.5, 0.8, 0.9]");
  const auto db = work.file("p.db");
  ASSERT_EQ(ubp({"run", cfg, "--db", db, "--quiet"}).exit_code, 0);
  ASSERT_EQ(ubp({"report", "--db", db, "--out", work.file("same"), "--no-figures"}).exit_code, 0);
  EXPECT_FALSE(contains(read_bytes(work.file("same/report.md")), "code versions"));

  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(handle,
                         "UPDATE runs SET git_commit = 'feedfacefeedfacefeedfacefeedfacefeedface' WHERE rowid = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(handle);
  const auto report = ubp({"report", "--db", db, "--out", work.file("mixed"), "--no-figures"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const std::string markdown = read_bytes(work.file("mixed/report.md"));
  EXPECT_TRUE(contains(markdown, "Rows come from 2 code versions: ")) << markdown;
  EXPECT_TRUE(contains(markdown, "commit feedfacefeed")) << markdown;
  EXPECT_TRUE(contains(markdown, "(1 run)")) << markdown;
  EXPECT_TRUE(contains(markdown, "(2 runs)")) << markdown;
}

}  // namespace
}  // namespace ubp::testing

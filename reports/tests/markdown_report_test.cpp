#include "ubp/reports/markdown_report.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace ubp::reports {
namespace {

using ubp::testing::read_bytes;
using ubp::testing::TempDir;

results::Param param(const std::string& key, const std::string& json) {
  results::Param p{key, json, std::nullopt};
  if (!json.empty() && (std::isdigit(static_cast<unsigned char>(json[0])) != 0)) p.number = std::stod(json);
  return p;
}

void add_run(results::Store& store, const std::string& id, const std::string& kind, const std::string& sparsity,
             double retained) {
  store.register_run(id, kind, "{}",
                     {param("prune.sparsity", sparsity), param("prune.method", "\"aligned\""),
                      param("selection.rows", "64")});
  store.mark_running(id, "host");
  results::RunResult result;
  result.metrics = {{"retained_fraction", 0, retained}, {"kept_blocks", 0, 128}};
  store.finish_done(id, result);
}

// Splits a Markdown table row into its cells.
std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = line.find('|') + 1;
  for (size_t bar = line.find('|', start); bar != std::string::npos; bar = line.find('|', start)) {
    std::string c = line.substr(start, bar - start);
    c.erase(0, c.find_first_not_of(' '));
    c.erase(c.find_last_not_of(' ') + 1);
    cells.push_back(c);
    start = bar + 1;
  }
  return cells;
}

std::vector<std::string> lines_starting_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

TEST(MarkdownReport, ShowsOnlyVaryingParametersAsColumnsAndTheStoredMetrics) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  add_run(store, "aaaa", "selection", "0.5", 0.91234);
  add_run(store, "bbbb", "selection", "0.9", 0.5);
  const auto summary = write_markdown_report(store, dir.file("out"));
  EXPECT_EQ(summary.runs, 2u);
  EXPECT_EQ(summary.runs_in_database, 2u);
  // Selection runs without layer records feed no paper table; they are listed under "Runs".
  EXPECT_EQ(summary.tables, 0u);
  const std::string md = read_bytes(dir.file("out/report.md"));

  const auto header = lines_starting_with(md, "| run |");
  ASSERT_EQ(header.size(), 1u) << md;
  EXPECT_EQ(cells_of(header[0]),
            (std::vector<std::string>{"run", "prune.sparsity", "kept_blocks", "retained_fraction"}));
  EXPECT_NE(md.find("Fixed for every run: `prune.method=aligned`, `selection.rows=64`"), std::string::npos) << md;

  const auto row = lines_starting_with(md, "| `aaaa` |");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(cells_of(row[0]), (std::vector<std::string>{"`aaaa`", "0.5", "128", "0.9123"}));
}

TEST(MarkdownReport, SortsRowsByTheVaryingParametersNumerically) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  // Registered out of order, with a value that sorts wrongly as text (10 < 9).
  add_run(store, "r10", "selection", "10", 0.1);
  add_run(store, "r05", "selection", "0.5", 0.5);
  add_run(store, "r09", "selection", "9", 0.9);
  write_markdown_report(store, dir.file("out"));
  const std::string md = read_bytes(dir.file("out/report.md"));
  const auto rows = lines_starting_with(md, "| `r");
  ASSERT_EQ(rows.size(), 3u) << md;
  EXPECT_EQ(cells_of(rows[0])[0], "`r05`");
  EXPECT_EQ(cells_of(rows[1])[0], "`r09`");
  EXPECT_EQ(cells_of(rows[2])[0], "`r10`");
}

TEST(MarkdownReport, SummarisesEachMethodWhenMethodsAreCompared) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  const auto add = [&](const std::string& id, const std::string& method, double ratio) {
    store.register_run(id, "selection", "{}", {param("prune.method", "\"" + method + "\"")});
    store.mark_running(id, "host");
    results::RunResult result;
    result.metrics = {{"retained_vs_optimal", 0, ratio}};
    store.finish_done(id, result);
  };
  add("a1", "bed", 0.998);
  add("a2", "bed", 0.996);
  add("b1", "aligned", 0.92);
  write_markdown_report(store, dir.file("out"));
  const std::string md = read_bytes(dir.file("out/report.md"));
  ASSERT_NE(md.find("Mean over each method's finished runs"), std::string::npos) << md;
  const auto bed = lines_starting_with(md, "| bed |");
  ASSERT_EQ(bed.size(), 1u) << md;
  EXPECT_EQ(cells_of(bed[0]), (std::vector<std::string>{"bed", "2", "0.9970"}));
  EXPECT_EQ(lines_starting_with(md, "| aligned |").size(), 1u);
}

TEST(MarkdownReport, GivesEachExperimentKindItsOwnTableAndListsFailures) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  add_run(store, "aaaa", "selection", "0.5", 0.9);
  add_run(store, "cccc", "other", "0.5", 0.9);
  store.register_run("dddd", "other", "{}", {param("prune.sparsity", "0.7")});
  store.mark_running("dddd", "host");
  store.mark_failed("dddd", "boom | bang");
  write_markdown_report(store, dir.file("out"));
  const std::string md = read_bytes(dir.file("out/report.md"));
  EXPECT_NE(md.find("### selection (1 run)"), std::string::npos) << md;
  EXPECT_NE(md.find("### other (2 runs)"), std::string::npos) << md;
  EXPECT_NE(md.find("| run | status |"), std::string::npos) << "a status column when some run is not done";
  EXPECT_NE(md.find("- `dddd`: boom \\| bang"), std::string::npos) << md;
}

TEST(MarkdownReport, RefusesAnEmptyDatabaseAndWritesNothing) {
  TempDir dir;
  auto store = results::Store::open(dir.file("r.db"));
  EXPECT_THROW(write_markdown_report(store, dir.file("out")), ReportError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/report.md")));
}

TEST(FormatNumber, PrintsIntegersPlainlyAndOthersWithFixedPrecision) {
  EXPECT_EQ(format_number(128), "128");
  EXPECT_EQ(format_number(0.912345), "0.9123");
  EXPECT_EQ(format_number(0.000123456), "0.000123");
  EXPECT_EQ(format_number(-2.5), "-2.5000");
}

}  // namespace
}  // namespace ubp::reports

#include "ubp/reports/table.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "report_test_support.h"

namespace ubp::reports {
namespace {

Table sample_table() {
  Table table;
  table.name = "sample";
  table.title = "Sample";
  table.caption = "A table for the writers' tests.";
  Column model{"model.name", Align::kLeft, true};
  Column method{"prune.method", Align::kLeft, true};
  Column top1{"top1", Align::kRight, false, 2};
  table.columns = {model, method, top1};
  table.rows.push_back({Cell::of_text("net_a"), Cell::of_text("a,b"), Cell::of_number(71.256, 0.5, 3)});
  table.rows.push_back({Cell::of_text("net_a"), Cell::of_text("say \"hi\""), Cell::of_number(0.1 + 0.2)});
  table.rows.push_back({Cell::of_text("net_a"), Cell::of_text("50% & #1 {x}"), Cell::empty()});
  return table;
}

TEST(TableCsv, QuotesCommasAndQuotesAndKeepsFullPrecision) {
  Table table = sample_table();
  hoist_constant_columns(table);
  const auto rows = testing_support::parse_csv(to_csv(table));
  ASSERT_EQ(rows.size(), 4u);
  // Hoisted columns stay in the CSV; the std and n of a number column get their own columns.
  EXPECT_EQ(rows[0], (std::vector<std::string>{"model.name", "prune.method", "top1", "top1 std", "top1 n"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"net_a", "a,b", "71.256", "0.5", "3"}));
  EXPECT_EQ(rows[2][1], "say \"hi\"");
  EXPECT_EQ(std::strtod(rows[2][2].c_str(), nullptr), 0.1 + 0.2) << rows[2][2];
  EXPECT_EQ(rows[2][3], "");
  EXPECT_EQ(rows[3], (std::vector<std::string>{"net_a", "50% & #1 {x}", "", "", ""}));
  const std::string csv = to_csv(table);
  EXPECT_NE(csv.find("\"say \"\"hi\"\"\""), std::string::npos) << csv;
  EXPECT_NE(csv.find("\r\n"), std::string::npos) << "RFC 4180 line ends";
}

TEST(TableFullPrecision, RoundTripsEveryDoubleAndPrefersShortText) {
  EXPECT_EQ(full_precision(0.8), "0.8");
  EXPECT_EQ(full_precision(71.25), "71.25");
  for (double v : {0.1 + 0.2, 1.0 / 3.0, 1e-300, 123456789.123456789, -2.0 / 7.0}) {
    EXPECT_EQ(std::strtod(full_precision(v).c_str(), nullptr), v) << full_precision(v);
  }
}

TEST(TableLatex, UsesBooktabsEscapesTextAndHoistsConstantColumns) {
  Table table = sample_table();
  hoist_constant_columns(table);
  EXPECT_TRUE(table.columns[0].hoisted);
  EXPECT_FALSE(table.columns[1].hoisted);
  EXPECT_FALSE(table.columns[2].hoisted) << "values are never hoisted";
  const std::string tex = to_latex(table);
  EXPECT_NE(tex.find("\\begin{tabular}{lr}\n\\toprule\nprune.method & top1 \\\\\n\\midrule\n"), std::string::npos)
      << tex;
  EXPECT_NE(tex.find("a,b & 71.26 $\\pm$ 0.50 (n=3) \\\\"), std::string::npos) << tex;
  EXPECT_NE(tex.find("50\\% \\& \\#1 \\{x\\} &  \\\\"), std::string::npos) << tex;
  EXPECT_NE(tex.find("\\bottomrule\n\\multicolumn{2}{l}{\\footnotesize model.name = net\\_a}"), std::string::npos)
      << tex;
  EXPECT_NE(tex.find("\\end{tabular}"), std::string::npos);
  EXPECT_EQ(escape_latex("a_b~c^d\\e$"), "a\\_b\\textasciitilde{}c\\textasciicircum{}d\\textbackslash{}e\\$");
}

TEST(TableMarkdownAndHtml, ShowTheHoistedColumnsOnceAndEscapeTheirText) {
  Table table = sample_table();
  table.rows[0][1] = Cell::of_text("a|b");
  table.rows[1][1] = Cell::of_text("<x & y>");
  hoist_constant_columns(table);
  const std::string md = to_markdown(table);
  EXPECT_NE(md.find("Same in every row: model.name = net_a\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| prune.method | top1 |\n|---|---:|\n| a\\|b | 71.26 \u00b1 0.50 (n=3) |"), std::string::npos)
      << md;
  const std::string html = to_html(table);
  EXPECT_NE(html.find("<table class=\"ubp-table\" id=\"table-sample\">"), std::string::npos) << html;
  EXPECT_NE(html.find("Same in every row: model.name = net_a"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>&lt;x &amp; y&gt;</td>"), std::string::npos) << html;
  EXPECT_EQ(html.find("<th>model.name</th>"), std::string::npos) << "hoisted column repeated: " << html;
}

TEST(TableHoisting, LeavesSingleRowTablesAlone) {
  Table table = sample_table();
  table.rows.resize(1);
  hoist_constant_columns(table);
  for (const auto& column : table.columns) EXPECT_FALSE(column.hoisted) << column.name;
  EXPECT_EQ(constant_line(table), "");
}

}  // namespace
}  // namespace ubp::reports

// A report table as data, and its four renderings: Markdown (report.md), CSV (for pandas and
// spreadsheets), LaTeX booktabs (for \input in a paper) and HTML (for index.html).
//
// Axis columns whose value is the same in every row are "hoisted": the Markdown, LaTeX and HTML
// renderings show them once on a line above the table instead of repeating them in each row
// (what `dvc exp show --only-changed` users asked for). The CSV keeps every column, so a file
// loaded on its own still says which model and device its numbers belong to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ubp::reports {

enum class Align { kLeft, kRight };

struct Column {
  std::string name;
  Align align = Align::kLeft;
  // Axis columns (model, method, ...) may be hoisted; measured values never are.
  bool axis = false;
  // Digits after the point in Markdown, LaTeX and HTML; -1 lets format_number choose. The CSV
  // always holds full precision.
  int decimals = -1;
  bool hoisted = false;  // set by hoist_constant_columns
};

// A left-aligned axis column (hoisted when constant) and a right-aligned value column.
Column axis_column(const std::string& name);
Column value_column(const std::string& name, int decimals = -1);

struct Cell {
  enum class Kind { kEmpty, kText, kNumber };
  Kind kind = Kind::kEmpty;
  std::string text;
  double value = 0.0;
  std::optional<double> stddev;  // shown as "value ± stddev"
  std::optional<int64_t> count;  // how many measurements the value summarises

  static Cell empty() { return Cell{}; }
  static Cell of_text(std::string text) {
    Cell c;
    c.kind = Kind::kText;
    c.text = std::move(text);
    return c;
  }
  static Cell of_number(double value, std::optional<double> stddev = std::nullopt,
                        std::optional<int64_t> count = std::nullopt) {
    Cell c;
    c.kind = Kind::kNumber;
    c.value = value;
    c.stddev = stddev;
    c.count = count;
    return c;
  }
};

struct Table {
  std::string name;     // file stem: tables/<name>.csv, tables/<name>.tex
  std::string title;    // section heading
  std::string caption;  // one sentence on what the table shows
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;  // each row has columns.size() cells
  std::vector<std::string> notes;       // shown below the table (Markdown, HTML) or as comments

  bool empty() const { return rows.empty(); }
};

// Marks as hoisted every axis column whose cells all read the same. A table with fewer than two
// rows is left alone: with one row nothing "varies", and hoisting every axis would leave a
// table of bare numbers.
void hoist_constant_columns(Table& table);

// "model.name = mobilenet_v1, prune.block = [4,1]" for the hoisted columns; empty if none.
std::string constant_line(const Table& table);

// A cell as the Markdown/LaTeX/HTML tables show it (no escaping), e.g. "71.25 ± 0.31".
std::string display_text(const Cell& cell, const Column& column);

// A number as the CSV holds it: the shortest text that reads back as exactly the same double.
std::string full_precision(double value);

// `value` with exactly `decimals` digits after the point ("%.*f"); non-finite values as
// format_number writes them.
std::string fixed_decimals(double value, int decimals);

// A metric value as a table shows it: integers plainly, others with 4 decimals or 3
// significant digits when small.
std::string format_number(double value);

std::string to_markdown(const Table& table);
// RFC 4180: comma separated, CRLF line ends, fields with a comma, quote or line break quoted and
// their quotes doubled. A number column with standard deviations or counts gets extra columns
// "<name> std" and "<name> n" right after it.
std::string to_csv(const Table& table);
// A booktabs tabular (\toprule, \midrule, \bottomrule), text escaped for LaTeX; needs
// \usepackage{booktabs} in the paper's preamble.
std::string to_latex(const Table& table);
// A <table> element (with the hoisted columns in its <caption>), text escaped for HTML.
std::string to_html(const Table& table);

std::string escape_latex(const std::string& text);

}  // namespace ubp::reports

#include "ubp/reports/table.h"

#include "ubp/reports/html.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

namespace ubp::reports {

namespace {

const char* const kPlusMinus = "\u00b1";

std::string number_text(double value, const Column& column) {
  return column.decimals < 0 ? format_number(value) : fixed_decimals(value, column.decimals);
}

// Which extra CSV columns a number column needs: any cell with a stddev or count.
struct ExtraColumns {
  bool stddev = false;
  bool count = false;
};

ExtraColumns extras_of(const Table& table, size_t column) {
  ExtraColumns extra;
  for (const auto& row : table.rows) {
    extra.stddev = extra.stddev || row[column].stddev.has_value();
    extra.count = extra.count || row[column].count.has_value();
  }
  return extra;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string markdown_cell(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r') out += ' ';
    else if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

std::vector<size_t> shown_columns(const Table& table) {
  std::vector<size_t> shown;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (!table.columns[i].hoisted) shown.push_back(i);
  }
  return shown;
}

}  // namespace

Column axis_column(const std::string& name) {
  Column c;
  c.name = name;
  c.axis = true;
  return c;
}

Column value_column(const std::string& name, int decimals) {
  Column c;
  c.name = name;
  c.align = Align::kRight;
  c.decimals = decimals;
  return c;
}

std::string format_number(double value) {
  if (!std::isfinite(value)) return value != value ? "nan" : (value > 0 ? "inf" : "-inf");
  char buffer[64];
  if (value == std::round(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
  } else if (std::fabs(value) >= 0.01) {
    std::snprintf(buffer, sizeof buffer, "%.4f", value);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.3g", value);
  }
  return buffer;
}

std::string fixed_decimals(double value, int decimals) {
  if (!std::isfinite(value)) return format_number(value);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string full_precision(double value) {
  if (!std::isfinite(value)) return format_number(value);
  char buffer[64];
  // The shortest of %.15g..%.17g that reads back unchanged: 0.8 stays "0.8", not
  // "0.80000000000000004", and every double still round-trips.
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

std::string display_text(const Cell& cell, const Column& column) {
  switch (cell.kind) {
    case Cell::Kind::kEmpty:
      return "";
    case Cell::Kind::kText:
      return cell.text;
    case Cell::Kind::kNumber:
      break;
  }
  std::string text = number_text(cell.value, column);
  if (cell.stddev) text += std::string(" ") + kPlusMinus + " " + number_text(*cell.stddev, column);
  if (cell.count) text += " (n=" + std::to_string(*cell.count) + ")";
  return text;
}

void hoist_constant_columns(Table& table) {
  if (table.rows.size() < 2) return;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    Column& column = table.columns[i];
    if (!column.axis) continue;
    std::set<std::string> values;
    for (const auto& row : table.rows) values.insert(display_text(row[i], column));
    column.hoisted = values.size() == 1;
  }
}

std::string constant_line(const Table& table) {
  std::string line;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (!table.columns[i].hoisted || table.rows.empty()) continue;
    if (!line.empty()) line += ", ";
    line += table.columns[i].name + " = " + display_text(table.rows.front()[i], table.columns[i]);
  }
  return line;
}

std::string to_markdown(const Table& table) {
  std::ostringstream out;
  const std::string constant = constant_line(table);
  if (!constant.empty()) out << "Same in every row: " << markdown_cell(constant) << "\n\n";
  const auto shown = shown_columns(table);
  out << "|";
  for (size_t i : shown) out << " " << markdown_cell(table.columns[i].name) << " |";
  out << "\n|";
  for (size_t i : shown) out << (table.columns[i].align == Align::kRight ? "---:|" : "---|");
  out << "\n";
  for (const auto& row : table.rows) {
    out << "|";
    for (size_t i : shown) out << " " << markdown_cell(display_text(row[i], table.columns[i])) << " |";
    out << "\n";
  }
  for (const auto& note : table.notes) out << "\n" << note << "\n";
  return out.str();
}

std::string to_csv(const Table& table) {
  std::vector<ExtraColumns> extras;
  for (size_t i = 0; i < table.columns.size(); ++i) extras.push_back(extras_of(table, i));
  std::ostringstream out;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    const std::string& name = table.columns[i].name;
    out << (i == 0 ? "" : ",") << csv_field(name);
    if (extras[i].stddev) out << "," << csv_field(name + " std");
    if (extras[i].count) out << "," << csv_field(name + " n");
  }
  out << "\r\n";
  for (const auto& row : table.rows) {
    for (size_t i = 0; i < table.columns.size(); ++i) {
      const Cell& cell = row[i];
      if (i > 0) out << ",";
      if (cell.kind == Cell::Kind::kNumber) out << full_precision(cell.value);
      else if (cell.kind == Cell::Kind::kText) out << csv_field(cell.text);
      if (extras[i].stddev) out << "," << (cell.stddev ? full_precision(*cell.stddev) : "");
      if (extras[i].count) out << "," << (cell.count ? std::to_string(*cell.count) : "");
    }
    out << "\r\n";
  }
  return out.str();
}

std::string escape_latex(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': case '%': case '$': case '#': case '_': case '{': case '}':
        out += '\\';
        out += c;
        break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      case '\n': case '\r': out += ' '; break;
      default: out += c;
    }
  }
  // The ± of display_text, as math so every LaTeX engine and font has it.
  const std::string plus_minus = kPlusMinus;
  for (size_t at = out.find(plus_minus); at != std::string::npos; at = out.find(plus_minus, at)) {
    out.replace(at, plus_minus.size(), "$\\pm$");
  }
  return out;
}

std::string to_latex(const Table& table) {
  std::ostringstream out;
  const auto shown = shown_columns(table);
  out << "% " << escape_latex(table.title) << ": " << escape_latex(table.caption) << "\n";
  out << "% Generated by `ubp report`; needs \\usepackage{booktabs}.\n";
  out << "\\begin{tabular}{";
  for (size_t i : shown) out << (table.columns[i].align == Align::kRight ? 'r' : 'l');
  out << "}\n\\toprule\n";
  for (size_t k = 0; k < shown.size(); ++k) {
    out << (k == 0 ? "" : " & ") << escape_latex(table.columns[shown[k]].name);
  }
  out << " \\\\\n\\midrule\n";
  for (const auto& row : table.rows) {
    for (size_t k = 0; k < shown.size(); ++k) {
      const size_t i = shown[k];
      out << (k == 0 ? "" : " & ") << escape_latex(display_text(row[i], table.columns[i]));
    }
    out << " \\\\\n";
  }
  out << "\\bottomrule\n";
  const std::string constant = constant_line(table);
  if (!constant.empty()) {
    // Below the rule, small: the paper's caption usually says this, so it is easy to delete.
    out << "\\multicolumn{" << shown.size() << "}{l}{\\footnotesize " << escape_latex(constant)
        << "} \\\\\n";
  }
  out << "\\end{tabular}\n";
  for (const auto& note : table.notes) out << "% " << escape_latex(note) << "\n";
  return out.str();
}

std::string to_html(const Table& table) {
  std::ostringstream out;
  const auto shown = shown_columns(table);
  out << "<table class=\"ubp-table\" id=\"table-" << html_escape(table.name) << "\">\n";
  const std::string constant = constant_line(table);
  out << "<caption>" << html_escape(table.caption);
  if (!constant.empty()) out << "<br><small>Same in every row: " << html_escape(constant) << "</small>";
  out << "</caption>\n<thead><tr>";
  for (size_t i : shown) out << "<th>" << html_escape(table.columns[i].name) << "</th>";
  out << "</tr></thead>\n<tbody>\n";
  for (const auto& row : table.rows) {
    out << "<tr>";
    for (size_t i : shown) {
      out << (table.columns[i].align == Align::kRight ? "<td style=\"text-align:right\">" : "<td>")
          << html_escape(display_text(row[i], table.columns[i])) << "</td>";
    }
    out << "</tr>\n";
  }
  out << "</tbody>\n</table>\n";
  for (const auto& note : table.notes) out << "<p class=\"ubp-note\">" << html_escape(note) << "</p>\n";
  return out.str();
}

}  // namespace ubp::reports

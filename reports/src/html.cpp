#include "ubp/reports/html.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ubp/reports/markdown_report.h"
#include "ubp/support/atomic_file.h"

namespace ubp::reports {

namespace fs = std::filesystem;

namespace {

std::string base64(const std::string& bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t group = (static_cast<uint8_t>(bytes[i]) << 16) |
                           (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                           static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += kAlphabet[(group >> 6) & 63];
    out += kAlphabet[group & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t group = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) group |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += rest == 2 ? kAlphabet[(group >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Plain numbers and "mean ± sd" cells, the ones that should line up on their last digit.
bool reads_as_number(const std::string& text) {
  const char* start = text.c_str();
  char* end = nullptr;
  std::strtod(start, &end);
  if (end == start) return false;
  std::string rest(end);
  if (rest.empty() || rest == "%") return true;
  const std::string plus_minus = " \xC2\xB1 ";  // " ± " in UTF-8
  if (rest.compare(0, plus_minus.size(), plus_minus) != 0) return false;
  const char* sd = end + plus_minus.size();
  std::strtod(sd, &end);
  return end != sd && *end == '\0';
}

std::string basename(const std::string& path) { return fs::path(path).filename().string(); }

// Print-like defaults: readable width, tables with hairlines as in booktabs, figures scaled to
// the page.
constexpr const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: #222; background: #fff; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #333; padding-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em;
        border-top: 2px solid #333; border-bottom: 2px solid #333; }
th { border-bottom: 1px solid #333; text-align: left; padding: 0.3em 0.8em; }
td { padding: 0.25em 0.8em; }
td { font-variant-numeric: tabular-nums; }
td.num { text-align: right; }
caption { caption-side: top; text-align: left; padding-bottom: 0.4em; color: #333; }
caption small, p.ubp-note { color: #666; }
tbody tr:nth-child(even) { background: #f6f6f6; }
figure { margin: 1em 0; }
figure img { display: block; width: 100%; max-width: 960px; height: auto; }
figcaption { font-size: 0.92em; color: #444; margin-top: 0.4em; }
figcaption .files { display: block; color: #777; font-size: 0.9em; }
)";

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_paragraph(const std::string& text) { return "<p>" + html_escape(text) + "</p>\n"; }

std::string html_table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream out;
  out << "<table>\n<thead><tr>";
  for (const auto& name : header) out << "<th>" << html_escape(name) << "</th>";
  out << "</tr></thead>\n<tbody>\n";
  for (const auto& row : rows) {
    out << "<tr>";
    for (const auto& cell : row) {
      out << (reads_as_number(cell) ? "<td class=\"num\">" : "<td>") << html_escape(cell)
          << "</td>";
    }
    out << "</tr>\n";
  }
  out << "</tbody>\n</table>\n";
  return out.str();
}

std::string figure_html(const FigureFiles& files, const std::string& caption) {
  std::ifstream in(files.svg, std::ios::binary);
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw ReportError("cannot read figure " + files.svg);
  if (svg.empty()) throw ReportError("cannot read figure " + files.svg + ": missing or empty");
  std::ostringstream out;
  out << "<figure>\n<img src=\"data:image/svg+xml;base64," << base64(svg) << "\" alt=\""
      << html_escape(caption) << "\">\n<figcaption>" << html_escape(caption);
  if (!files.data.empty() || !files.script.empty()) {
    out << "<span class=\"files\">Beside " << html_escape(basename(files.svg)) << ": data "
        << html_escape(basename(files.data)) << ", gnuplot script "
        << html_escape(basename(files.script)) << " (restyle it, then run <code>gnuplot "
        << html_escape(basename(files.script)) << "</code> in that folder).</span>";
  }
  out << "</figcaption>\n</figure>\n";
  return out.str();
}

void write_index_html(const std::string& path, const std::string& title,
                      const std::vector<HtmlBlock>& blocks) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec) throw ReportError("cannot create folder for " + path + ": " + ec.message());
  std::ostringstream page;
  page << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       << "<title>" << html_escape(title) << "</title>\n<style>" << kStyle << "</style>\n"
       << "</head>\n<body>\n<h1>" << html_escape(title) << "</h1>\n";
  for (const HtmlBlock& block : blocks) {
    page << "<section>\n";
    if (!block.heading.empty()) page << "<h2>" << html_escape(block.heading) << "</h2>\n";
    page << block.html << "</section>\n";
  }
  page << "</body>\n</html>\n";
  try {
    support::write_file_atomically(path, page.str());
  } catch (const support::FileError& e) {
    throw ReportError(std::string("cannot write: ") + e.what());
  }
}

}  // namespace ubp::reports

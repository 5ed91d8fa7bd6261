// index.html for a report: one self-contained file (styles inline, figures embedded as data:
// URIs) that a browser opens straight from disk, without a server or the files beside it.
#pragma once

#include <string>
#include <vector>

#include "ubp/reports/figures.h"

namespace ubp::reports {

struct HtmlBlock {
  std::string heading;  // plain text (escaped when written); empty for no heading
  std::string html;     // markup: html_paragraph(), html_table() or figure_html()
};

// Escapes &, <, >, " and ' so that text is shown as written, in content or attribute values.
std::string html_escape(const std::string& text);

// A <p> holding `text`, escaped.
std::string html_paragraph(const std::string& text);

// A <table> with a header row; cells are plain text (escaped). Cells that read as numbers are
// right-aligned so that columns of figures line up.
std::string html_table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows);

// A <figure> showing the figure's SVG, embedded in the page as a data: URI (its element ids
// then cannot clash with another figure's), with `caption` and the names of the data and script
// files a user can restyle it from. Throws ReportError when the SVG cannot be read.
std::string figure_html(const FigureFiles& files, const std::string& caption);

// Writes the page: `title` as its heading, then each block as a section. Creates the parent
// folder; throws ReportError naming the path when it cannot be written.
void write_index_html(const std::string& path, const std::string& title,
                      const std::vector<HtmlBlock>& blocks);

}  // namespace ubp::reports

// Helpers for the report tests: an RFC 4180 reader (written independently of the writer it
// checks), LaTeX table rows, and runs stored through the real results::Store.
#pragma once

#include <cctype>
#include <string>
#include <vector>

#include "ubp/results/store.h"

namespace ubp::reports::testing_support {

inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  bool field_started = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      field_started = true;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (field_started || !row.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

// The body rows of a booktabs tabular (between \midrule and \bottomrule), cells split on " & ".
inline std::vector<std::vector<std::string>> latex_rows(const std::string& tex) {
  std::vector<std::vector<std::string>> rows;
  const size_t begin = tex.find("\\midrule\n");
  const size_t end = tex.find("\\bottomrule");
  if (begin == std::string::npos || end == std::string::npos) return rows;
  size_t at = begin + 9;
  while (at < end) {
    const size_t eol = tex.find('\n', at);
    std::string line = tex.substr(at, eol - at);
    at = eol + 1;
    const std::string terminator = " \\\\";
    if (line.size() >= terminator.size()) line.erase(line.size() - terminator.size());
    std::vector<std::string> cells;
    size_t start = 0;
    for (size_t amp = line.find(" & "); amp != std::string::npos; amp = line.find(" & ", start)) {
      cells.push_back(line.substr(start, amp - start));
      start = amp + 3;
    }
    cells.push_back(line.substr(start));
    rows.push_back(cells);
  }
  return rows;
}

inline results::Param param(const std::string& key, const std::string& json) {
  results::Param p{key, json, std::nullopt};
  if (!json.empty() && (std::isdigit(static_cast<unsigned char>(json[0])) != 0 || json[0] == '-')) {
    p.number = std::stod(json);
  }
  return p;
}

inline void add_done_run(results::Store& store, const std::string& id, const std::string& kind,
                         const std::vector<results::Param>& params, const results::RunResult& result) {
  store.register_run(id, kind, "{}", params);
  store.mark_running(id, "host");
  store.finish_done(id, result);
}

}  // namespace ubp::reports::testing_support

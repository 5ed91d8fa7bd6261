#include "ubp/reports/markdown_report.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

namespace ubp::reports {

namespace {

// Keeps a table cell on one line and its pipes from splitting the column.
std::string cell(std::string text) {
  for (auto& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

std::string param_text(const std::string& json_value) {
  // Strings read better without their quotes.
  if (json_value.size() >= 2 && json_value.front() == '"' && json_value.back() == '"') {
    return json_value.substr(1, json_value.size() - 2);
  }
  return json_value;
}

// Orders two parameter values numerically when both are numbers, as text otherwise.
bool value_less(const std::string& a, const std::string& b) {
  char* end_a = nullptr;
  char* end_b = nullptr;
  const double x = std::strtod(a.c_str(), &end_a);
  const double y = std::strtod(b.c_str(), &end_b);
  const bool numbers = !a.empty() && !b.empty() && *end_a == '\0' && *end_b == '\0';
  return numbers ? x < y : a < b;
}

struct KindTable {
  std::vector<results::RunRow> runs;
  std::map<std::string, std::map<std::string, std::string>> params;  // run -> key -> value
  std::map<std::string, std::map<std::string, double>> metrics;      // run -> key -> last value
};

// When runs compare selectors, the question is "how does each method do on average": one row
// per method with the mean of every metric over its finished runs.
void write_method_summary(std::ostream& out, const KindTable& table, const std::vector<std::string>& varying,
                          const std::set<std::string>& metric_keys) {
  const std::string method_key = "prune.method";
  if (std::find(varying.begin(), varying.end(), method_key) == varying.end()) return;
  struct Sums {
    size_t runs = 0;
    std::map<std::string, std::pair<double, size_t>> metrics;  // key -> (sum, count)
  };
  std::map<std::string, Sums> by_method;
  for (const auto& run : table.runs) {
    if (run.status != results::RunStatus::kDone) continue;
    const auto& params = table.params.at(run.run_id);
    const auto it = params.find(method_key);
    if (it == params.end()) continue;
    Sums& sums = by_method[param_text(it->second)];
    ++sums.runs;
    const auto metrics = table.metrics.find(run.run_id);
    if (metrics == table.metrics.end()) continue;
    for (const auto& [key, value] : metrics->second) {
      sums.metrics[key].first += value;
      ++sums.metrics[key].second;
    }
  }
  if (by_method.empty()) return;
  out << "\nMean over each method's finished runs:\n\n| method | runs |";
  for (const auto& key : metric_keys) out << " " << cell(key) << " |";
  out << "\n|---|---:|";
  for (size_t i = 0; i < metric_keys.size(); ++i) out << "---:|";
  out << "\n";
  for (const auto& [method, sums] : by_method) {
    out << "| " << cell(method) << " | " << sums.runs << " |";
    for (const auto& key : metric_keys) {
      const auto it = sums.metrics.find(key);
      out << " " << (it == sums.metrics.end() ? "" : format_number(it->second.first / it->second.second)) << " |";
    }
    out << "\n";
  }
}

void write_table(std::ostream& out, const std::string& kind, const KindTable& table) {
  out << "### " << kind << " (" << table.runs.size() << " run" << (table.runs.size() == 1 ? "" : "s")
      << ")\n\n";
  std::set<std::string> keys;
  for (const auto& [run, params] : table.params) {
    for (const auto& [key, value] : params) keys.insert(key);
  }
  std::vector<std::string> varying, fixed;
  for (const auto& key : keys) {
    std::set<std::string> values;
    for (const auto& run : table.runs) {
      const auto& params = table.params.at(run.run_id);
      auto it = params.find(key);
      values.insert(it == params.end() ? "" : it->second);
    }
    (values.size() > 1 ? varying : fixed).push_back(key);
  }
  std::set<std::string> metric_keys;
  for (const auto& [run, metrics] : table.metrics) {
    for (const auto& [key, value] : metrics) metric_keys.insert(key);
  }
  bool all_done = true;
  for (const auto& run : table.runs) all_done = all_done && run.status == results::RunStatus::kDone;

  if (!fixed.empty()) {
    out << "Fixed for every run:";
    const std::string& first_run = table.runs.front().run_id;
    for (size_t i = 0; i < fixed.size(); ++i) {
      const auto& params = table.params.at(first_run);
      const auto it = params.find(fixed[i]);
      out << (i == 0 ? " " : ", ") << "`" << fixed[i] << "="
          << (it == params.end() ? "" : param_text(it->second)) << "`";
    }
    out << "\n\n";
  }

  // Rows sorted by the varying parameters, so a sweep reads in its natural order.
  std::vector<results::RunRow> rows = table.runs;
  std::stable_sort(rows.begin(), rows.end(), [&](const results::RunRow& a, const results::RunRow& b) {
    const auto& pa = table.params.at(a.run_id);
    const auto& pb = table.params.at(b.run_id);
    for (const auto& key : varying) {
      const auto ia = pa.find(key);
      const auto ib = pb.find(key);
      const std::string va = ia == pa.end() ? "" : ia->second;
      const std::string vb = ib == pb.end() ? "" : ib->second;
      if (value_less(va, vb)) return true;
      if (value_less(vb, va)) return false;
    }
    return false;
  });

  out << "| run |";
  if (!all_done) out << " status |";
  for (const auto& key : varying) out << " " << cell(key) << " |";
  for (const auto& key : metric_keys) out << " " << cell(key) << " |";
  out << "\n|---|";
  if (!all_done) out << "---|";
  for (size_t i = 0; i < varying.size(); ++i) out << "---|";
  for (size_t i = 0; i < metric_keys.size(); ++i) out << "---:|";
  out << "\n";
  for (const auto& run : rows) {
    out << "| `" << run.run_id << "` |";
    if (!all_done) out << " " << results::to_string(run.status) << " |";
    const auto& params = table.params.at(run.run_id);
    for (const auto& key : varying) {
      auto it = params.find(key);
      out << " " << cell(it == params.end() ? "" : param_text(it->second)) << " |";
    }
    const auto metrics_it = table.metrics.find(run.run_id);
    for (const auto& key : metric_keys) {
      std::string text;
      if (metrics_it != table.metrics.end()) {
        auto it = metrics_it->second.find(key);
        if (it != metrics_it->second.end()) text = format_number(it->second);
      }
      out << " " << text << " |";
    }
    out << "\n";
  }
  write_method_summary(out, table, varying, metric_keys);
  bool any_failed = false;
  for (const auto& run : table.runs) {
    if (run.status != results::RunStatus::kFailed) continue;
    if (!any_failed) out << "\nFailed runs:\n\n";
    any_failed = true;
    out << "- `" << run.run_id << "`: " << cell(run.error) << "\n";
  }
  out << "\n";
}

}  // namespace

std::string run_listing_markdown(const std::vector<RunData>& runs) {
  std::map<std::string, KindTable> tables;
  for (const auto& run : runs) {
    KindTable& table = tables[run.row.kind];
    table.runs.push_back(run.row);
    auto& params = table.params[run.row.run_id];
    for (const auto& [key, p] : run.params) params[key] = p.json_value;
    table.metrics[run.row.run_id] = run.metrics;
  }
  std::ostringstream out;
  for (const auto& [kind, table] : tables) write_table(out, kind, table);
  return out.str();
}

ReportSummary write_markdown_report(const results::Store& store, const std::string& out_dir) {
  ReportOptions options;
  options.out_dir = out_dir;
  return write_report(store, options);
}

}  // namespace ubp::reports

#include "ubp/reports/paired.h"

#include <algorithm>
#include <set>

namespace ubp::reports {

namespace {

// The settings every report reads first, in this order; other keys follow when they vary.
const std::vector<std::string> kLeadingSettings = {"model.name", "prune.block", "prune.sparsity", "prune.schedule"};

// One group of runs with equal settings: method -> seed -> the metric of each run.
struct Group {
  std::map<std::string, std::string> settings;
  std::map<std::string, std::map<std::string, std::vector<double>, ValuesLess>> values;
};

size_t runs_in(const std::map<std::string, std::vector<double>, ValuesLess>& by_seed) {
  size_t n = 0;
  for (const auto& [seed, values] : by_seed) n += values.size();
  return n;
}

std::vector<std::string> setting_keys_of(const std::map<std::string, Group>& groups) {
  std::set<std::string> all;
  for (const auto& [key, group] : groups) {
    for (const auto& [name, value] : group.settings) all.insert(name);
  }
  std::vector<std::string> keys;
  for (const auto& name : kLeadingSettings) {
    if (all.count(name) != 0) keys.push_back(name);
  }
  for (const auto& name : all) {
    if (std::find(kLeadingSettings.begin(), kLeadingSettings.end(), name) != kLeadingSettings.end()) continue;
    std::set<std::string> values;
    for (const auto& [key, group] : groups) {
      const auto it = group.settings.find(name);
      values.insert(it == group.settings.end() ? "" : it->second);
    }
    if (values.size() > 1) keys.push_back(name);
  }
  return keys;
}

std::vector<std::string> sort_key(const PairedComparison& c, const std::vector<std::string>& keys) {
  std::vector<std::string> key;
  for (const auto& name : keys) {
    const auto it = c.settings.find(name);
    key.push_back(it == c.settings.end() ? "" : it->second);
  }
  key.push_back(c.method);
  return key;
}

}  // namespace

PairedComparisons paired_comparisons(const std::vector<RunData>& runs, const std::string& metric,
                                     const std::string& reference, const std::vector<std::string>& methods) {
  const std::set<std::string> not_settings = {"prune.method", kSeedParam};
  std::map<std::string, Group> groups;
  for (const auto& run : runs) {
    const auto value = run.metrics.find(metric);
    const std::string method = run.param_text("prune.method");
    if (!run.done() || value == run.metrics.end() || method.empty() || method == "none") continue;
    Group& group = groups[settings_key(run, not_settings)];
    if (group.settings.empty()) {
      for (const auto& [name, param] : run.params) {
        if (not_settings.count(name) == 0 && !is_bookkeeping_param(name)) group.settings[name] = run.param_text(name);
      }
    }
    group.values[method][run.param_text(kSeedParam)].push_back(value->second);
  }

  PairedComparisons out;
  out.setting_keys = setting_keys_of(groups);
  for (const auto& [key, group] : groups) {
    const auto ref = group.values.find(reference);
    if (ref == group.values.end()) {
      for (const auto& [method, by_seed] : group.values) {
        const bool compared = methods.empty() || std::count(methods.begin(), methods.end(), method) != 0;
        if (compared) out.without_reference += runs_in(by_seed);
      }
      continue;
    }
    std::set<std::string> paired_reference_seeds;
    bool any_compared = false;
    for (const auto& [method, by_seed] : group.values) {
      if (method == reference) continue;
      if (!methods.empty() && std::count(methods.begin(), methods.end(), method) == 0) continue;
      any_compared = true;
      PairedComparison c;
      c.settings = group.settings;
      c.method = method;
      c.reference = reference;
      for (const auto& [seed, values] : by_seed) {
        const auto partner = ref->second.find(seed);
        if (partner == ref->second.end()) {
          c.unpaired += values.size();
          out.unpaired_runs += values.size();
          continue;
        }
        c.seeds.push_back(seed);
        c.method_values.push_back(mean_of(values));
        c.reference_values.push_back(mean_of(partner->second));
        c.differences.push_back(c.method_values.back() - c.reference_values.back());
        paired_reference_seeds.insert(seed);
      }
      for (const auto& [seed, values] : ref->second) {
        if (by_seed.count(seed) == 0) c.unpaired += values.size();
      }
      c.difference = t_interval(c.differences);
      out.comparisons.push_back(std::move(c));
    }
    if (!any_compared) continue;
    for (const auto& [seed, values] : ref->second) {
      if (paired_reference_seeds.count(seed) == 0) out.unpaired_runs += values.size();
    }
  }
  std::stable_sort(out.comparisons.begin(), out.comparisons.end(),
                   [&](const PairedComparison& a, const PairedComparison& b) {
                     return ValuesLess()(sort_key(a, out.setting_keys), sort_key(b, out.setting_keys));
                   });
  return out;
}

std::string settings_label(const PairedComparison& comparison, const std::vector<std::string>& keys) {
  std::string label;
  for (const auto& name : keys) {
    const auto it = comparison.settings.find(name);
    if (it == comparison.settings.end()) continue;
    std::string part = it->second;
    if (name == "prune.block") {
      part = block_label(part);
    } else if (name == "prune.sparsity") {
      part = "sparsity " + part;
    } else if (name != "model.name" && name != "prune.schedule") {
      part = name + "=" + part;
    }
    label += (label.empty() ? "" : ", ") + part;
  }
  return label;
}

Table paired_table(const std::vector<RunData>& runs, const std::string& metric) {
  const std::string reference = "aligned";
  const PairedComparisons paired = paired_comparisons(runs, metric, reference);
  Table table;
  table.name = "paired";
  table.title = "Paired differences";
  table.caption = "Each method against " + reference + " on runs with the same " + kSeedParam +
                  " and otherwise equal settings: the number of pairs, both means of " + metric +
                  " over the paired seeds, the mean paired difference (method - " + reference +
                  ") with its 95 % confidence interval (Student's t, pairs - 1 degrees of freedom), and the runs "
                  "left out because no run of the other side has their seed.";
  if (paired.comparisons.empty()) return table;
  const int decimals = metric.find("top") != std::string::npos ? 2 : -1;
  for (const auto& key : paired.setting_keys) table.columns.push_back(axis_column(key));
  table.columns.push_back(axis_column("method"));
  table.columns.push_back(value_column("pairs"));
  table.columns.push_back(value_column(reference + " " + metric, decimals));
  table.columns.push_back(value_column("method " + metric, decimals));
  table.columns.push_back(value_column("difference", decimals));
  table.columns.push_back(value_column("95% CI low", decimals));
  table.columns.push_back(value_column("95% CI high", decimals));
  table.columns.push_back(value_column("unpaired"));
  bool any_single = false;
  for (const auto& c : paired.comparisons) {
    std::vector<Cell> row;
    for (const auto& key : paired.setting_keys) {
      const auto it = c.settings.find(key);
      row.push_back(Cell::of_text(it == c.settings.end() ? "" : it->second));
    }
    row.push_back(Cell::of_text(c.method));
    row.push_back(Cell::of_number(static_cast<double>(c.difference.n)));
    const bool any = c.difference.n > 0;
    row.push_back(any ? Cell::of_number(mean_of(c.reference_values)) : Cell::empty());
    row.push_back(any ? Cell::of_number(mean_of(c.method_values)) : Cell::empty());
    row.push_back(any ? Cell::of_number(c.difference.mean) : Cell::empty());
    row.push_back(c.difference.low ? Cell::of_number(*c.difference.low) : Cell::empty());
    row.push_back(c.difference.high ? Cell::of_number(*c.difference.high) : Cell::empty());
    row.push_back(Cell::of_number(static_cast<double>(c.unpaired)));
    any_single = any_single || c.difference.n == 1;
    table.rows.push_back(std::move(row));
  }
  if (any_single) table.notes.push_back("A single pair gives a difference but no interval.");
  if (paired.unpaired_runs > 0) {
    table.notes.push_back(std::to_string(paired.unpaired_runs) + " run" + (paired.unpaired_runs == 1 ? " is" : "s are") +
                          " left out: no run of the other side has " + (paired.unpaired_runs == 1 ? "its" : "their") +
                          " seed (add the missing seeds to the sweep to pair " +
                          (paired.unpaired_runs == 1 ? "it" : "them") + ").");
  }
  if (paired.without_reference > 0) {
    table.notes.push_back(std::to_string(paired.without_reference) + " run" +
                          (paired.without_reference == 1 ? " has" : "s have") + " no " + reference +
                          " run with the same settings and " + (paired.without_reference == 1 ? "is" : "are") +
                          " not compared.");
  }
  hoist_constant_columns(table);
  return table;
}

}  // namespace ubp::reports

#include "ubp/reports/layer_kinds.h"

#include <nlohmann/json.hpp>

#include "ubp/reports/statistics.h"

namespace ubp::reports {

std::string layer_kind_group(const std::string& kind) {
  if (kind == "fc") return "classifier";
  if (kind == "conv" || kind == "depthwise" || kind == "pointwise") return kind;
  return "other";
}

const std::vector<std::string>& layer_kind_groups() {
  static const std::vector<std::string> groups = {"conv", "depthwise", "pointwise", "classifier", "other"};
  return groups;
}

std::map<std::string, double> time_by_layer_kind(const results::LatencyRecord& record) {
  std::map<std::string, double> out;
  if (record.failed) return out;
  // The detail came from a device: read it without trusting its shape.
  const auto detail = nlohmann::json::parse(record.detail_json, nullptr, false);
  if (detail.is_discarded() || !detail.is_object()) return out;
  const auto layers = detail.find("layers");
  if (layers == detail.end() || !layers->is_array()) return out;
  for (const auto& layer : *layers) {
    if (!layer.is_object()) continue;
    const auto kind = layer.find("kind");
    const auto p50 = layer.find("p50_ms");
    if (kind == layer.end() || !kind->is_string() || p50 == layer.end() || !p50->is_number()) continue;
    out[layer_kind_group(kind->get<std::string>())] += p50->get<double>();
  }
  return out;
}

Table layer_kind_table(const std::vector<RunData>& runs) {
  // key -> group -> one summed time per record
  std::map<std::vector<std::string>, std::map<std::string, std::vector<double>>, ValuesLess> groups;
  std::map<std::vector<std::string>, std::vector<double>, ValuesLess> totals;
  for (const auto& run : runs) {
    if (!run.done()) continue;
    for (const auto& record : run.latency) {
      const auto by_kind = time_by_layer_kind(record);
      if (by_kind.empty()) continue;
      const std::vector<std::string> key = {run.param_text("model.name"), run.param_text("prune.block"),
                                            run.param_text("prune.sparsity"), run.param_text("prune.method"),
                                            record.kernel, record.device, std::to_string(record.threads)};
      double total = 0;
      for (const std::string& group : layer_kind_groups()) {
        const auto it = by_kind.find(group);
        const double ms = it == by_kind.end() ? 0.0 : it->second;
        groups[key][group].push_back(ms);
        total += ms;
      }
      totals[key].push_back(total);
    }
  }

  Table table;
  table.name = "layer-kinds";
  table.title = "Latency by layer kind";
  table.caption = "Where each exported model's time goes: the sum of the per-layer median times (ms) of each kind "
                  "of layer, averaged over runs; conv is the dense k x k convolutions (MobileNetV1's first layer, "
                  "ResNet's 3x3 ones), classifier the fully connected layer, other pooling and residual additions. Pruning makes only the pointwise layers "
                  "sparse; the last column is their share of the layers' total.";
  for (const char* name : {"model.name", "prune.block", "prune.sparsity", "prune.method", "kernel", "device", "threads"}) {
    table.columns.push_back(axis_column(name));
  }
  for (const std::string& group : layer_kind_groups()) table.columns.push_back(value_column(group + " ms", 4));
  table.columns.push_back(value_column("layers ms", 4));
  table.columns.push_back(value_column("pointwise share", 2));
  table.columns.push_back(value_column("measured"));
  for (const auto& [key, by_group] : groups) {
    std::vector<Cell> row;
    for (const auto& value : key) row.push_back(Cell::of_text(value));
    for (const std::string& group : layer_kind_groups()) row.push_back(Cell::of_number(mean_of(by_group.at(group))));
    const double total = mean_of(totals.at(key));
    row.push_back(Cell::of_number(total));
    row.push_back(total > 0 ? Cell::of_number(mean_of(by_group.at("pointwise")) / total) : Cell::empty());
    row.push_back(Cell::of_number(static_cast<double>(totals.at(key).size())));
    table.rows.push_back(std::move(row));
  }
  hoist_constant_columns(table);
  return table;
}

}  // namespace ubp::reports

#include "ubp/reports/report_figures.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>

#include "ubp/reports/layer_kinds.h"
#include "ubp/reports/statistics.h"
#include "ubp/results/pareto.h"

namespace ubp::reports {

namespace {

// One point per x: the mean of the values measured there.
FigureSeries series_of_means(const std::string& name, const std::map<double, std::vector<double>>& values_at) {
  FigureSeries series;
  series.name = name;
  for (const auto& [x, values] : values_at) series.points.push_back({x, mean_of(values), ""});
  return series;
}

// Figure ids become file names: anything but letters, digits, '-', '_' and '.' becomes '_'.
std::string file_safe(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    out += keep ? c : '_';
  }
  return out;
}

bool number_of(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  return *end == '\0';
}

// The run's deployable latency on one device and thread count: its fastest sparse kernel, or
// the dense kernel when that is all it has (unpruned runs). NaN when nothing was measured.
double run_latency(const RunData& run, const std::string& device, int threads) {
  double sparse = std::numeric_limits<double>::infinity();
  double dense = std::numeric_limits<double>::infinity();
  for (const auto& record : run.latency) {
    if (record.failed || record.device != device || record.threads != threads || record.p50_ms <= 0) continue;
    double& best = record.kernel == "dense" ? dense : sparse;
    best = std::min(best, record.p50_ms);
  }
  if (sparse != std::numeric_limits<double>::infinity()) return sparse;
  if (dense != std::numeric_limits<double>::infinity()) return dense;
  return std::numeric_limits<double>::quiet_NaN();
}

// "s=0.8", with the block shape only when the figure shows more than one.
std::string point_label(const RunData& run, bool show_block) {
  std::string label;
  if (run.has_param("prune.sparsity")) label = "s=" + run.param_text("prune.sparsity");
  if (show_block && run.has_param("prune.block")) label += (label.empty() ? "" : " ") + run.param_text("prune.block");
  return label.empty() ? "dense" : label;
}

std::string axis_label(const std::string& metric) {
  // Accuracies are stored in percent.
  return metric.find("top") != std::string::npos ? metric + " (%)" : metric;
}

void add_accuracy_latency(const std::vector<RunData>& runs, const std::string& metric,
                          std::vector<ReportFigure>& out) {
  std::set<std::pair<std::string, int>> settings;  // device, threads
  for (const auto& run : runs) {
    if (!run.done() || run.metrics.count(metric) == 0) continue;
    for (const auto& record : run.latency) {
      if (!record.failed) settings.insert({record.device, record.threads});
    }
  }
  std::set<std::string> models, blocks;
  for (const auto& run : runs) {
    models.insert(run.param_text("model.name"));
    if (run.has_param("prune.block")) blocks.insert(run.param_text("prune.block"));
  }
  for (const auto& [device, threads] : settings) {
    struct Accumulated {
      std::vector<double> accuracy, latency;
      std::string label;
    };
    // series (method) -> point key (model, block, sparsity) -> values over seeds
    std::map<std::string, std::map<std::string, Accumulated>> by_series;
    for (const auto& run : runs) {
      if (!run.done() || run.metrics.count(metric) == 0) continue;
      const double latency = run_latency(run, device, threads);
      if (latency != latency) continue;
      std::string label = point_label(run, blocks.size() > 1);
      if (models.size() > 1) label = run.param_text("model.name") + " " + label;
      Accumulated& point = by_series[run.param_text("prune.method")][label];
      point.label = label;
      point.accuracy.push_back(run.metrics.at(metric));
      point.latency.push_back(latency);
    }
    if (by_series.empty()) continue;
    ReportFigure f;
    f.figure.id = file_safe("accuracy-latency-" + device + "-" + std::to_string(threads) + "t");
    f.figure.title = metric + " against latency on " + device + ", " + std::to_string(threads) + " thread" +
                     (threads == 1 ? "" : "s");
    f.figure.xlabel = "p50 latency (ms)";
    f.figure.ylabel = axis_label(metric);
    f.figure.kind = FigureKind::kScatter;
    f.figure.label_points = true;
    for (const auto& [method, points] : by_series) {
      FigureSeries series;
      series.name = method;
      std::vector<std::vector<double>> objectives;
      for (const auto& [key, point] : points) {
        series.points.push_back({mean_of(point.latency), mean_of(point.accuracy), point.label});
        objectives.push_back({series.points.back().y, series.points.back().x});
      }
      series.frontier = results::pareto_front(
          objectives, {{metric, results::Direction::kMaximize}, {"latency", results::Direction::kMinimize}});
      f.figure.series.push_back(std::move(series));
    }
    f.caption = "Each method's points (means over seeds) and its Pareto frontier, the staircase through the points "
                "that no other point of the same method beats in both accuracy and latency; the points it "
                "dominates are faint. Latency is that of the fastest sparse kernel measured for the run.";
    out.push_back(std::move(f));
  }
}

void add_accuracy_sparsity(const std::vector<RunData>& runs, const std::string& metric,
                           std::vector<ReportFigure>& out) {
  std::set<std::string> models, schedules;
  for (const auto& run : runs) {
    models.insert(run.param_text("model.name"));
    if (run.done() && run.param_text("prune.method") != "none") schedules.insert(run.param_text("prune.schedule"));
  }
  std::map<std::string, std::map<double, std::vector<double>>> by_series;  // series -> sparsity -> values
  for (const auto& run : runs) {
    double sparsity = 0;
    if (!run.done() || run.metrics.count(metric) == 0 || !number_of(run.param_text("prune.sparsity"), &sparsity)) {
      continue;
    }
    std::string name = run.param_text("prune.method") + " " + run.param_text("prune.block");
    if (models.size() > 1) name = run.param_text("model.name") + " " + name;
    // Protocols (one-shot, GMP, ADMM) reach different accuracies: one line each, never pooled.
    if (schedules.size() > 1 && run.has_param("prune.schedule")) name += " " + run.param_text("prune.schedule");
    by_series[name][sparsity].push_back(run.metrics.at(metric));
  }
  if (by_series.empty()) return;
  ReportFigure f;
  f.figure.id = "accuracy-sparsity";
  f.figure.title = metric + " against sparsity";
  f.figure.xlabel = "sparsity";
  f.figure.ylabel = axis_label(metric);
  f.figure.kind = FigureKind::kLines;
  for (const auto& [name, points] : by_series) f.figure.series.push_back(series_of_means(name, points));
  f.caption = schedules.size() > 1
                  ? "One line per method, block shape and pruning schedule; each point is the mean over seeds."
                  : "One line per method and block shape; each point is the mean over seeds.";
  out.push_back(std::move(f));
}

void add_selection_time(const std::vector<RunData>& runs, std::vector<ReportFigure>& out) {
  std::map<std::string, std::map<double, std::vector<double>>> by_method;  // method -> size -> ms
  for (const auto& run : runs) {
    if (!run.done()) continue;
    for (const auto& layer : run.layers) {
      // A log axis has no place for 0 ms (a selection faster than the clock's resolution).
      if (layer.selection_seconds <= 0 || layer.rows * layer.cols <= 0) continue;
      by_method[layer.method][static_cast<double>(layer.rows * layer.cols)].push_back(1e3 * layer.selection_seconds);
    }
  }
  if (by_method.empty()) return;
  ReportFigure f;
  f.figure.id = "selection-time";
  f.figure.title = "Selection time against layer size";
  f.figure.xlabel = "layer size (rows x cols)";
  f.figure.ylabel = "selection time per layer (ms)";
  f.figure.kind = FigureKind::kScatter;
  f.figure.logx = true;
  f.figure.logy = true;
  for (const auto& [method, sizes] : by_method) f.figure.series.push_back(series_of_means(method, sizes));
  f.caption = "Mean selection time of a layer against its number of weights, per method (log scales).";
  out.push_back(std::move(f));
}

void add_layer_speedup(const RunData& run, std::vector<ReportFigure>& out) {
  const auto times = layer_latencies(run);
  ReportFigure f;
  f.figure.id = file_safe("layer-speedup-" + run.row.run_id);
  f.figure.title = "Per-layer speed-up over dense, run " + run.row.run_id;
  f.figure.xlabel = "layer";
  f.figure.ylabel = "speed-up over the dense kernel";
  f.figure.kind = FigureKind::kBars;
  f.figure.reference_y = 1.0;
  f.figure.reference_label = "as fast as dense";
  std::vector<std::string> layers;
  for (const auto& layer : run.layers) layers.push_back(layer.layer);
  for (const auto& sparse : times) {
    if (sparse.kernel == "dense") continue;
    const auto dense = std::find_if(times.begin(), times.end(), [&](const LayerLatency& t) {
      return t.kernel == "dense" && t.device == sparse.device && t.threads == sparse.threads;
    });
    if (dense == times.end()) continue;
    FigureSeries series;
    series.name = sparse.kernel + " (" + sparse.device + ", " + std::to_string(sparse.threads) + "t)";
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto d = dense->p50_ms_by_layer.find(layers[i]);
      const auto s = sparse.p50_ms_by_layer.find(layers[i]);
      if (d == dense->p50_ms_by_layer.end() || s == sparse.p50_ms_by_layer.end() || s->second <= 0) continue;
      series.points.push_back({static_cast<double>(i), d->second / s->second, ""});
    }
    if (!series.points.empty()) f.figure.series.push_back(std::move(series));
  }
  if (f.figure.series.empty()) return;
  f.figure.categories = layers;
  f.caption = "Each pruned layer's dense-kernel time over its sparse-kernel time on the same device and threads; "
              "above the dashed line the sparse kernel is faster.";
  out.push_back(std::move(f));
}

// Per model, device and threads: the time of each kind of layer (bars), one series per packed
// format, the sparse ones per sparsity (and block shape when there are several), averaged over
// the runs measured so. Dense times come from every run: the dense model does not depend on the
// mask. An unpruned model in a block format times the kernel on an all-kept mask, not pruning:
// left out of the figure (the table keeps it).
void add_layer_kinds(const std::vector<RunData>& runs, std::vector<ReportFigure>& out) {
  const auto unpruned = [](const RunData& run) { return run.param_text("prune.method") == "none"; };
  std::set<std::string> blocks;
  for (const auto& run : runs) {
    if (!unpruned(run)) blocks.insert(run.param_text("prune.block"));
  }
  // (model, device, threads) -> series label -> group -> summed times
  std::map<std::vector<std::string>, std::map<std::string, std::map<std::string, std::vector<double>>>> figures;
  for (const auto& run : runs) {
    if (!run.done()) continue;
    for (const auto& record : run.latency) {
      if (record.kernel != "dense" && unpruned(run)) continue;
      const auto by_kind = time_by_layer_kind(record);
      if (by_kind.empty()) continue;
      std::string label = record.kernel;
      if (record.kernel != "dense") {
        label += " s=" + run.param_text("prune.sparsity");
        if (blocks.size() > 1) label += " " + run.param_text("prune.block");
      }
      auto& series = figures[{run.param_text("model.name"), record.device, std::to_string(record.threads)}][label];
      for (const std::string& group : layer_kind_groups()) {
        const auto it = by_kind.find(group);
        series[group].push_back(it == by_kind.end() ? 0.0 : it->second);
      }
    }
  }
  for (const auto& [key, by_label] : figures) {
    ReportFigure f;
    f.figure.id = file_safe("layer-kinds-" + key[0] + "-" + key[1] + "-" + key[2] + "t");
    f.figure.title = "Time by layer kind, " + key[0] + " on " + key[1] + ", " + key[2] + " thread(s)";
    f.figure.xlabel = "layer kind";
    f.figure.ylabel = "summed per-layer p50 (ms)";
    f.figure.kind = FigureKind::kBars;
    f.figure.categories = layer_kind_groups();
    std::vector<std::string> labels;
    if (by_label.count("dense") != 0) labels.push_back("dense");
    for (const auto& [label, unused] : by_label) {
      if (label != "dense") labels.push_back(label);
    }
    for (const std::string& label : labels) {
      FigureSeries series;
      series.name = label;
      const auto& by_group = by_label.at(label);
      for (size_t i = 0; i < f.figure.categories.size(); ++i) {
        series.points.push_back({static_cast<double>(i), mean_of(by_group.at(f.figure.categories[i])), ""});
      }
      f.figure.series.push_back(std::move(series));
    }
    f.caption = "The summed per-layer median times of each kind of layer, per packed format (averaged over runs); "
                "pruning makes only the pointwise layers sparse, so what the sparse formats leave in the other "
                "kinds bounds their speed-up.";
    out.push_back(std::move(f));
  }
}

}  // namespace

std::vector<ReportFigure> report_figures(const std::vector<RunData>& runs, const std::string& metric,
                                         const RunData* layer_run) {
  std::vector<ReportFigure> out;
  add_accuracy_latency(runs, metric, out);
  add_accuracy_sparsity(runs, metric, out);
  add_selection_time(runs, out);
  add_layer_kinds(runs, out);
  if (layer_run != nullptr) add_layer_speedup(*layer_run, out);
  return out;
}

}  // namespace ubp::reports

// The report's figures as data, ready for write_figure (figures.h): built from loaded runs so
// that their numbers can be checked without gnuplot.
#pragma once

#include <string>
#include <vector>

#include "ubp/reports/figures.h"
#include "ubp/reports/tables.h"

namespace ubp::reports {

// A figure and the sentence report.md and index.html show under it.
struct ReportFigure {
  Figure figure;
  std::string caption;
};

// Figures with at least one point, in report order:
//  - accuracy-latency-<device>-<threads>t: `metric` against p50 latency, one series per method,
//    one point per model x block x sparsity (means over seeds; latency of the run's fastest
//    non-failed sparse kernel, or the dense kernel for unpruned runs), each series' Pareto
//    frontier (higher metric, lower latency) drawn and its dominated points faint;
//  - accuracy-sparsity: `metric` against prune.sparsity, one line per method and block shape;
//  - selection-time: selection milliseconds per layer against layer size (rows x cols), both
//    log scale, one series per method;
//  - layer-speedup-<run>: when `layer_run` is given and its latency records have per-layer
//    times beside a dense kernel's, each layer's speed-up over dense as bars per kernel.
std::vector<ReportFigure> report_figures(const std::vector<RunData>& runs, const std::string& metric,
                                         const RunData* layer_run);

}  // namespace ubp::reports

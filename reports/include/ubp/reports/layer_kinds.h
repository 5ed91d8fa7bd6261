// Where a packed model's time goes, by layer kind: the k x k convolutions (MobileNetV1's first
// layer, ResNet's 3x3 ones), depthwise,
// pointwise and the classifier, from the per-layer medians ubp-devbench records in each
// latency row's detail. Pruning only touches pointwise layers, so this says how much of a
// model's time the block-sparse kernels can still win back, and how much lies elsewhere.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ubp/reports/table.h"
#include "ubp/reports/tables.h"

namespace ubp::reports {

// The report's name for a layer kind of the packed model ("conv", "depthwise", "pointwise",
// "fc", "pool", "add"): conv, depthwise, pointwise, classifier, other (pooling and residual adds).
std::string layer_kind_group(const std::string& kind);

// The groups in the order tables and figures show them.
const std::vector<std::string>& layer_kind_groups();

// One latency record's per-layer medians summed by group (ms); empty when the record failed or
// its detail holds no per-layer times with kinds.
std::map<std::string, double> time_by_layer_kind(const results::LatencyRecord& record);

// Rows: model x block x sparsity x method x kernel x device x threads over done runs' latency
// records that carry per-layer times; columns: the mean over runs of each group's summed
// per-layer median (ms), their sum, and the pointwise layers' share of it.
Table layer_kind_table(const std::vector<RunData>& runs);

}  // namespace ubp::reports

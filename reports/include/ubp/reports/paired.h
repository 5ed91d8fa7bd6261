// Paired comparisons of methods. A seed (experiment.seed) fixes a training run's data order and
// initial weights for every method, so two runs that differ only in prune.method (and in
// bookkeeping such as experiment.name) form a pair: their difference in a metric leaves out
// what the seed contributes, and a few seeds tell a method's effect from noise where the
// spread of unpaired means does not.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ubp/reports/statistics.h"
#include "ubp/reports/table.h"
#include "ubp/reports/tables.h"

namespace ubp::reports {

// The parameter that pairs runs.
inline constexpr const char* kSeedParam = "experiment.seed";

// One method against the reference method in one group of settings.
struct PairedComparison {
  // Every parameter of the group's runs as a table shows it, except prune.method,
  // experiment.seed and bookkeeping (is_bookkeeping_param).
  std::map<std::string, std::string> settings;
  std::string method;
  std::string reference;
  std::vector<std::string> seeds;          // the paired seeds, in ascending order
  std::vector<double> method_values;       // the method's metric, one per paired seed
  std::vector<double> reference_values;    // the reference's metric, one per paired seed
  std::vector<double> differences;         // method - reference, one per paired seed
  MeanInterval difference;                 // their mean and 95 % t-interval
  size_t unpaired = 0;                     // runs of either side whose seed the other side lacks
};

struct PairedComparisons {
  std::vector<PairedComparison> comparisons;  // ordered by the setting keys' values, then method
  // The settings that tell the groups apart, for columns and labels: model.name, prune.block,
  // prune.sparsity and prune.schedule where the runs have them, then every other key whose value
  // differs between groups.
  std::vector<std::string> setting_keys;
  size_t unpaired_runs = 0;      // distinct runs left out because no run of the other side has their seed
  size_t without_reference = 0;  // runs in groups of settings without any run of the reference method
};

// Groups the done runs that have `metric` by every parameter except prune.method,
// experiment.seed and bookkeeping; in each group pairs each method's runs with the reference
// method's runs of the same seed (two runs of one method and seed, which only a change of the
// config schema between campaigns can produce, are averaged). `methods`: the methods compared;
// empty: every method of the runs except the reference and `none` (the dense model).
PairedComparisons paired_comparisons(const std::vector<RunData>& runs, const std::string& metric,
                                     const std::string& reference, const std::vector<std::string>& methods = {});

// "mobilenet_v1, 4x1, sparsity 0.8, gmp, data.image_size=32": a comparison's settings under
// `keys` (PairedComparisons::setting_keys), short for the common ones.
std::string settings_label(const PairedComparison& comparison, const std::vector<std::string>& keys);

// The paired-differences table (tables/paired.csv): one row per group of settings and method,
// each method against `aligned`: pairs, both means over the paired seeds, the mean difference
// with its 95 % t-interval, and the runs left out for want of a partner.
Table paired_table(const std::vector<RunData>& runs, const std::string& metric = "top1");

}  // namespace ubp::reports

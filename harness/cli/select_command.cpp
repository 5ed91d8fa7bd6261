// ubp select: run block selectors on one matrix and compare them side by side.
//
// The matrix is random (rows x cols, distribution, seed) or a layer read from a .npy file.
// Every requested method gets the same importance matrix and budget; `optimal`, when among
// them, runs first so the others can be given as a fraction of the optimum.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "config/schema.h"
#include "io/npy.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"
#include "ubp/support/atomic_file.h"
#include "ubp/support/statistics.h"
#include "ubp/support/strings.h"
#include "ubp/support/text.h"

namespace ubp::cli {
namespace {

namespace alg = ubp::algorithms;
using Json = nlohmann::ordered_json;

struct SelectArgs {
  int64_t rows = 256, cols = 256;
  std::string dist = "gaussian";
  uint64_t seed = 0;
  std::string weights;
  std::string block = "4x1";
  double sparsity = 0.8;
  std::string method = "all";
  std::string norm = "l1";
  bool json = false;
  std::string blocks_out;
  int repeat = 1;
  int64_t memory_limit_mib = 2048;
};

// Product selectors: every registered name except the test doubles some tests register.
std::vector<std::string> product_selectors() {
  std::vector<std::string> names;
  for (const auto& name : alg::SelectorRegistry::instance().names()) {
    if (name.rfind("test-", 0) != 0) names.push_back(name);
  }
  return names;
}

// "all", one name, or a comma-separated list; `optimal` is moved first so that the others
// can be compared with it.
std::vector<std::string> methods_of(const std::string& spec) {
  const auto known = product_selectors();
  std::vector<std::string> methods;
  if (spec == "all") {
    methods = known;
  } else {
    size_t start = 0;
    while (start <= spec.size()) {
      const size_t comma = std::min(spec.find(',', start), spec.size());
      const std::string name = spec.substr(start, comma - start);
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        throw CLI::ValidationError("--method", "unknown method '" + name + "' (accepted: all, " + support::join(known) +
                                                   ", or a comma-separated list)");
      }
      if (std::find(methods.begin(), methods.end(), name) == methods.end()) methods.push_back(name);
      start = comma + 1;
    }
  }
  std::stable_partition(methods.begin(), methods.end(), [](const std::string& m) { return m == "optimal"; });
  return methods;
}

alg::BlockShape block_of(const std::string& text) {
  const auto shape = support::parse_block_shape(text);
  if (!shape || shape->first < 1 || shape->second < 1 || shape->first > 999 || shape->second > 999) {
    throw CLI::ValidationError("--block", "'" + support::excerpt(text) +
                                              "' is not a block shape (accepted: RxC with sides 1 to 999, e.g. 4x1)");
  }
  return {static_cast<int>(shape->first), static_cast<int>(shape->second)};
}

Json blocks_json(const alg::SelectionResult& result) {
  Json list = Json::array();
  for (const auto& b : result.blocks) list.push_back({b.col_group, b.start_row});
  return list;
}

std::string percent(double ratio) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f%%", 100.0 * ratio);
  return buffer;
}

int run_select(const SelectArgs& args) {
  const alg::BlockShape shape = block_of(args.block);
  const auto methods = methods_of(args.method);
  const alg::Norm norm = alg::norm_from_string(args.norm);

  alg::Matrix weights;
  Json report;
  if (!args.weights.empty()) {
    try {
      weights = io::read_npy_matrix(args.weights);
    } catch (const io::NpyError& e) {
      return fail(e.what(), 2);
    }
    if (weights.rows < 1 || weights.cols < 1) {
      return fail(args.weights + ": the matrix is " + std::to_string(weights.rows) + "x" +
                      std::to_string(weights.cols) + "; a selector needs at least one row and one column",
                  2);
    }
    report["source"] = "weights";
    report["weights"] = args.weights;
  } else {
    weights = alg::random_matrix(args.rows, args.cols, alg::distribution_from_string(args.dist), args.seed);
    report["source"] = "random";
    report["dist"] = args.dist;
    report["seed"] = args.seed;
  }
  if (shape.rows > weights.rows || shape.cols > weights.cols) {
    return fail("--block " + alg::to_string(shape) + " does not fit the " + std::to_string(weights.rows) + "x" +
                    std::to_string(weights.cols) + " matrix (accepted: blocks of at most its rows and columns)",
                2);
  }
  const alg::Matrix scores = alg::importance(weights.view(), norm);
  const int64_t budget = alg::block_budget(weights.rows, weights.cols, shape, args.sparsity);
  report["rows"] = weights.rows;
  report["cols"] = weights.cols;
  report["block"] = alg::to_string(shape);
  report["sparsity"] = args.sparsity;
  report["norm"] = args.norm;
  report["budget"] = budget;

  alg::SelectorOptions options;
  options.memory_limit_bytes = args.memory_limit_mib << 20;
  std::optional<double> optimum;
  Json entries = Json::array();
  Json chosen_blocks = Json::object();
  for (const auto& method : methods) {
    Json entry;
    entry["method"] = method;
    try {
      const auto selector = alg::SelectorRegistry::instance().create(method, options);
      std::vector<double> times;
      alg::SelectionResult result;
      for (int r = 0; r < args.repeat; ++r) {
        const auto start = std::chrono::steady_clock::now();
        result = selector->select(scores.view(), shape, budget);
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      const double cells = static_cast<double>(weights.rows) * static_cast<double>(weights.cols);
      entry["block"] = alg::to_string(result.block_shape);
      entry["blocks"] = result.blocks.size();
      entry["kept_weights"] = result.kept_cells;
      entry["sparsity"] = 1.0 - static_cast<double>(result.kept_cells) / cells;
      entry["retained_importance"] = result.retained_importance;
      entry["total_importance"] = result.total_importance;
      entry["retained_fraction"] =
          result.total_importance > 0 ? result.retained_importance / result.total_importance : 0.0;
      if (method == "optimal") optimum = result.retained_importance;
      if (optimum) {
        entry["ratio_to_optimal"] = *optimum > 0 ? result.retained_importance / *optimum : 1.0;
      } else {
        entry["ratio_to_optimal"] = nullptr;
      }
      entry["seconds"] = support::median(times);
      chosen_blocks[method] = blocks_json(result);
    } catch (const alg::SelectionError& e) {
      // With several methods one refusal (optimal-dp over its memory limit) is reported and
      // the comparison goes on; a single requested method that cannot run is an error.
      if (methods.size() == 1) return fail(std::string(e.what()), 2);
      entry["error"] = e.what();
    }
    entries.push_back(entry);
  }
  report["methods"] = entries;

  if (!args.blocks_out.empty()) {
    try {
      // One method: its list of [column_group, start_row]; several: an object keyed by method.
      support::write_file_atomically(args.blocks_out,
                                     (methods.size() == 1 ? chosen_blocks[methods[0]] : chosen_blocks).dump() + "\n");
    } catch (const support::FileError& e) {
      return fail(std::string("cannot write the blocks file: ") + e.what(), 1);
    }
  }

  if (args.json) {
    std::printf("%s\n", report.dump(2).c_str());
    return 0;
  }
  std::printf("%s %lldx%lld, block %s, sparsity %g (%s importance): budget %lld blocks\n",
              args.weights.empty() ? ("random " + args.dist + " seed " + std::to_string(args.seed)).c_str()
                                   : args.weights.c_str(),
              static_cast<long long>(weights.rows), static_cast<long long>(weights.cols), args.block.c_str(),
              args.sparsity, args.norm.c_str(), static_cast<long long>(budget));
  std::printf("%-13s %10s %10s %12s %12s\n", "method", "blocks", "retained", "vs optimal", "time");
  for (const auto& e : entries) {
    if (e.contains("error")) {
      std::printf("%-13s skipped: %s\n", e["method"].get<std::string>().c_str(),
                  e["error"].get<std::string>().c_str());
      continue;
    }
    const std::string versus = e["ratio_to_optimal"].is_null() ? "-" : percent(e["ratio_to_optimal"]);
    char time[32];
    const double s = e["seconds"];
    std::snprintf(time, sizeof time, s < 1 ? "%.3f ms" : "%.3f s", s < 1 ? s * 1e3 : s);
    std::printf("%-13s %10lld %10.6f %12s %12s\n", e["method"].get<std::string>().c_str(),
                static_cast<long long>(e["blocks"].get<int64_t>()), e["retained_fraction"].get<double>(),
                versus.c_str(), time);
  }
  return 0;
}

}  // namespace

Command add_select_command(CLI::App& app) {
  auto args = std::make_shared<SelectArgs>();
  CLI::App* sub = app.add_subcommand(
      "select",
      "Run block selectors on one matrix (random, or a layer from a .npy file) and compare the\n"
      "importance they keep and their time. `optimal` runs first when requested, so the others are\n"
      "also given as a fraction of the optimum.");
  auto* rows = sub->add_option("--rows", args->rows, "Rows (output channels) of a random matrix")
                   ->capture_default_str()
                   ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  auto* cols = sub->add_option("--cols", args->cols, "Columns (inputs) of a random matrix")
                   ->capture_default_str()
                   ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  auto* dist = sub->add_option("--dist", args->dist, "Distribution of a random matrix")
                   ->capture_default_str()
                   ->check(CLI::IsMember({"gaussian", "uniform", "laplace"}));
  auto* seed = sub->add_option("--seed", args->seed, "Seed of a random matrix")->capture_default_str();
  sub->add_option("--weights", args->weights,
                  "A 2-D float32/float64 C-order .npy file (numpy.save) instead of a random matrix")
      ->check(CLI::ExistingFile)
      ->excludes(rows)
      ->excludes(cols)
      ->excludes(dist)
      ->excludes(seed);
  sub->add_option("--block", args->block, "Block shape RxC; rows run along output channels")->capture_default_str();
  sub->add_option("--sparsity", args->sparsity, "Target fraction of pruned weights")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--method", args->method,
                  "Selector: all, one of " + support::join(product_selectors()) + ", or a comma-separated list")
      ->capture_default_str();
  sub->add_option("--norm", args->norm, "Importance: l1 (|w|) or l2 (w^2)")
      ->capture_default_str()
      ->check(CLI::IsMember({"l1", "l2"}));
  sub->add_flag("--json", args->json, "Print JSON instead of a table");
  sub->add_option("--blocks-out", args->blocks_out,
                  "Write the kept blocks as JSON: a list of [column_group, start_row] for one method, an "
                  "object of such lists keyed by method for several");
  sub->add_option("--repeat", args->repeat, "Time each method this many times and report the median")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--memory-limit", args->memory_limit_mib,
                  "MiB that optimal-dp may use for its tables; it refuses larger inputs")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  return {sub, [args] {
            try {
              return run_select(*args);
            } catch (const CLI::ValidationError& e) {
              return fail(e.what(), 2);
            }
          }};
}

}  // namespace ubp::cli

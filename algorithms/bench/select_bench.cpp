// ubp-bench-select: selection time of every registered selector on real layer shapes.
//
// Benchmarks are named select/<method>/<rows>x<cols>/<bh>x<bw>/<sparsity>, e.g.
// select/bed/1024x1024/4x1/0.8, one thread, one per (method, layer shape, block, sparsity):
//   methods    every selector in the registry except names starting with "test-"
//   shapes     MobileNetV1's pointwise convolutions and ResNet-50's 1x1 / 3x3 convolutions
//              (Cout x Cin and Cout x Cin*9), each distinct shape once
//   blocks     2x1, 4x1, 8x1
//   sparsities 0.5, 0.8, 0.9
// Matrices: Gaussian N(0, 1) from random_matrix() with seed kSeed, importance |w| (L1), budget
// m = block_budget(rows, cols, block, sparsity).
// Counters: retained_vs_opt = retained importance / that of `optimal` (computed once per case,
// outside the timed loop, when `optimal` is registered), retained_frac = retained / total
// importance, blocks = number of returned blocks. A selector that throws SelectionError (e.g.
// `optimal-dp` above its memory limit) is reported with SkipWithError and its message.
//
// Extra flags (removed before benchmark::Initialize sees the command line):
//   --summary            Markdown tables, one per layer shape, for block 4x1 at sparsity 0.8,
//                        then one overview table with a line per case
//   --summary=all        the same for every block and sparsity
//   --summary-reps=N     timed runs per method in summary mode (median; default 5)
//   --summary-shapes=A,B only these layer shapes (e.g. 64x32,1024x1024) in summary mode
//   --dp-memory-mib=N    memory limit handed to every selector (default: SelectorOptions{})
// Without an explicit --benchmark_min_time the binary uses 0.05 s per benchmark; slow cases
// still run at least one iteration.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"
#include "ubp/algorithms/matrix.h"
#include "ubp/algorithms/random_matrix.h"
#include "ubp/algorithms/selector.h"
#include "ubp/support/statistics.h"

namespace {

using namespace ubp::algorithms;

constexpr uint64_t kSeed = 2024;

struct LayerShape {
  int64_t rows = 0;  // Cout
  int64_t cols = 0;  // K = Cin (1x1) or Cin*9 (3x3)
  std::string origin;
};

std::string shape_name(const LayerShape& s) {
  return std::to_string(s.rows) + "x" + std::to_string(s.cols);
}

// Distinct layer shapes, in the order listed, with where they occur.
std::vector<LayerShape> layer_shapes() {
  const std::vector<LayerShape> listed = {
      // MobileNetV1 1.0, pointwise convolutions (Cout x Cin); 512x512 occurs 5 times.
      {64, 32, "MobileNetV1 pw"},
      {128, 64, "MobileNetV1 pw"},
      {128, 128, "MobileNetV1 pw"},
      {256, 128, "MobileNetV1 pw"},
      {256, 256, "MobileNetV1 pw"},
      {512, 256, "MobileNetV1 pw"},
      {512, 512, "MobileNetV1 pw (x5)"},
      {1024, 512, "MobileNetV1 pw"},
      {1024, 1024, "MobileNetV1 pw"},
      // ResNet-50 bottlenecks (stride on the 3x3), conv1 and fc excluded.
      // conv2_x: width 64, out 256
      {64, 64, "ResNet-50 1x1"},
      {64, 576, "ResNet-50 3x3"},
      {256, 64, "ResNet-50 1x1"},
      {64, 256, "ResNet-50 1x1"},
      // conv3_x: width 128, out 512
      {128, 256, "ResNet-50 1x1"},
      {128, 1152, "ResNet-50 3x3"},
      {512, 128, "ResNet-50 1x1"},
      {512, 256, "ResNet-50 1x1 (downsample)"},
      {128, 512, "ResNet-50 1x1"},
      // conv4_x: width 256, out 1024
      {256, 512, "ResNet-50 1x1"},
      {256, 2304, "ResNet-50 3x3"},
      {1024, 256, "ResNet-50 1x1"},
      {1024, 512, "ResNet-50 1x1 (downsample)"},
      {256, 1024, "ResNet-50 1x1"},
      // conv5_x: width 512, out 2048
      {512, 1024, "ResNet-50 1x1"},
      {512, 4608, "ResNet-50 3x3"},
      {2048, 512, "ResNet-50 1x1"},
      {2048, 1024, "ResNet-50 1x1 (downsample)"},
      {512, 2048, "ResNet-50 1x1"},
  };
  std::vector<LayerShape> out;
  for (const LayerShape& s : listed) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const LayerShape& o) { return o.rows == s.rows && o.cols == s.cols; });
    if (it == out.end()) {
      out.push_back(s);
    } else {
      it->origin += "; " + s.origin;
    }
  }
  return out;
}

const std::vector<BlockShape> kBlocks = {{2, 1}, {4, 1}, {8, 1}};
const std::vector<double> kSparsities = {0.5, 0.8, 0.9};

std::string sparsity_name(double s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

SelectorOptions g_options;

// Every registered selector except the test doubles.
std::vector<std::string> bench_methods() {
  std::vector<std::string> out;
  for (const std::string& n : SelectorRegistry::instance().names()) {
    if (n.rfind("test-", 0) != 0) out.push_back(n);
  }
  return out;
}

// Importance matrices, built once per shape (shared by every case of that shape).
const Matrix& importance_for(int64_t rows, int64_t cols) {
  static std::map<std::pair<int64_t, int64_t>, Matrix> cache;
  auto it = cache.find({rows, cols});
  if (it == cache.end()) {
    const Matrix w = random_matrix(rows, cols, Distribution::kGaussian, kSeed);
    it = cache.emplace(std::make_pair(rows, cols), importance(w.view(), Norm::kL1)).first;
  }
  return it->second;
}

// Retained importance of `optimal` per case; nullopt when it is not registered or failed.
std::optional<double> optimal_retained(int64_t rows, int64_t cols, BlockShape b, double s) {
  static std::map<std::tuple<int64_t, int64_t, int, int, double>, std::optional<double>> cache;
  const auto key = std::make_tuple(rows, cols, b.rows, b.cols, s);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::optional<double> value;
  if (SelectorRegistry::instance().contains("optimal")) {
    try {
      const auto sel = SelectorRegistry::instance().create("optimal", g_options);
      const Matrix& imp = importance_for(rows, cols);
      value = sel->select(imp.view(), b, block_budget(rows, cols, b, s)).retained_importance;
    } catch (const std::exception&) {
      value.reset();
    }
  }
  cache.emplace(key, value);
  return value;
}

void bench_select(benchmark::State& state, const std::string& method, int64_t rows, int64_t cols,
                  BlockShape block, double sparsity) {
  const Matrix& imp = importance_for(rows, cols);
  const int64_t budget = block_budget(rows, cols, block, sparsity);
  const std::optional<double> opt = optimal_retained(rows, cols, block, sparsity);
  std::unique_ptr<Selector> sel;
  try {
    sel = SelectorRegistry::instance().create(method, g_options);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  SelectionResult result;
  for (auto _ : state) {
    try {
      result = sel->select(imp.view(), block, budget);
    } catch (const std::exception& e) {  // SelectionError (e.g. a memory limit) or a bug
      state.SkipWithError(e.what());
      break;
    }
    benchmark::DoNotOptimize(result.blocks.data());
    benchmark::ClobberMemory();
  }
  if (state.error_occurred()) return;
  state.counters["blocks"] = static_cast<double>(result.blocks.size());
  state.counters["retained_frac"] =
      result.total_importance > 0 ? result.retained_importance / result.total_importance : 0.0;
  if (opt && *opt > 0) state.counters["retained_vs_opt"] = result.retained_importance / *opt;
}

void register_benchmarks() {
  const std::vector<std::string> methods = bench_methods();
  for (const LayerShape& shape : layer_shapes()) {
    for (const BlockShape& block : kBlocks) {
      for (double s : kSparsities) {
        for (const std::string& method : methods) {
          const std::string name = "select/" + method + "/" + shape_name(shape) + "/" +
                                   to_string(block) + "/" + sparsity_name(s);
          benchmark::RegisterBenchmark(name.c_str(), bench_select, method, shape.rows, shape.cols,
                                       block, s)
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Summary mode

struct SummaryRow {
  std::string method;
  bool ok = false;
  std::string error;
  double ms = 0;  // median
  int runs = 0;
  double retained = 0;
};

SummaryRow measure(const std::string& method, const Matrix& imp, BlockShape block, int64_t budget,
                   int reps) {
  SummaryRow row;
  row.method = method;
  try {
    const auto sel = SelectorRegistry::instance().create(method, g_options);
    std::vector<double> times;
    double spent = 0;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const SelectionResult r = sel->select(imp.view(), block, budget);
      const auto t1 = std::chrono::steady_clock::now();
      const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
      times.push_back(ms);
      row.retained = r.retained_importance;
      spent += ms;
      if (spent > 3000.0) break;  // slow method: fewer runs
    }
    row.ms = ubp::support::median(times);
    row.runs = static_cast<int>(times.size());
    row.ok = true;
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  return row;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string ms_text(double ms) {
  if (ms >= 100) return fixed(ms, 0);
  if (ms >= 10) return fixed(ms, 1);
  if (ms >= 1) return fixed(ms, 2);
  return fixed(ms, 3);
}

std::string ratio_text(double r) { return (r >= 100 ? fixed(r, 0) : fixed(r, 2)) + "x"; }

// Markdown cells may not contain '|' or newlines. Long messages are shortened: parenthesised
// details dropped, only the first clause (up to ';') kept, at most 160 characters.
std::string cell(const std::string& message) {
  std::string s;
  int depth = 0;
  for (char c : message) {
    if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (depth == 0) {
      s.push_back(c == '|' || c == '\n' ? ' ' : c);
    }
  }
  const size_t semicolon = s.find(';');
  if (semicolon != std::string::npos) s = s.substr(0, semicolon);
  std::string squeezed;  // collapse the double spaces the removed parts leave
  for (char c : s) {
    if (!(c == ' ' && !squeezed.empty() && squeezed.back() == ' ')) squeezed.push_back(c);
  }
  while (!squeezed.empty() && squeezed.back() == ' ') squeezed.pop_back();
  if (squeezed.size() > 160) squeezed = squeezed.substr(0, 157) + "...";
  return squeezed;
}

const SummaryRow* find_row(const std::vector<SummaryRow>& rows, const std::string& method) {
  for (const SummaryRow& r : rows) {
    if (r.method == method && r.ok) return &r;
  }
  return nullptr;
}

struct SummaryCase {
  LayerShape shape;
  BlockShape block;
  double sparsity = 0;
  int64_t budget = 0;
  std::vector<SummaryRow> rows;
};

SummaryCase print_case(const LayerShape& shape, BlockShape block, double s, int reps) {
  const Matrix& imp = importance_for(shape.rows, shape.cols);
  const int64_t budget = block_budget(shape.rows, shape.cols, block, s);
  std::vector<SummaryRow> rows;
  for (const std::string& m : bench_methods()) {
    rows.push_back(measure(m, imp, block, budget, reps));
  }
  const SummaryRow* opt = find_row(rows, "optimal");
  const SummaryRow* bed = find_row(rows, "bed");
  const SummaryRow* dp = find_row(rows, "optimal-dp");

  std::cout << "#### " << shape_name(shape) << " (" << shape.origin << "), block "
            << to_string(block) << ", sparsity " << sparsity_name(s) << ", m = " << budget
            << " blocks\n\n";
  std::cout << "| method | ms | retained vs optimal | time ratio |\n";
  std::cout << "|---|---:|---:|---|\n";
  for (const SummaryRow& r : rows) {
    std::cout << "| " << r.method << " | ";
    if (!r.ok) {
      std::cout << "skipped | | " << cell(r.error) << " |\n";
      continue;
    }
    std::cout << ms_text(r.ms) << " | ";
    if (opt && opt->retained > 0) {
      std::cout << fixed(100.0 * r.retained / opt->retained, 3) << " %";
    } else {
      std::cout << "n/a";
    }
    std::cout << " | ";
    if (r.method == "bed" && opt && bed->ms > 0) {
      std::cout << "optimal/bed " << ratio_text(opt->ms / bed->ms);
    } else if (r.method == "optimal" && dp && opt->ms > 0) {
      std::cout << "optimal-dp/optimal " << ratio_text(dp->ms / opt->ms);
    }
    std::cout << " |\n";
  }
  std::cout << "\n" << std::flush;
  return SummaryCase{shape, block, s, budget, rows};
}

bool is_optimal(const std::string& method) { return method.rfind("optimal", 0) == 0; }

// One line per case: every method's time, then the retained importance of the non-optimal
// methods relative to `optimal`, then optimal_ms / bed_ms.
void print_overview(const std::vector<SummaryCase>& cases) {
  if (cases.empty()) return;
  const std::vector<std::string> methods = bench_methods();
  std::cout << "#### Overview\n\n| layer | block | s | m |";
  for (const auto& m : methods) std::cout << " " << m << " ms |";
  for (const auto& m : methods) {
    if (!is_optimal(m)) std::cout << " " << m << " % |";
  }
  std::cout << " optimal/bed |\n|---|---|---:|---:|";
  for (size_t i = 0; i < methods.size(); ++i) std::cout << "---:|";
  for (const auto& m : methods) {
    if (!is_optimal(m)) std::cout << "---:|";
  }
  std::cout << "---:|\n";
  for (const SummaryCase& c : cases) {
    const SummaryRow* opt = find_row(c.rows, "optimal");
    const SummaryRow* bed = find_row(c.rows, "bed");
    std::cout << "| " << shape_name(c.shape) << " | " << to_string(c.block) << " | "
              << sparsity_name(c.sparsity) << " | " << c.budget << " |";
    for (const auto& m : methods) {
      const SummaryRow* r = find_row(c.rows, m);
      std::cout << " " << (r ? ms_text(r->ms) : std::string("–")) << " |";
    }
    for (const auto& m : methods) {
      if (is_optimal(m)) continue;
      const SummaryRow* r = find_row(c.rows, m);
      std::cout << " "
                << (r && opt && opt->retained > 0 ? fixed(100.0 * r->retained / opt->retained, 2)
                                                  : std::string("–"))
                << " |";
    }
    std::cout << " " << (opt && bed && bed->ms > 0 ? ratio_text(opt->ms / bed->ms) : std::string("–"))
              << " |\n";
  }
  std::cout << "\n(– : not registered, or skipped; see the table of that layer.)\n" << std::flush;
}

int run_summary(bool all, int reps, const std::vector<std::string>& only_shapes) {
  const std::vector<std::string> methods = bench_methods();
  std::cout << "Selection time, one thread, Gaussian N(0,1) matrices (seed " << kSeed
            << "), L1 importance. ms = median of up to " << reps
            << " runs (fewer once a method has spent 3 s). retained vs optimal = retained "
               "importance / that of `optimal`. time ratio: on the bed row optimal_ms / bed_ms, "
               "on the optimal row optimal-dp_ms / optimal_ms.\n\n";
  std::cout << "Selectors: ";
  for (size_t i = 0; i < methods.size(); ++i) std::cout << (i ? ", " : "") << methods[i];
  std::cout << "\n\n";
  std::vector<SummaryCase> cases;
  for (const LayerShape& shape : layer_shapes()) {
    if (!only_shapes.empty() &&
        std::find(only_shapes.begin(), only_shapes.end(), shape_name(shape)) == only_shapes.end()) {
      continue;
    }
    if (all) {
      for (const BlockShape& b : kBlocks) {
        for (double s : kSparsities) cases.push_back(print_case(shape, b, s, reps));
      }
    } else {
      cases.push_back(print_case(shape, BlockShape{4, 1}, 0.8, reps));
    }
  }
  print_overview(cases);
  return 0;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool parse_positive(const std::string& text, long long& value) {
  char* end = nullptr;
  value = std::strtoll(text.c_str(), &end, 10);
  return !text.empty() && end && *end == '\0' && value > 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool summary = false, summary_all = false;
  int reps = 5;
  std::vector<std::string> only_shapes;
  // Strip our flags; everything else goes to Google Benchmark.
  std::vector<char*> rest;
  rest.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    long long v = 0;
    if (a == "--summary") {
      summary = true;
    } else if (a == "--summary=all") {
      summary = summary_all = true;
    } else if (a.rfind("--summary-reps=", 0) == 0) {
      if (!parse_positive(a.substr(15), v)) {
        std::cerr << "ubp-bench-select: --summary-reps needs a positive integer, got '"
                  << a.substr(15) << "'\n";
        return 2;
      }
      reps = static_cast<int>(std::min<long long>(v, 1000));
    } else if (a.rfind("--summary-shapes=", 0) == 0) {
      only_shapes = split_commas(a.substr(17));
    } else if (a.rfind("--dp-memory-mib=", 0) == 0) {
      if (!parse_positive(a.substr(16), v)) {
        std::cerr << "ubp-bench-select: --dp-memory-mib needs a positive integer, got '"
                  << a.substr(16) << "'\n";
        return 2;
      }
      g_options.memory_limit_bytes = static_cast<int64_t>(v) << 20;
    } else if (a.rfind("--summary", 0) == 0) {
      std::cerr << "ubp-bench-select: unknown option '" << a
                << "' (expected --summary, --summary=all, --summary-reps=N, "
                   "--summary-shapes=RxC[,RxC...])\n";
      return 2;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (!only_shapes.empty()) {
    const auto shapes = layer_shapes();
    for (const std::string& s : only_shapes) {
      if (std::none_of(shapes.begin(), shapes.end(),
                       [&](const LayerShape& l) { return shape_name(l) == s; })) {
        std::string known;
        for (const auto& l : shapes) known += (known.empty() ? "" : ", ") + shape_name(l);
        std::cerr << "ubp-bench-select: unknown layer shape '" << s << "' in --summary-shapes; "
                  << "known: " << known << "\n";
        return 2;
      }
    }
  }
  // Short default minimum time (the full grid has well over a thousand cases), given as a flag
  // rather than with MinTime() so that the names stay select/<method>/<shape>/<block>/<s>.
  // An explicit --benchmark_min_time on the command line wins.
  static char default_min_time[] = "--benchmark_min_time=0.05";
  if (std::none_of(rest.begin(), rest.end(), [](const char* a) {
        return std::string(a).rfind("--benchmark_min_time", 0) == 0;
      })) {
    rest.insert(rest.begin() + 1, default_min_time);
  }
  int rest_argc = static_cast<int>(rest.size());
  rest.push_back(nullptr);
  benchmark::Initialize(&rest_argc, rest.data());
  if (summary) return run_summary(summary_all, reps, only_shapes);
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// ubp-bench-train: what keeping pruned weights at zero costs a training step.
//
// Family train_step/<model>/<variant>:
//   model    mnv1-0.25-32px-b128   MobileNetV1 0.25, 1 x 32 x 32 input, 10 classes, batch 128
//                                  (the quickstart model on Fashion-MNIST)
//            mnv1-1.0-224px-b16    MobileNetV1 1.0, 3 x 224 x 224 input, 1000 classes, batch 16
//   variant  dense    training::train_step: SGD (Nesterov 0.9, weight decay 4e-5), label smoothing 0.1
//            masked   the same step with a MaskSet over every pointwise layer at 80% sparsity,
//                     4x1 blocks chosen by BED (MaskSet::masked_step)
// Each case keeps its own model, optimizer and batch across repetitions, so only steps are timed
// (one warm-up step fills the momentum buffers first).
//
// Family mask_part/<model>/<part> times the parts of a masked step on their own:
// apply_to_gradients, apply_to_weights, apply_to_momentum, and the optimizer_step between them.
//
// Options besides Google Benchmark's:
//   --threads=N   LibTorch intra-op threads (default: every core, std::thread::hardware_concurrency)
//   --paired=N    instead of Google Benchmark: N pairs of one dense and one masked step per model,
//                 alternating which goes first, and the median of the pairs' masked/dense ratios.
//                 Pairs cancel the slow drifts of a shared machine that separate repetitions see.
// Defaults unless given: --benchmark_repetitions=9, --benchmark_enable_random_interleaving=true
// (dense and masked repetitions alternate), --benchmark_min_time=0.2. After a run one line per
// model gives the masked/dense ratio of the median step times (target: at most 1.03) and, when
// mask_part ran, the share of a dense step that MaskSet's three passes take.
//
//   build/bin/ubp-bench-train
//   build/bin/ubp-bench-train --benchmark_filter=0.25 --benchmark_repetitions=15
//   build/bin/ubp-bench-train --paired=20 --threads=1
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "data/datasets.h"
#include "models/mobilenet_v1.h"
#include "models/model_utils.h"
#include "training/masking.h"
#include "training/train_step.h"
#include "ubp/support/statistics.h"

namespace {

using namespace ubp;

struct ModelCase {
  std::string name;
  double width;
  int64_t in_channels, image_size, num_classes, batch;
};

const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"mnv1-0.25-32px-b128", 0.25, 1, 32, 10, 128},
      {"mnv1-1.0-224px-b16", 1.0, 3, 224, 1000, 16},
  };
  return cases;
}

constexpr double kSparsity = 0.8;
constexpr double kLabelSmoothing = 0.1;

// Everything one case steps on; built once and reused by every repetition of that case.
struct StepState {
  std::shared_ptr<models::MobileNetV1Impl> model;
  std::unique_ptr<torch::optim::SGD> optimizer;
  data::Batch batch;
  training::MaskSet masks;
  bool masked = false;
};

std::unique_ptr<StepState> make_state(const ModelCase& c, bool masked) {
  auto s = std::make_unique<StepState>();
  torch::manual_seed(0);  // dense and masked start from the same weights and batch
  models::MobileNetV1Options o;
  o.width = c.width;
  o.in_channels = c.in_channels;
  o.num_classes = c.num_classes;
  s->model = std::make_shared<models::MobileNetV1Impl>(o);
  s->batch.images = at::randn({c.batch, c.in_channels, c.image_size, c.image_size});
  s->batch.labels = at::randint(c.num_classes, {c.batch}, at::kLong);
  s->optimizer = std::make_unique<torch::optim::SGD>(
      s->model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).nesterov(true).weight_decay(4e-5));
  s->masked = masked;
  if (masked) {
    training::BlockMaskRequest request;
    request.method = "bed";
    request.block = {4, 1};
    request.sparsity = kSparsity;
    for (const models::PrunableLayer& layer : models::prunable_layers(*s->model)) {
      if (layer.kind != models::LayerKind::kPointwise) continue;
      s->masks.add(layer.name, layer.weight, training::select_block_mask(layer.weight, request).mask);
    }
    s->masks.apply_to_weights();
  }
  // Warm-up: allocates gradients and momentum buffers, which every later step reuses.
  training::train_step(*s->model, *s->optimizer, s->batch, kLabelSmoothing, masked ? &s->masks : nullptr);
  return s;
}

StepState& state_for(const ModelCase& c, bool masked) {
  static std::map<std::string, std::unique_ptr<StepState>> states;
  auto& slot = states[c.name + (masked ? "/masked" : "/dense")];
  if (!slot) slot = make_state(c, masked);
  return *slot;
}

void bm_train_step(benchmark::State& bench, const ModelCase* c, bool masked) {
  StepState& s = state_for(*c, masked);
  for (auto _ : bench) {
    const training::StepResult r =
        training::train_step(*s.model, *s.optimizer, s.batch, kLabelSmoothing, s.masked ? &s.masks : nullptr);
    benchmark::DoNotOptimize(r.loss);
  }
  bench.counters["images/s"] = benchmark::Counter(static_cast<double>(c->batch),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  if (s.masked) bench.counters["pw_sparsity"] = s.masks.weight_sparsity();
}

// The parts of a masked step on their own, to see which one costs: MaskSet's three passes and,
// for scale, the optimizer step they surround.
enum class Part { kGradients, kWeights, kMomentum, kOptimizerStep };

void bm_mask_part(benchmark::State& bench, const ModelCase* c, Part part) {
  StepState& s = state_for(*c, /*masked=*/true);
  for (auto _ : bench) {
    switch (part) {
      case Part::kGradients: s.masks.apply_to_gradients(); break;
      case Part::kWeights: s.masks.apply_to_weights(); break;
      case Part::kMomentum: s.masks.apply_to_momentum(*s.optimizer); break;
      case Part::kOptimizerStep: s.optimizer->step(); break;
    }
  }
}

// Passes every run to the console reporter and keeps each case's median step time.
class MedianCollector : public benchmark::BenchmarkReporter {
 public:
  explicit MedianCollector(benchmark::BenchmarkReporter* display) : display_(display) {}
  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const std::string& name = run.run_name.function_name;
      const Times t{run.GetAdjustedRealTime(), run.GetAdjustedCPUTime()};
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") medians_[name] = t;
      } else {
        per_repetition_[name].push_back(t);
      }
    }
    display_->ReportRuns(runs);
  }
  void Finalize() override { display_->Finalize(); }

  struct Times {
    double real = 0, cpu = 0;  // in the benchmark's unit
  };

  // The aggregate medians when Google Benchmark computed them, else the medians of what ran.
  bool median(const std::string& name, Times& out) const {
    if (const auto it = medians_.find(name); it != medians_.end()) {
      out = it->second;
      return true;
    }
    const auto it = per_repetition_.find(name);
    if (it == per_repetition_.end() || it->second.empty()) return false;
    std::vector<double> real, cpu;
    for (const Times& t : it->second) {
      real.push_back(t.real);
      cpu.push_back(t.cpu);
    }
    out = {support::median(real), support::median(cpu)};
    return true;
  }

 private:
  benchmark::BenchmarkReporter* display_;
  std::map<std::string, Times> medians_;
  std::map<std::string, std::vector<Times>> per_repetition_;
};

double process_cpu_seconds() {  // every thread of the process, so LibTorch's pool counts too
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct StepTime {
  double wall_ms = 0, cpu_ms = 0;
};

StepTime timed_step(StepState& s) {
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  training::train_step(*s.model, *s.optimizer, s.batch, kLabelSmoothing, s.masked ? &s.masks : nullptr);
  return {std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
          1e3 * (process_cpu_seconds() - cpu0)};
}

int run_paired(int pairs, int threads) {
  std::cout << "ubp-bench-train --paired=" << pairs << ": " << threads << " torch thread(s); per model, "
            << pairs << " pairs of one dense and one masked step (order alternating)\n";
  for (const ModelCase& c : model_cases()) {
    StepState& dense = state_for(c, false);
    StepState& masked = state_for(c, true);
    std::vector<double> dense_wall, masked_wall, ratio_wall, ratio_cpu;
    for (int i = 0; i < pairs; ++i) {
      StepTime d, m;
      if (i % 2 == 0) {
        d = timed_step(dense);
        m = timed_step(masked);
      } else {
        m = timed_step(masked);
        d = timed_step(dense);
      }
      dense_wall.push_back(d.wall_ms);
      masked_wall.push_back(m.wall_ms);
      ratio_wall.push_back(m.wall_ms / d.wall_ms);
      ratio_cpu.push_back(m.cpu_ms / d.cpu_ms);
    }
    std::cout << "  " << std::left << std::setw(21) << c.name << std::right << std::fixed << std::setprecision(2)
              << " median wall: dense " << support::median(dense_wall) << " ms, masked " << support::median(masked_wall)
              << " ms; masked/dense median of pair ratios: wall " << std::setprecision(4) << support::median(ratio_wall)
              << " (quartiles " << support::percentile(ratio_wall, 0.25) << ".." << support::percentile(ratio_wall, 0.75)
              << "), cpu " << support::median(ratio_cpu) << " (target <= 1.03)\n";
  }
  return 0;
}

bool has_flag(const std::vector<char*>& args, const std::string& prefix) {
  return std::any_of(args.begin(), args.end(), [&](const char* a) { return std::string(a).rfind(prefix, 0) == 0; });
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int pairs = 0;
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    int* target = a.rfind("--threads=", 0) == 0 ? &threads : a.rfind("--paired=", 0) == 0 ? &pairs : nullptr;
    if (target == nullptr) {
      args.push_back(argv[i]);
      continue;
    }
    try {
      *target = std::stoi(a.substr(a.find('=') + 1));
    } catch (const std::exception&) {
      *target = 0;
    }
    if (*target <= 0) {
      std::cerr << "ubp-bench-train: bad option '" << a << "' (expected --threads=N or --paired=N with N >= 1)\n";
      return 2;
    }
  }
  at::set_num_threads(threads);
  if (pairs > 0) {
    if (args.size() > 1) {
      std::cerr << "ubp-bench-train: --paired runs without Google Benchmark; drop '" << args[1] << "'\n";
      return 2;
    }
    return run_paired(pairs, threads);
  }
  static char repetitions[] = "--benchmark_repetitions=9";
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  static char min_time[] = "--benchmark_min_time=0.2";
  if (!has_flag(args, "--benchmark_repetitions")) args.push_back(repetitions);
  if (!has_flag(args, "--benchmark_enable_random_interleaving")) args.push_back(interleave);
  if (!has_flag(args, "--benchmark_min_time")) args.push_back(min_time);

  benchmark::AddCustomContext("torch_threads", std::to_string(threads));
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 2;

  for (const ModelCase& c : model_cases()) {
    for (const bool masked : {false, true}) {
      benchmark::RegisterBenchmark(("train_step/" + c.name + (masked ? "/masked" : "/dense")).c_str(),
                                   bm_train_step, &c, masked)
          ->Unit(benchmark::kMillisecond)
          ->MeasureProcessCPUTime()
          ->UseRealTime();
    }
  }
  const std::pair<const char*, Part> parts[] = {{"apply_to_gradients", Part::kGradients},
                                                {"apply_to_weights", Part::kWeights},
                                                {"apply_to_momentum", Part::kMomentum},
                                                {"optimizer_step", Part::kOptimizerStep}};
  for (const ModelCase& c : model_cases()) {
    for (const auto& [name, part] : parts) {
      benchmark::RegisterBenchmark(("mask_part/" + c.name + "/" + name).c_str(), bm_mask_part, &c, part)
          ->Unit(benchmark::kMicrosecond)
          ->MeasureProcessCPUTime()
          ->UseRealTime();
    }
  }
  std::unique_ptr<benchmark::BenchmarkReporter> display(benchmark::CreateDefaultDisplayReporter());
  MedianCollector collector(display.get());
  benchmark::RunSpecifiedBenchmarks(&collector);

  // CPU time (every thread of the process) too: on a shared machine, time spent descheduled
  // inflates wall time at random.
  std::cout << "\nmasked/dense ratio of median step times (target <= 1.03), " << threads << " torch thread(s):\n";
  for (const ModelCase& c : model_cases()) {
    MedianCollector::Times dense, masked;
    const std::string base = "train_step/" + c.name;
    if (!collector.median(base + "/dense", dense) || !collector.median(base + "/masked", masked)) continue;
    std::cout << "  " << std::left << std::setw(21) << c.name << std::right << std::fixed << std::setprecision(2)
              << " wall: dense " << dense.real << " ms, masked " << masked.real << " ms, ratio "
              << std::setprecision(4) << masked.real / dense.real << std::setprecision(2) << " | cpu: dense "
              << dense.cpu << " ms, masked " << masked.cpu << " ms, ratio " << std::setprecision(4)
              << masked.cpu / dense.cpu << "\n";
    MedianCollector::Times part;
    double mask_us = 0;
    bool all_parts = true;
    for (const char* name : {"apply_to_gradients", "apply_to_weights", "apply_to_momentum"}) {
      all_parts = all_parts && collector.median("mask_part/" + c.name + "/" + name, part);
      mask_us += part.real;
    }
    if (all_parts) {
      std::cout << "  " << std::setw(21) << "" << " MaskSet's three passes: " << std::setprecision(1) << mask_us
                << " us = " << std::setprecision(3) << 100.0 * mask_us / (1e3 * dense.real)
                << "% of the dense step\n";
    }
  }
  benchmark::Shutdown();
  return 0;
}

// ubp-bench-engine: our device engine against LibTorch on the same model, one thread each, so
// the latency ratios are measured side by side on one machine.
//
// Family BM_TorchForward/<model>/<kernel> and BM_EngineForward/<model>/<kernel>:
//   model   mnv1-1.0-224   MobileNetV1 1.0, 3 x 224 x 224 input, 1000 classes, random weights
//                          (models::init_conv_bn_linear, seed 1), batch 1
//   kernel  dense          no masks (LibTorch: the module in eval mode under NoGradGuard;
//                          engine: every layer in the dense kernel's panels)
//           aligned-0.8-4x1    pointwise layers masked at 80% by the `aligned` selector, stored
//                              aligned
//           unaligned-0.8-4x1  pointwise layers masked at 80% by `bed`, stored unaligned (WROS)
//           unaligned-naive-0.8-4x1  the same masks and arrays, run by the naive unaligned
//                              kernel (no WROS ring: read-modify-write of the output rows)
// The masks come from exporter::choose_masks_for_export, the code path of training runs.
// LibTorch runs with torch::set_num_threads(1), the engine with 1 thread.
//
// Defaults unless given: --benchmark_repetitions=5, --benchmark_min_time=0.5, random
// interleaving of the repetitions (slow drifts of a shared machine hit every case alike).
// After the run one line per ratio, from the medians of every timed iteration of each case:
// engine dense / LibTorch dense (target at most 1.5), engine dense / unaligned (target at least
// 1.8), unaligned / aligned (target at most 1.05) and unaligned-naive / aligned (no target: what
// the paper's kernel idea is worth over the plain design).
//
//   build/bin/ubp-bench-engine
//   build/bin/ubp-bench-engine --benchmark_filter=Engine --benchmark_repetitions=9
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "export/packed_export.h"
#include "models/model_utils.h"
#include "ubp/device/engine.h"

namespace {

using namespace ubp;

constexpr const char* kModel = "mnv1-1.0-224";
constexpr int64_t kResolution = 224;

struct KernelCase {
  std::string label;
  exporter::ExportKernel kernel;
  std::string method;  // the selector choosing the masks; "none" for no masks
};

const std::vector<KernelCase>& engine_cases() {
  static const std::vector<KernelCase> cases = {
      {"dense", exporter::ExportKernel::kDense, "none"},
      {"aligned-0.8-4x1", exporter::ExportKernel::kAligned, "aligned"},
      {"unaligned-0.8-4x1", exporter::ExportKernel::kUnaligned, "bed"},
      {"unaligned-naive-0.8-4x1", exporter::ExportKernel::kUnalignedNaive, "bed"},
  };
  return cases;
}

// The model, built once: every case times the same weights.
std::shared_ptr<models::Classifier> shared_model() {
  static const std::shared_ptr<models::Classifier> model = [] {
    torch::manual_seed(1);
    models::ModelSpec spec;
    spec.name = "mobilenet_v1";
    spec.width = 1.0;
    spec.num_classes = 1000;
    auto m = models::make_model(spec);
    m->eval();
    return m;
  }();
  return model;
}

std::vector<float> random_input() {
  std::vector<float> input(static_cast<size_t>(3 * kResolution * kResolution));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : input) v = u(rng);
  return input;
}

// Every timed iteration's seconds per case, for the ratios printed at the end.
std::map<std::string, std::vector<double>>& iteration_seconds() {
  static std::map<std::string, std::vector<double>> samples;
  return samples;
}

template <class F>
void time_iterations(benchmark::State& state, const std::string& name, F forward) {
  auto& samples = iteration_seconds()[name];
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    forward();
    samples.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

void BM_TorchForward(benchmark::State& state, const std::string& name) {
  auto model = shared_model();
  const std::vector<float> data = random_input();
  const at::Tensor input =
      at::from_blob(const_cast<float*>(data.data()), {1, 3, kResolution, kResolution}).clone();
  torch::NoGradGuard no_grad;
  model->forward(input);  // warm-up: LibTorch allocates its buffers on the first call
  time_iterations(state, name, [&] { benchmark::DoNotOptimize(model->forward(input)); });
}

// The engine of a case, built once: Google Benchmark calls a case several times (to size the
// iteration count, and once per repetition), and choosing masks takes longer than a forward.
device::Engine& engine_for(const KernelCase& c) {
  static std::map<std::string, std::unique_ptr<device::Engine>> engines;
  auto& engine = engines[c.label];
  if (engine) return *engine;
  auto model = shared_model();
  exporter::MaskChoice choice;
  choice.method = c.method;
  choice.sparsity = 0.8;
  choice.block = {4, 1};
  const auto masks = exporter::choose_masks_for_export(*model, choice);
  exporter::ExportOptions options;
  options.kernel = c.kernel;
  options.block = {4, 1};
  options.input_shape = {3, kResolution, kResolution};
  options.name = std::string(kModel) + "-" + c.label;
  engine = std::make_unique<device::Engine>(exporter::export_model(*model, masks, options), 1);
  return *engine;
}

void BM_EngineForward(benchmark::State& state, const std::string& name, const KernelCase& c) {
  device::Engine& engine = engine_for(c);
  const std::vector<float> input = random_input();
  engine.run(input.data());  // warm-up: the engine sizes its workspace on the first call
  time_iterations(state, name, [&] { benchmark::DoNotOptimize(engine.run(input.data())); });
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void print_ratio(const char* what, const std::string& numerator, const std::string& denominator,
                 const char* target) {
  const auto& samples = iteration_seconds();
  const auto a = samples.find(numerator), b = samples.find(denominator);
  if (a == samples.end() || b == samples.end() || b->second.empty()) return;
  const double ma = median(a->second), mb = median(b->second);
  std::printf("%-34s %8.3f  (%.2f ms / %.2f ms; target %s)\n", what, ma / mb, 1e3 * ma, 1e3 * mb,
              target);
}

bool has_flag(const std::vector<char*>& args, const char* prefix) {
  return std::any_of(args.begin(), args.end(),
                     [&](const char* a) { return std::string(a).rfind(prefix, 0) == 0; });
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  std::vector<char*> args(argv, argv + argc);
  static char repetitions[] = "--benchmark_repetitions=5";
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  static char min_time[] = "--benchmark_min_time=0.5";
  if (!has_flag(args, "--benchmark_repetitions")) args.push_back(repetitions);
  if (!has_flag(args, "--benchmark_enable_random_interleaving")) args.push_back(interleave);
  if (!has_flag(args, "--benchmark_min_time")) args.push_back(min_time);

  const std::string torch_name = std::string("BM_TorchForward/") + kModel + "/dense";
  benchmark::RegisterBenchmark(torch_name.c_str(), BM_TorchForward, torch_name)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  for (const KernelCase& c : engine_cases()) {
    const std::string name = std::string("BM_EngineForward/") + kModel + "/" + c.label;
    benchmark::RegisterBenchmark(name.c_str(), BM_EngineForward, name, c)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::AddCustomContext("torch_threads", "1");
  benchmark::AddCustomContext("engine_threads", "1");
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  const std::string engine = std::string("BM_EngineForward/") + kModel + "/";
  std::printf("\nmedians of every timed iteration, %s, one thread:\n", kModel);
  print_ratio("engine dense / LibTorch dense", engine + "dense", torch_name, "<= 1.5");
  print_ratio("engine dense / engine unaligned", engine + "dense", engine + "unaligned-0.8-4x1",
              ">= 1.8");
  print_ratio("engine unaligned / engine aligned", engine + "unaligned-0.8-4x1",
              engine + "aligned-0.8-4x1", "<= 1.05");
  print_ratio("engine unaligned-naive / aligned", engine + "unaligned-naive-0.8-4x1",
              engine + "aligned-0.8-4x1", "none; WROS's is the line above");
  print_ratio("engine unaligned-naive / unaligned", engine + "unaligned-naive-0.8-4x1",
              engine + "unaligned-0.8-4x1", "none");
  return 0;
}

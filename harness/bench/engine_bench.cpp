// ubp-bench-engine: our device engine against XNNPACK and LibTorch on the same models, 1 and 2
// threads, so the engine's latency ratios are measured side by side on one machine.
//
// Families (every case runs the same weights: one LibTorch model per architecture, exported once
// per kernel; XNNPACK gets the exported packed model's matrices, zeros included):
//   BM_Engine/<model>/<kernel>/threads:<n>    our engine (device/engine.h)
//   BM_Xnnpack/<model>/<mode>/threads:<n>     Debian's XNNPACK through its subgraph API
//                                             (device/xnnpack/xnnpack_engine.h)
//   BM_Torch/<model>/dense/threads:1          LibTorch, eval mode, NoGradGuard
//   model   mnv1-1.0-224   MobileNetV1 1.0, 3 x 224 x 224, 1000 classes, batch 1
//           resnet50-224   ResNet-50, 3 x 224 x 224, 1000 classes (dense only: second figure)
//   kernel  dense          no masks: every layer in the dense kernel's panels
//           aligned-0.8-4x1    pointwise layers masked at 80% by the `aligned` selector, stored
//                              aligned
//           unaligned-0.8-4x1  pointwise layers masked at 80% by `bed`, stored unaligned (WROS)
//           unaligned-0.8-4x1-fused  the same model with each depthwise layer and its 1x1
//                              layer run as one job (EngineOptions::fuse_depthwise_pointwise)
//           unaligned-naive-0.8-4x1  the same masks and arrays, naive unaligned kernel (1 thread)
//   mode    dense          XNNPACK's NHWC inference on the dense model
//           sparse-0.8-4x1 XNNPACK's NCHW (SpMM) inference, forced (this snapshot disables it on
//                          AVX machines; see xnnpack_engine.h), on the unaligned model's weights:
//                          the pruned matrices with their zeros
// Models are random (models::init_conv_bn_linear, seed 1; depthwise weights re-drawn with
// fan-in, see shared_model); masks come from
// exporter::choose_masks_for_export, the code path of training runs.
//
// After the ratios: per layer kind, the sums of per-layer medians of our engine (its layer
// timing) and of XNNPACK rebuilt as one operator per layer (xnnpack_layers.h: this XNNPACK
// snapshot has no runtime profiling), each checked against the engine's output first.
//
// Before timing, each XNNPACK case checks that its output agrees with our engine's on the same
// packed model (within 1e-4 of the largest logit) and each 2-thread engine that its output is
// bitwise the 1-thread one; a case that fails is skipped with the error, and its ratios are not
// printed.
//
// Defaults unless given: --benchmark_repetitions=5, --benchmark_min_time=0.3, random
// interleaving of the repetitions (slow drifts of a shared machine hit every case alike).
// After the run: every case's median over all its timed iterations, the cache-line round trip
// between the two CPUs measured before each case (counter round_trip_ns: on a VM it tells the
// minutes in which a second thread can help from those in which it cannot), then the ratios of
// device/README.md ("Engine against XNNPACK") with their targets.
//
//   build/bin/ubp-bench-engine
//   build/bin/ubp-bench-engine --benchmark_filter=mnv1 --benchmark_repetitions=9
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "export/packed_export.h"
#include "models/model_utils.h"
#include "ubp/device/engine.h"
#include "ubp/kernels/core_round_trip.h"
#include "ubp/support/statistics.h"
#if defined(UBP_BENCH_HAVE_XNNPACK)
#include "xnnpack_engine.h"
#include "xnnpack_layers.h"
#endif

namespace {

using namespace ubp;

constexpr const char* kMobileNet = "mnv1-1.0-224";
constexpr const char* kResNet = "resnet50-224";
constexpr int64_t kResolution = 224;

struct KernelCase {
  std::string label;
  exporter::ExportKernel kernel;
  std::string method;  // the selector choosing the masks; "none" for no masks
  bool fused = false;  // EngineOptions::fuse_depthwise_pointwise
  // The packed model's key: cases that differ only in `fused` share one export.
  std::string weights() const { return label.substr(0, label.rfind("-fused")); }
};

const KernelCase kDense{"dense", exporter::ExportKernel::kDense, "none"};
const KernelCase kAligned{"aligned-0.8-4x1", exporter::ExportKernel::kAligned, "aligned"};
const KernelCase kUnaligned{"unaligned-0.8-4x1", exporter::ExportKernel::kUnaligned, "bed"};
const KernelCase kUnalignedFused{"unaligned-0.8-4x1-fused", exporter::ExportKernel::kUnaligned,
                                 "bed", true};
const KernelCase kNaive{"unaligned-naive-0.8-4x1", exporter::ExportKernel::kUnalignedNaive,
                        "bed"};

// The LibTorch model of an architecture, built once: every case times the same weights.
std::shared_ptr<models::Classifier> shared_model(const std::string& model) {
  static std::map<std::string, std::shared_ptr<models::Classifier>> models_by_name;
  auto& m = models_by_name[model];
  if (m) return m;
  torch::manual_seed(1);
  models::ModelSpec spec;
  spec.name = model == kResNet ? "resnet50" : "mobilenet_v1";
  spec.width = 1.0;
  spec.num_classes = 1000;
  m = models::make_model(spec);
  // make_model's He initialisation uses fan-out, which for a depthwise [C][1][3][3] weight is
  // 9C: every depthwise layer shrinks the activations by about sqrt(2 / C), and by the global
  // pool MobileNetV1's features are ~1e-14, so its logits are the classifier's bias alone and
  // comparing outputs would check nothing. Fan-in (9) keeps them of order one. Timing does not
  // depend on the values (nothing gets near the denormal range either way).
  {
    torch::NoGradGuard no_grad;
    for (const auto& module : m->modules(/*include_self=*/false)) {
      if (auto* conv = module->as<torch::nn::Conv2d>()) {
        if (conv->options.groups() > 1) {
          torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanIn, torch::kReLU);
        }
      }
    }
  }
  m->eval();
  return m;
}

// The packed model of (architecture, kernel), exported once.
const device::PackedModel& packed_model(const std::string& model, const KernelCase& c) {
  static std::map<std::string, device::PackedModel> packed;
  const std::string key = model + "/" + c.weights();
  auto it = packed.find(key);
  if (it != packed.end()) return it->second;
  auto torch_model = shared_model(model);
  exporter::MaskChoice choice;
  choice.method = c.method;
  choice.sparsity = 0.8;
  choice.block = {4, 1};
  const auto masks = exporter::choose_masks_for_export(*torch_model, choice);
  exporter::ExportOptions options;
  options.kernel = c.kernel;
  options.block = {4, 1};
  options.input_shape = {3, kResolution, kResolution};
  options.name = key;
  return packed.emplace(key, exporter::export_model(*torch_model, masks, options)).first->second;
}

std::vector<float> random_input() {
  std::vector<float> input(static_cast<size_t>(3 * kResolution * kResolution));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : input) v = u(rng);
  return input;
}

// Every timed iteration's seconds per case, for the medians and ratios printed at the end.
std::map<std::string, std::vector<double>>& iteration_seconds() {
  static std::map<std::string, std::vector<double>> samples;
  return samples;
}

// Cache-line round trips between the first two CPUs, one before each case's timed loop: on a
// VM whose vCPUs the host moves about, this tells fast minutes for two threads from slow ones
// (kernels/core_round_trip.h). Empty, with the reason, where it cannot be measured.
struct RoundTrips {
  std::vector<double> ns;
  std::vector<int> cpus;
  std::string not_measured;
};
RoundTrips& round_trips() {
  static RoundTrips trips;
  return trips;
}

void sample_round_trip(benchmark::State& state) {
  RoundTrips& trips = round_trips();
  if (!trips.not_measured.empty()) return;
  try {
    const kernels::CoreRoundTrip trip = kernels::measure_core_round_trip(2000, 3);
    trips.ns.push_back(trip.median_ns);
    trips.cpus = trip.cpus;
    state.counters["round_trip_ns"] = trip.median_ns;
  } catch (const std::exception& e) {
    trips.not_measured = e.what();
  }
}

template <class F>
void time_iterations(benchmark::State& state, const std::string& name, F forward) {
  sample_round_trip(state);
  auto& samples = iteration_seconds()[name];
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    forward();
    samples.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

// The engine of (model, kernel, threads), built once: Google Benchmark calls a case several
// times (to size the iteration count, and once per repetition).
device::Engine& engine_for(const std::string& model, const KernelCase& c, int threads) {
  static std::map<std::string, std::unique_ptr<device::Engine>> engines;
  auto& engine = engines[model + "/" + c.label + "/" + std::to_string(threads)];
  if (!engine) {
    device::EngineOptions options;
    options.fuse_depthwise_pointwise = c.fused;
    engine = std::make_unique<device::Engine>(packed_model(model, c), threads, options);
  }
  return *engine;
}

// The engine's output on the benchmark input, 1 thread: what every other case must reproduce.
const std::vector<float>& engine_output(const std::string& model, const KernelCase& c) {
  static std::map<std::string, std::vector<float>> outputs;
  auto& out = outputs[model + "/" + c.weights()];
  if (out.empty()) out = engine_for(model, c, 1).run(random_input());
  return out;
}

void BM_Torch(benchmark::State& state, const std::string& name, const std::string& model) {
  auto torch_model = shared_model(model);
  const std::vector<float> data = random_input();
  const at::Tensor input =
      at::from_blob(const_cast<float*>(data.data()), {1, 3, kResolution, kResolution}).clone();
  torch::NoGradGuard no_grad;
  torch_model->forward(input);  // warm-up: LibTorch allocates its buffers on the first call
  time_iterations(state, name, [&] { benchmark::DoNotOptimize(torch_model->forward(input)); });
}

// Names of cases whose correctness check failed: their ratios are left out.
std::map<std::string, std::string>& failed_cases() {
  static std::map<std::string, std::string> failed;
  return failed;
}

void BM_Engine(benchmark::State& state, const std::string& name, const std::string& model,
               const KernelCase& c, int threads) {
  device::Engine& engine = engine_for(model, c, threads);
  const std::vector<float> input = random_input();
  const std::vector<float> out = engine.run(input);  // also the warm-up
  if (out != engine_output(model, c)) {
    failed_cases()[name] = "output differs from the 1-thread engine's";
    state.SkipWithError("engine output with this thread count differs from 1 thread");
    return;
  }
  time_iterations(state, name, [&] { benchmark::DoNotOptimize(engine.run(input.data())); });
}

// Per XNNPACK case: {max |XNNPACK - engine|, max |engine|} over the logits.
std::map<std::string, std::pair<double, double>>& agreement() {
  static std::map<std::string, std::pair<double, double>> diffs;
  return diffs;
}

#if defined(UBP_BENCH_HAVE_XNNPACK)
// XNNPACK's output against the engine's: both sum in float in different orders, so they agree
// within 1e-4 of the largest logit or compute different models.
struct Agreement {
  double worst = 0, largest = 0;
  bool ok = false;
};
Agreement compare_to_engine(const std::vector<float>& got, const std::vector<float>& expected) {
  Agreement a;
  for (float v : expected) a.largest = std::max(a.largest, std::abs(static_cast<double>(v)));
  for (size_t i = 0; i < got.size() && i < expected.size(); ++i) {
    a.worst = std::max(a.worst, std::abs(static_cast<double>(got[i]) - expected[i]));
  }
  a.ok = got.size() == expected.size() && a.largest > 0 && a.worst <= 1e-4 * a.largest;
  return a;
}

device::XnnpackModel& xnnpack_for(const std::string& model, const KernelCase& c,
                                  device::XnnpackMode mode, int threads) {
  static std::map<std::string, std::unique_ptr<device::XnnpackModel>> runtimes;
  auto& rt = runtimes[model + "/" + c.label + "/" + to_string(mode) + "/" +
                      std::to_string(threads)];
  if (!rt) rt = std::make_unique<device::XnnpackModel>(packed_model(model, c), mode, threads);
  return *rt;
}

void BM_Xnnpack(benchmark::State& state, const std::string& name, const std::string& model,
                const KernelCase& c, device::XnnpackMode mode, int threads) {
  device::XnnpackModel& xnn = xnnpack_for(model, c, mode, threads);
  const std::vector<float> input = random_input();
  xnn.set_input(input.data());
  xnn.invoke();  // also the warm-up
  const std::vector<float> got = xnn.output();
  const Agreement a = compare_to_engine(got, engine_output(model, c));
  agreement()[name] = {a.worst, a.largest};
  if (!a.ok) {
    failed_cases()[name] = "output differs from the engine's by " +
                           std::to_string(a.worst / a.largest) + " of the largest logit";
    state.SkipWithError("XNNPACK output differs from the engine's");
    return;
  }
  time_iterations(state, name, [&] { xnn.invoke(); });
}
#endif

// The median of a case that ran and passed its check, or 0.
double median_of(const std::string& name) {
  const auto& samples = iteration_seconds();
  const auto it = samples.find(name);
  if (it == samples.end() || it->second.empty() || failed_cases().count(name)) return 0;
  return support::median(it->second);
}

void print_ratio(const std::string& what, const std::string& numerator,
                 const std::string& denominator, const char* target) {
  const double a = median_of(numerator), b = median_of(denominator);
  if (a == 0 || b == 0) return;
  std::printf("%-52s %7.3f  (%7.2f ms / %7.2f ms; target %s)\n", what.c_str(), a / b, 1e3 * a,
              1e3 * b, target);
}

bool has_flag(const std::vector<char*>& args, const char* prefix) {
  return std::any_of(args.begin(), args.end(),
                     [&](const char* a) { return std::string(a).rfind(prefix, 0) == 0; });
}

std::string engine_name(const std::string& model, const KernelCase& c, int threads) {
  return "BM_Engine/" + model + "/" + c.label + "/threads:" + std::to_string(threads);
}
std::string xnnpack_name(const std::string& model, const std::string& mode, int threads) {
  return "BM_Xnnpack/" + model + "/" + mode + "/threads:" + std::to_string(threads);
}

// Per layer kind (first conv, other k x k conv, depthwise, pointwise, pool, add, classifier):
// the sum over the layers of each layer's median time over `runs` passes; `pass` runs one forward
// pass and fills one time per layer. Runs after the benchmarks, outside their timing.
void print_layer_kinds(const std::string& label, const device::PackedModel& model, int runs,
                       const std::function<void(std::vector<double>*)>& pass) {
  const auto& layers = model.layers;
  std::vector<std::vector<double>> per_layer(layers.size());
  std::vector<double> seconds;
  for (int r = 0; r < runs; ++r) {
    pass(&seconds);
    for (size_t i = 0; i < layers.size(); ++i) per_layer[i].push_back(seconds[i]);
  }
  std::map<std::string, double> by_kind;
  double total = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string kind = to_string(layers[i].kind);
    if (i == 0 && layers[i].kind == device::LayerKind::kConv) kind = "first conv";
    const double m = support::median(per_layer[i]);
    by_kind[kind] += m;
    total += m;
  }
  std::printf("  %-44s", label.c_str());
  for (const auto& [kind, sec] : by_kind) std::printf("  %s %.2f", kind.c_str(), 1e3 * sec);
  std::printf("  (sum %.2f ms)\n", 1e3 * total);
}

void print_engine_layer_kinds(const std::string& model, const KernelCase& c, int threads, int runs) {
  device::Engine& engine = engine_for(model, c, threads);
  const std::vector<float> input = random_input();
  print_layer_kinds(engine_name(model, c, threads), engine.model(), runs,
                    [&](std::vector<double>* seconds) { engine.run(input.data(), seconds); });
}

#if defined(UBP_BENCH_HAVE_XNNPACK)
// XNNPACK's per-layer times: the model as one XNNPACK operator per layer (xnnpack_layers.h),
// checked against our engine's output like the subgraph cases.
void print_xnnpack_layer_kinds(const std::string& model, const std::string& label,
                               const KernelCase& c, device::XnnpackMode mode, int threads,
                               int runs) {
  const std::string name = xnnpack_name(model, label, threads) + " (per op)";
  try {
    const device::PackedModel& packed = packed_model(model, c);
    device::XnnpackLayers layers(packed, mode, threads);
    const std::vector<float> input = random_input();
    layers.set_input(input.data());
    layers.run();  // warm-up
    const std::vector<float> got = layers.output();
    const Agreement a = compare_to_engine(got, engine_output(model, c));
    if (!a.ok) {
      std::printf("  %-44s FAILED: output differs from the engine's by %.3g of the largest logit\n",
                  name.c_str(), a.worst / a.largest);
      return;
    }
    print_layer_kinds(name, packed, runs, [&](std::vector<double>* seconds) { layers.run(seconds); });
  } catch (const std::exception& e) {
    std::printf("  %-44s FAILED: %s\n", name.c_str(), e.what());
  }
}
#endif

void print_round_trips() {
  const RoundTrips& trips = round_trips();
  if (trips.ns.empty()) {
    std::printf("\ncore-to-core cache-line round trip: not measured (%s)\n",
                trips.not_measured.empty() ? "no case ran" : trips.not_measured.c_str());
    return;
  }
  const auto [lo, hi] = std::minmax_element(trips.ns.begin(), trips.ns.end());
  const std::string cpus = trips.cpus.size() == 2 ? "CPUs " + std::to_string(trips.cpus[0]) +
                                                        " and " + std::to_string(trips.cpus[1])
                                                  : "threads not pinned";
  std::printf("\ncore-to-core cache-line round trip before each case (%s; the counter "
              "round_trip_ns above): median %.0f ns, %.0f to %.0f ns over %zu cases\n",
              cpus.c_str(), support::median(trips.ns), *lo, *hi, trips.ns.size());
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  std::vector<char*> args(argv, argv + argc);
  static char repetitions[] = "--benchmark_repetitions=5";
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  static char min_time[] = "--benchmark_min_time=0.3";
  if (!has_flag(args, "--benchmark_repetitions")) args.push_back(repetitions);
  if (!has_flag(args, "--benchmark_enable_random_interleaving")) args.push_back(interleave);
  if (!has_flag(args, "--benchmark_min_time")) args.push_back(min_time);

  auto add = [](const std::string& name, auto&& fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  const std::string torch_name = std::string("BM_Torch/") + kMobileNet + "/dense/threads:1";
  add(torch_name, [=](benchmark::State& s) { BM_Torch(s, torch_name, kMobileNet); });
  struct EngineCase {
    std::string model;
    const KernelCase* kernel;
    std::vector<int> threads;
  };
  const std::vector<EngineCase> engine_cases = {
      {kMobileNet, &kDense, {1, 2}},    {kMobileNet, &kAligned, {1, 2}},
      {kMobileNet, &kUnaligned, {1, 2}}, {kMobileNet, &kUnalignedFused, {1, 2}},
      {kMobileNet, &kNaive, {1}},
      {kResNet, &kDense, {1, 2}},
  };
  for (const EngineCase& e : engine_cases) {
    for (int t : e.threads) {
      const std::string name = engine_name(e.model, *e.kernel, t);
      const KernelCase* k = e.kernel;
      const std::string model = e.model;
      add(name, [=](benchmark::State& s) { BM_Engine(s, name, model, *k, t); });
    }
  }
#if defined(UBP_BENCH_HAVE_XNNPACK)
  struct XnnpackCase {
    std::string model, label;
    const KernelCase* kernel;
    device::XnnpackMode mode;
  };
  const std::vector<XnnpackCase> xnnpack_cases = {
      {kMobileNet, "dense", &kDense, device::XnnpackMode::kDense},
      {kMobileNet, "sparse-0.8-4x1", &kUnaligned, device::XnnpackMode::kSparse},
      {kResNet, "dense", &kDense, device::XnnpackMode::kDense},
  };
  for (const XnnpackCase& x : xnnpack_cases) {
    for (int t : {1, 2}) {
      const std::string name = xnnpack_name(x.model, x.label, t);
      const XnnpackCase c = x;
      add(name, [=](benchmark::State& s) { BM_Xnnpack(s, name, c.model, *c.kernel, c.mode, t); });
    }
  }
  benchmark::AddCustomContext("xnnpack", "libxnnpack-dev (subgraph API)");
#else
  benchmark::AddCustomContext("xnnpack", "not built (libxnnpack-dev missing)");
#endif
  benchmark::AddCustomContext("torch_threads", "1");
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::printf("\nmedians of every timed iteration:\n");
  for (const auto& [name, samples] : iteration_seconds()) {
    const auto failed = failed_cases().find(name);
    if (failed != failed_cases().end()) {
      std::printf("  %-52s FAILED: %s\n", name.c_str(), failed->second.c_str());
    } else if (!samples.empty()) {
      std::printf("  %-52s %8.2f ms\n", name.c_str(), 1e3 * support::median(samples));
    }
  }
  for (const auto& [name, why] : failed_cases()) {
    if (!iteration_seconds().count(name)) std::printf("  %-52s FAILED: %s\n", name.c_str(), why.c_str());
  }

  for (const auto& [name, diff] : agreement()) {
    std::printf("  %-52s max |diff| to the engine %.3g, largest |logit| %.3g\n", name.c_str(),
                diff.first, diff.second);
  }
  print_round_trips();

  const std::string m = kMobileNet;
  std::printf("\nratios of medians, %s (targets: device/README.md):\n", kMobileNet);
  for (int t : {1, 2}) {
    const std::string th = " (" + std::to_string(t) + "t)";
    print_ratio("ubp dense / XNNPACK dense" + th, engine_name(m, kDense, t),
                xnnpack_name(m, "dense", t), t == 1 ? "<= 1.00" : "none");
    print_ratio("ubp unaligned / XNNPACK dense" + th, engine_name(m, kUnaligned, t),
                xnnpack_name(m, "dense", t), t == 1 ? "<= 0.35" : "none");
    print_ratio("ubp unaligned / ubp dense" + th, engine_name(m, kUnaligned, t),
                engine_name(m, kDense, t), t == 1 ? "<= 0.33" : "none");
    print_ratio("ubp unaligned / ubp aligned" + th, engine_name(m, kUnaligned, t),
                engine_name(m, kAligned, t), "<= 1.03");
    print_ratio("ubp unaligned / XNNPACK sparse" + th, engine_name(m, kUnaligned, t),
                xnnpack_name(m, "sparse-0.8-4x1", t), t == 1 ? "<= 0.25" : "none");
  }
  const std::pair<std::string, std::string> scaling[] = {
      {"XNNPACK dense", xnnpack_name(m, "dense", 1)},
      {"XNNPACK sparse", xnnpack_name(m, "sparse-0.8-4x1", 1)},
      {"ubp dense", engine_name(m, kDense, 1)},
      {"ubp aligned", engine_name(m, kAligned, 1)},
      {"ubp unaligned", engine_name(m, kUnaligned, 1)},
  };
  for (const auto& [label, one] : scaling) {
    std::string two = one;
    two.replace(two.size() - 1, 1, "2");
    print_ratio(label + " 1-thread / 2-thread", one, two, ">= 1.6");
  }
  print_ratio("ubp dense / LibTorch dense (1t)", engine_name(m, kDense, 1), torch_name, "<= 1.5");
  print_ratio("ubp unaligned-naive / ubp aligned (1t)", engine_name(m, kNaive, 1),
              engine_name(m, kAligned, 1), "none");
  for (int t : {1, 2}) {
    print_ratio("ubp unaligned fused / separate layers (" + std::to_string(t) + "t)",
                engine_name(m, kUnalignedFused, t), engine_name(m, kUnaligned, t), "none");
  }
  std::printf("\nratios of medians, %s:\n", kResNet);
  for (int t : {1, 2}) {
    print_ratio("ubp dense / XNNPACK dense (" + std::to_string(t) + "t)",
                engine_name(kResNet, kDense, t), xnnpack_name(kResNet, "dense", t), "none");
  }
  print_ratio("ubp dense 1-thread / 2-thread", engine_name(kResNet, kDense, 1),
              engine_name(kResNet, kDense, 2), ">= 1.6");
  print_ratio("XNNPACK dense 1-thread / 2-thread", xnnpack_name(kResNet, "dense", 1),
              xnnpack_name(kResNet, "dense", 2), "none");

  std::printf("\nper layer kind, ms (sum of per-layer medians of 21 passes with layer timing):\n");
  for (const EngineCase& e : engine_cases) {
    const std::string probe = engine_name(e.model, *e.kernel, e.threads.front());
    if (!iteration_seconds().count(probe)) continue;  // filtered out of this run
    for (int t : e.threads) print_engine_layer_kinds(e.model, *e.kernel, t, 21);
  }
#if defined(UBP_BENCH_HAVE_XNNPACK)
  std::printf("\nXNNPACK per layer kind, ms (one operator per layer, xnn_run_operator each; same "
              "weights, clamps and layouts as its runtime; sum of per-layer medians of 21 passes):\n");
  for (const XnnpackCase& x : xnnpack_cases) {
    if (!iteration_seconds().count(xnnpack_name(x.model, x.label, 1))) continue;
    for (int t : {1, 2}) print_xnnpack_layer_kinds(x.model, x.label, *x.kernel, x.mode, t, 21);
  }
#endif
  return 0;
}

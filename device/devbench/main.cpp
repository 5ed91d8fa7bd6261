// ubp-devbench: times a packed model (or one of its layers) on this device and prints one JSON
// object with every sample, the summary statistics, per-layer times and the device's facts.
//
// It is the binary that runs on the measured device (copied there over ssh or adb for remote
// devices), so it is self-contained: static for aarch64, no files besides the model, and all
// it knows about the machine comes from device_facts.h. Exit status: 0 success, 2 bad command
// line, 3 model file problem, 1 anything else (device/README.md).
#include <sched.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "devbench_input.h"
#include "ubp/device/crc32.h"
#include "ubp/device/device_facts.h"
#include "ubp/device/engine.h"
#include "ubp/device/model_file.h"
#include "ubp/device/stats.h"
#include "ubp/kernels/spmm.h"
#include "ubp/support/atomic_file.h"

namespace ubp::device {
namespace {

// ordered_json: keys stay in the documented order, easier to read than alphabetical.
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitModelFile = 3;

// A command-line value that parses but cannot be used (exit status 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string model_path;
  std::string layer;  // "" = the whole model
  int64_t warmup = 10;
  double warmup_seconds = 1.0;  // and keep warming up until this long has passed
  int64_t iterations = 30;
  double min_seconds = 1.0;
  int64_t max_iterations = 100000;
  double min_sample_ms = 1.0;  // a sample groups enough runs to last this long (0: one run)
  int64_t group = 0;           // runs per sample when > 0 (overrides min_sample_ms)
  int threads = 1;
  bool fuse_depthwise_pointwise = false;  // EngineOptions::fuse_depthwise_pointwise
  std::string affinity;  // hex CPU mask, "" = leave the affinity alone
  uint64_t seed = 1;
  std::string output_file;
  std::string json_file;
  int64_t memory_limit_mib = default_engine_memory_limit() >> 20;
};

std::string hex32(uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// Size and CRC-32 of a file, read in chunks (the model can be tens of MB). nullopt when it
// cannot be read.
struct Fingerprint {
  int64_t bytes = 0;
  uint32_t crc = 0;
};
std::optional<Fingerprint> fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  Fingerprint print;
  std::vector<char> chunk(1 << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = in.gcount();
    print.crc = crc32(chunk.data(), static_cast<size_t>(got), print.crc);
    print.bytes += got;
  }
  if (in.bad()) return std::nullopt;
  return print;
}

// "0xf0" or "f0": bit i selects CPU i, any number of digits. Throws UsageError.
cpu_set_t parse_affinity_mask(const std::string& text) {
  std::string digits = text;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits = digits.substr(2);
  }
  const auto bad = [&](const std::string& why) {
    return UsageError("--affinity " + text + ": " + why +
                      " (accepted: a hexadecimal CPU mask such as 0xf0 = CPUs 4-7)");
  };
  if (digits.empty() || digits.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    throw bad("not a hexadecimal number");
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  int selected = 0;
  // The last digit holds CPUs 0-3, the one before it CPUs 4-7, and so on.
  for (size_t i = 0; i < digits.size(); ++i) {
    const char c = digits[digits.size() - 1 - i];
    const int nibble = std::stoi(std::string(1, c), nullptr, 16);
    for (int bit = 0; bit < 4; ++bit) {
      if (!(nibble & (1 << bit))) continue;
      const size_t cpu = 4 * i + static_cast<size_t>(bit);
      if (cpu >= CPU_SETSIZE)
        throw bad("selects CPU " + std::to_string(cpu) + ", beyond the limit");
      CPU_SET(cpu, &set);
      ++selected;
    }
  }
  if (selected == 0) throw bad("selects no CPU");
  return set;
}

// --layer: an index when it is all digits, else a layer name. Throws UsageError.
size_t select_layer(const PackedModel& model, const std::string& layer) {
  if (!layer.empty() && layer.find_first_not_of("0123456789") == std::string::npos) {
    // More than 9 digits cannot be a layer index (and would overflow the conversion).
    const unsigned long long index = layer.size() > 9 ? model.layers.size() : std::stoull(layer);
    if (index >= model.layers.size()) {
      throw UsageError("--layer " + layer + ": the model has " +
                       std::to_string(model.layers.size()) + " layers (index 0 to " +
                       std::to_string(model.layers.size() - 1) + ")");
    }
    return static_cast<size_t>(index);
  }
  for (size_t i = 0; i < model.layers.size(); ++i) {
    if (model.layers[i].name == layer) return i;
  }
  std::string names;
  for (size_t i = 0; i < model.layers.size() && i < 5; ++i) {
    names += (i ? ", " : "") + model.layers[i].name;
  }
  throw UsageError("--layer " + layer +
                   ": no layer of that name (accepted: an index or a name, e.g. " + names +
                   (model.layers.size() > 5 ? ", ..." : "") + ")");
}

json shape_json(const std::array<int64_t, 3>& shape) {
  return json::array({shape[0], shape[1], shape[2]});
}
json shape_json(const ImageShape& shape) {
  return json::array({shape.channels, shape.height, shape.width});
}

std::string storage_of(const Layer& layer) {
  return layer.has_weights() ? to_string(layer.weights.storage) : "none";
}

json snapshot_json(const ThermalSnapshot& snapshot) {
  json temperatures = json::array();
  for (const auto& t : snapshot.temperatures) {
    temperatures.push_back({{"zone", t.zone}, {"value", t.celsius}});
  }
  return {{"freq_khz", snapshot.freq_khz}, {"temperature_c", temperatures}};
}

json device_json(const DeviceFacts& facts) {
  return {{"machine", facts.machine},
          {"kernel", facts.kernel},
          {"hostname", facts.hostname},
          {"cpu_model", facts.cpu_model},
          {"cpus_online", facts.cpus_online},
          {"isa", facts.isa},
          {"simd_target", kernels::simd_target()},
          {"thread_pool", kernels::ThreadPool::backend()},
          {"governor", facts.governor},
          {"freq_min_khz", facts.freq_min_khz},
          {"freq_max_khz", facts.freq_max_khz},
          {"affinity_cpus", facts.affinity_cpus}};
}

json binary_json() {
  std::vector<char> target(4096);
  const ssize_t n = readlink("/proc/self/exe", target.data(), target.size() - 1);
  const std::string path = n > 0 ? std::string(target.data(), static_cast<size_t>(n)) : "";
  const auto print = path.empty() ? std::nullopt : fingerprint(path);
  return {{"path", path},
          {"bytes", print ? print->bytes : -1},
          {"crc32", print ? hex32(print->crc) : ""}};
}

void write_output_file(const std::string& path, const float* output, size_t count) {
  // Little-endian float32 whatever the host's order (all targets today are little-endian, but
  // the file format promises it).
  std::vector<unsigned char> bytes(4 * count);
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &output[i], sizeof bits);
    for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<unsigned char>(bits >> (8 * b));
  }
  try {
    support::write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  } catch (const support::FileError& e) {
    throw std::runtime_error(std::string("cannot write --output-file: ") + e.what());
  }
}

// How many runs one sample groups, and how that was decided.
struct Grouping {
  int64_t per_sample = 1;
  std::string decided_by;  // "--group", "--min-sample-ms" or "off"
  json trials = json::array();  // the calibration: {runs, best_ms} per trial
};

constexpr int64_t kMaxGroup = 1000000;

// Seconds that `runs` back-to-back runs of the engine take.
double time_runs(Engine& engine, const float* input, int64_t runs) {
  const auto begin = Clock::now();
  for (int64_t i = 0; i < runs; ++i) engine.run(input);
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

// --group when given; otherwise the number of runs whose back-to-back time reaches
// --min-sample-ms. Each trial count is timed three times and the best time kept (another
// process can only make a trial slower). The count is sized for the fastest time per run seen
// in any trial, with 20 % to spare: runs still warming up (cold caches, a clock ramping up) or
// a disturbed trial would otherwise give groups that fall short of the minimum once the model
// runs at full speed. It stops when a trial reaches the minimum and also covers it at that
// fastest speed. A model slower than the minimum gets 1.
Grouping decide_grouping(Engine& engine, const float* input, const Options& options) {
  Grouping g;
  if (options.group > 0) {
    g.per_sample = options.group;
    g.decided_by = "--group";
    return g;
  }
  if (options.min_sample_ms <= 0) {
    g.decided_by = "off";
    return g;
  }
  g.decided_by = "--min-sample-ms";
  const double target = options.min_sample_ms / 1e3;
  int64_t runs = 1;
  double fastest = std::numeric_limits<double>::infinity();  // seconds per run
  while (true) {
    double best = std::numeric_limits<double>::infinity();
    for (int rep = 0; rep < 3; ++rep) best = std::min(best, time_runs(engine, input, runs));
    g.trials.push_back({{"runs", runs}, {"best_ms", best * 1e3}});
    g.per_sample = runs;
    fastest = std::max(std::min(fastest, best / static_cast<double>(runs)), 1e-9);
    const double covers = static_cast<double>(runs) * fastest;  // this count at full speed
    if ((best >= target && covers >= target) || runs >= kMaxGroup) break;
    const double projected = std::ceil(1.2 * target / fastest);
    runs = std::clamp<int64_t>(static_cast<int64_t>(std::min(projected, 1e12)), runs + 1,
                               std::min(runs * 100, kMaxGroup));
  }
  return g;
}

json run_benchmark(const Options& options, Clock::time_point started) {
  if (options.max_iterations < options.iterations) {
    throw UsageError("--max-iterations " + std::to_string(options.max_iterations) +
                     " is below --iterations " + std::to_string(options.iterations));
  }
  if (!options.affinity.empty()) {
    // Set before the engine starts its pool: new threads inherit the creating thread's mask.
    const cpu_set_t set = parse_affinity_mask(options.affinity);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      throw UsageError("--affinity " + options.affinity + ": sched_setaffinity failed (" +
                       std::strerror(errno) + "); the mask must select an online CPU");
    }
  }

  const PackedModel model = read_model_file(options.model_path);  // ModelFileError: exit 3
  std::optional<size_t> layer_index;
  if (!options.layer.empty()) layer_index = select_layer(model, options.layer);
  const PackedModel measured = layer_index ? single_layer_model(model, *layer_index) : model;

  std::optional<Engine> engine_storage;
  try {
    EngineOptions engine_options;
    engine_options.memory_limit_bytes = options.memory_limit_mib << 20;
    engine_options.fuse_depthwise_pointwise = options.fuse_depthwise_pointwise;
    engine_storage.emplace(measured, options.threads, engine_options);
  } catch (const std::invalid_argument& e) {
    throw ModelFileError(options.model_path + ": the engine cannot run this model: " + e.what());
  }
  Engine& engine = *engine_storage;
  const std::vector<float> input =
      devbench_input(static_cast<size_t>(engine.input_shape().size()), options.seed);

  const DeviceFacts facts = read_device_facts();
  const ThermalSnapshot before = read_thermal_snapshot();

  // Warm-up by count and by time. The count fills caches; the time is for the clock: on the
  // 2-core VM this was developed on, a process that starts after an idle second runs a small
  // model at about 1.6x its steady time for the first 0.3-0.4 s (the host ramps the vCPU's clock
  // up), so a count of 10 tiny runs left most of a short session in the ramp and two sessions'
  // medians 4-6 % apart. A phone's governor ramps the same way.
  std::vector<double> layer_seconds;
  const auto warmup_begin = Clock::now();
  int64_t warmup_runs = 0;
  double warmup_elapsed = 0;
  while (warmup_runs < options.warmup || warmup_elapsed < options.warmup_seconds) {
    engine.run(input.data(), &layer_seconds);
    ++warmup_runs;
    warmup_elapsed = std::chrono::duration<double>(Clock::now() - warmup_begin).count();
  }
  const Grouping grouping = decide_grouping(engine, input.data(), options);
  const int64_t group = grouping.per_sample;

  // One sample = `group` runs back to back; it records their time per run, so samples stay
  // comparable whatever the grouping. Per-layer times likewise, averaged over the group.
  std::vector<double> samples_ms;
  std::vector<std::vector<double>> layer_ms(engine.num_layers());
  std::vector<double> layer_sum(engine.num_layers());
  double timed_seconds = 0;
  const float* output = nullptr;
  while (static_cast<int64_t>(samples_ms.size()) < options.max_iterations &&
         (static_cast<int64_t>(samples_ms.size()) < options.iterations ||
          timed_seconds < options.min_seconds)) {
    std::fill(layer_sum.begin(), layer_sum.end(), 0.0);
    const auto begin = Clock::now();
    for (int64_t r = 0; r < group; ++r) {
      output = engine.run(input.data(), &layer_seconds);
      for (size_t l = 0; l < layer_sum.size(); ++l) layer_sum[l] += layer_seconds[l];
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    timed_seconds += seconds;
    samples_ms.push_back(seconds * 1e3 / static_cast<double>(group));
    for (size_t l = 0; l < layer_ms.size(); ++l) {
      layer_ms[l].push_back(layer_sum[l] * 1e3 / static_cast<double>(group));
    }
  }
  const ThermalSnapshot after = read_thermal_snapshot();

  if (!options.output_file.empty()) {
    write_output_file(options.output_file, output,
                      static_cast<size_t>(engine.output_shape().size()));
  }

  json storage_counts = {{"dense", 0}, {"aligned", 0}, {"unaligned", 0}, {"unaligned-naive", 0}};
  for (const auto& layer : model.layers) {
    if (!layer.has_weights()) continue;
    json& count = storage_counts[to_string(layer.weights.storage)];
    count = count.get<int>() + 1;
  }
  const auto file = fingerprint(options.model_path);
  json model_json = {{"path", options.model_path},
                     {"name", model.name},
                     {"layers", model.layers.size()},
                     {"input_shape", shape_json(model.input_shape)},
                     {"output_shape", shape_json(model.layers.back().output_shape)},
                     {"storage", storage_counts},
                     {"file_bytes", file ? file->bytes : -1},
                     {"file_crc32", file ? hex32(file->crc) : ""}};

  json layer_json = nullptr;
  if (layer_index) {
    const Layer& layer = model.layers[*layer_index];
    layer_json = {{"index", *layer_index},
                  {"name", layer.name},
                  {"kind", to_string(layer.kind)},
                  {"input_shape", shape_json(engine.input_shape())},
                  {"output_shape", shape_json(engine.output_shape())}};
  }

  const SampleSummary summary = summarize(samples_ms);
  json layers = json::array();
  for (size_t l = 0; l < layer_ms.size(); ++l) {
    const size_t index = layer_index ? *layer_index : l;
    const Layer& layer = model.layers[index];
    const SampleSummary times = summarize(layer_ms[l]);
    layers.push_back({{"index", index},
                      {"name", layer.name},
                      {"kind", to_string(layer.kind)},
                      {"storage", storage_of(layer)},
                      {"p50_ms", times.p50},
                      {"mean_ms", times.mean}});
  }

  return {{"tool", "ubp-devbench"},
          {"format", 1},
          {"model", model_json},
          {"layer", layer_json},
          {"settings",
           {{"warmup", options.warmup},
            {"warmup_seconds", options.warmup_seconds},
            {"iterations", options.iterations},
            {"min_seconds", options.min_seconds},
            {"max_iterations", options.max_iterations},
            {"min_sample_ms", options.min_sample_ms},
            {"group", options.group},
            {"threads", options.threads},
            {"fuse_depthwise_pointwise", options.fuse_depthwise_pointwise},
            {"affinity", options.affinity},
            {"seed", options.seed}}},
          {"warmup_done", {{"runs", warmup_runs}, {"seconds", warmup_elapsed}}},
          {"grouping",
           {{"iterations_per_sample", group},
            {"decided_by", grouping.decided_by},
            {"calibration", grouping.trials}}},
          {"samples_ms", samples_ms},
          {"summary",
           {{"count", summary.count},
            {"min_ms", summary.min},
            {"max_ms", summary.max},
            {"mean_ms", summary.mean},
            {"stddev_ms", summary.stddev},
            {"cv", summary.cv},
            {"p50_ms", summary.p50},
            {"p90_ms", summary.p90},
            {"p99_ms", summary.p99}}},
          {"layers", layers},
          {"device", device_json(facts)},
          {"binary", binary_json()},
          {"before", snapshot_json(before)},
          {"after", snapshot_json(after)},
          {"wall_seconds", std::chrono::duration<double>(Clock::now() - started).count()}};
}

int devbench_main(int argc, char** argv) {
  const auto started = Clock::now();
  Options options;
  CLI::App app{
      "ubp-devbench: times a packed model (ubp export) or one of its layers on this "
      "device and prints one JSON object (samples, summary, per-layer times, device "
      "facts). Exit status: 0 ok, 2 bad command line, 3 model file problem, 1 other."};
  app.add_option("--model", options.model_path, "Packed model file")->required();
  app.add_option("--layer", options.layer, "Time only this layer: an index or a layer name");
  app.add_option("--warmup", options.warmup, "Untimed runs first")->check(CLI::NonNegativeNumber);
  app.add_option("--warmup-seconds", options.warmup_seconds,
                 "And keep warming up until this many seconds have passed (a clock that ramps up "
                 "after idle time must reach its steady speed before timing starts)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--iterations", options.iterations, "Least number of timed samples")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-seconds", options.min_seconds,
                 "Keep timing until this much timed work (seconds) has passed")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-iterations", options.max_iterations, "Most timed samples")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-sample-ms", options.min_sample_ms,
                 "A sample groups enough back-to-back runs to last at least this many "
                 "milliseconds (decided after the warm-up; 0: one run per sample); times stay "
                 "per run")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--group", options.group,
                 "Runs per sample, instead of deciding from --min-sample-ms")
      ->check(CLI::Range(int64_t{1}, kMaxGroup));
  app.add_option("--threads", options.threads, "Engine threads")->check(CLI::Range(1, 1024));
  app.add_flag("--fuse-depthwise-pointwise", options.fuse_depthwise_pointwise,
               "Run each depthwise layer and the 1x1 layer reading it as one job split by rows "
               "(same output; off by default: slower on the development VM)");
  app.add_option("--affinity", options.affinity,
                 "Hexadecimal CPU mask for the process and its threads, e.g. 0xf0");
  app.add_option("--seed", options.seed, "Seed of the uniform [-1, 1) input");
  app.add_option("--output-file", options.output_file,
                 "Write the last run's output here (raw little-endian float32)");
  app.add_option("--json", options.json_file, "Write the JSON here instead of stdout");
  app.add_option("--memory-limit-mib", options.memory_limit_mib,
                 "Refuse a model whose buffers, weights and scratch need more (MiB; default: "
                 "min(2048, a quarter of physical memory))")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    app.exit(e);
    return kExitUsage;
  }

  try {
    const json result = run_benchmark(options, started);
    const std::string text = result.dump(2) + "\n";
    if (options.json_file.empty()) {
      std::cout << text << std::flush;
      if (!std::cout) throw std::runtime_error("cannot write the JSON to stdout");
    } else {
      try {
        support::write_file_atomically(options.json_file, text);
      } catch (const support::FileError& e) {
        throw std::runtime_error(std::string("cannot write --json: ") + e.what());
      }
    }
    return 0;
  } catch (const UsageError& e) {
    std::cerr << "ubp-devbench: " << e.what() << "\n";
    return kExitUsage;
  } catch (const ModelFileError& e) {
    std::cerr << "ubp-devbench: " << e.what() << "\n";
    return kExitModelFile;
  } catch (const std::exception& e) {
    std::cerr << "ubp-devbench: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace
}  // namespace ubp::device

int main(int argc, char** argv) { return ubp::device::devbench_main(argc, argv); }

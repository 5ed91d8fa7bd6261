// ubp-devbench as a real process: the test writes small packed-model files, runs
// build/bin/ubp-devbench on them and checks the exit status, the JSON and the output file
// against the in-process engine.
//
// DevbenchAarch64.* runs the static aarch64 build under qemu-aarch64 instead (ctest
// ubp_devbench_aarch64, label aarch64, sets UBP_AARCH64_DEVBENCH); the host test list leaves it
// out. Its output is compared with the host engine's within a tolerance, not bitwise: the
// SIMD width and hence the order of the float sums differ between AVX and NEON.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devbench_input.h"
#include "model_builder.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "ubp/device/crc32.h"
#include "ubp/device/engine.h"
#include "ubp/device/model_file.h"
#include "ubp/support/statistics.h"

namespace ubp::device {
namespace {

using nlohmann::json;
using ubp::device::testing::ModelBuilder;
using ubp::testing::ProcessResult;
using ubp::testing::read_bytes;
using ubp::testing::run_process;
using ubp::testing::TempDir;

const std::string kDevbench = UBP_DEVBENCH_PATH;

// conv 3x3 (dense) -> pointwise (unaligned) -> depthwise 3x3/2 (dense) -> pointwise (aligned)
// -> global average pool -> fc (dense): every storage, the im2col, sparse and depthwise paths.
// He-scaled weights (see ModelBuilder) keep activations of order one through the layers.
PackedModel small_model(int64_t size = 16) {
  const Activation relu = Activation::kRelu;
  ModelBuilder b("devbench-small", {3, size, size}, 10);
  b.conv("stem.conv", 8, 3, 1, 1, relu, WeightStorage::kDense);
  b.conv("block1.pw", 16, 1, 1, 0, relu, WeightStorage::kUnaligned);
  b.depthwise("block1.dw", 2, relu, WeightStorage::kDense);
  b.conv("block2.pw", 32, 1, 1, 0, relu, WeightStorage::kAligned);
  b.pool("pool", PoolKind::kGlobalAverage);
  b.fc("fc", 10, Activation::kNone, WeightStorage::kDense);
  return b.model();
}

std::string write_small_model(const TempDir& dir, const std::string& name = "small.ubpm") {
  const std::string path = dir.file(name);
  write_model_file(path, small_model());
  return path;
}

ProcessResult devbench(std::vector<std::string> args) {
  args.insert(args.begin(), kDevbench);
  return run_process(args, "");
}

// Runs with `args` plus quick settings for the options they leave out (one run per sample
// unless the test asks for grouping), parses stdout; fails the test on a non-zero exit.
json devbench_json(std::vector<std::string> args) {
  for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
           {"--warmup", "1"}, {"--warmup-seconds", "0"}, {"--iterations", "3"}, {"--min-seconds", "0"},
           {"--min-sample-ms", "0"}}) {
    if (std::find(args.begin(), args.end(), option) == args.end()) {
      args.push_back(option);
      args.push_back(value);
    }
  }
  const ProcessResult r = devbench(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return json::parse(r.out);
  } catch (const json::exception& e) {
    ADD_FAILURE() << "stdout is not JSON (" << e.what() << "):\n" << r.out;
    return json::object();
  }
}

std::vector<float> floats_from_bytes(const std::string& bytes) {
  std::vector<float> values(bytes.size() / 4);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b)
      bits |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[4 * i + b])) << (8 * b);
    std::memcpy(&values[i], &bits, sizeof bits);
  }
  return values;
}

std::vector<float> host_engine_output(const std::string& model_path, uint64_t seed) {
  Engine engine(read_model_file(model_path), 1);
  return engine.run(devbench_input(static_cast<size_t>(engine.input_shape().size()), seed));
}

void expect_summary_invariants(const json& j) {
  const json& s = j.at("summary");
  EXPECT_EQ(s.at("count").get<size_t>(), j.at("samples_ms").size());
  EXPECT_GE(s.at("count").get<int64_t>(), j.at("settings").at("iterations").get<int64_t>());
  EXPECT_LE(s.at("min_ms").get<double>(), s.at("p50_ms").get<double>());
  EXPECT_LE(s.at("p50_ms").get<double>(), s.at("p90_ms").get<double>());
  EXPECT_LE(s.at("p90_ms").get<double>(), s.at("p99_ms").get<double>());
  EXPECT_LE(s.at("p99_ms").get<double>(), s.at("max_ms").get<double>());
  EXPECT_GT(s.at("min_ms").get<double>(), 0.0);
  const auto samples = j.at("samples_ms").get<std::vector<double>>();
  EXPECT_DOUBLE_EQ(*std::min_element(samples.begin(), samples.end()), s.at("min_ms").get<double>());
  EXPECT_DOUBLE_EQ(*std::max_element(samples.begin(), samples.end()), s.at("max_ms").get<double>());
}

TEST(Devbench, WholeModelReportsSamplesSummaryLayersAndDevice) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  const json j = devbench_json({"--model", model});
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("tool"), "ubp-devbench");
  EXPECT_EQ(j.at("format"), 1);
  EXPECT_TRUE(j.at("layer").is_null());
  expect_summary_invariants(j);
  EXPECT_EQ(j.at("summary").at("count"), 3);  // --min-seconds 0: exactly --iterations

  const json& m = j.at("model");
  EXPECT_EQ(m.at("path"), model);
  EXPECT_EQ(m.at("name"), "devbench-small");
  EXPECT_EQ(m.at("layers"), 6);
  EXPECT_EQ(m.at("input_shape"), json::array({3, 16, 16}));
  EXPECT_EQ(m.at("output_shape"), json::array({10, 1, 1}));
  EXPECT_EQ(m.at("storage"),
            json({{"dense", 3}, {"aligned", 1}, {"unaligned", 1}, {"unaligned-naive", 0}}));
  const std::string bytes = read_bytes(model);
  EXPECT_EQ(m.at("file_bytes"), bytes.size());
  char crc[11];
  std::snprintf(crc, sizeof crc, "0x%08x", crc32(bytes.data(), bytes.size()));
  EXPECT_EQ(m.at("file_crc32"), crc);

  const json& layers = j.at("layers");
  ASSERT_EQ(layers.size(), 6u);
  const PackedModel expected = small_model();
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_EQ(layers[i].at("index"), i);
    EXPECT_EQ(layers[i].at("name"), expected.layers[i].name);
    EXPECT_EQ(layers[i].at("kind"), to_string(expected.layers[i].kind));
    EXPECT_GE(layers[i].at("p50_ms").get<double>(), 0.0);
    EXPECT_GE(layers[i].at("mean_ms").get<double>(), 0.0);
  }
  EXPECT_EQ(layers[1].at("storage"), "unaligned");
  EXPECT_EQ(layers[3].at("storage"), "aligned");
  EXPECT_EQ(layers[4].at("storage"), "none");

  utsname names{};
  ASSERT_EQ(uname(&names), 0);
  const json& device = j.at("device");
  EXPECT_EQ(device.at("machine"), names.machine);
  EXPECT_EQ(device.at("kernel"), names.release);
  EXPECT_GE(device.at("cpus_online").get<int>(), 1);
  EXPECT_FALSE(device.at("simd_target").get<std::string>().empty());
  EXPECT_FALSE(device.at("affinity_cpus").empty());

  const json& binary = j.at("binary");
  EXPECT_EQ(binary.at("path"), std::filesystem::canonical(kDevbench).string());
  EXPECT_EQ(binary.at("bytes"), std::filesystem::file_size(kDevbench));
  for (const char* when : {"before", "after"}) {
    EXPECT_TRUE(j.at(when).at("freq_khz").is_array()) << when;
    EXPECT_TRUE(j.at(when).at("temperature_c").is_array()) << when;
  }
  EXPECT_GT(j.at("wall_seconds").get<double>(), 0.0);
}

TEST(Devbench, MinSecondsExtendsAndMaxIterationsCapsTheTimedRuns) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  const json longer = devbench_json({"--model", model, "--min-seconds", "0.3"});
  expect_summary_invariants(longer);
  const auto samples = longer.at("samples_ms").get<std::vector<double>>();
  double total_ms = 0;
  for (double s : samples) total_ms += s;
  EXPECT_GE(total_ms, 300.0);
  EXPECT_GT(samples.size(), 3u);

  const json capped =
      devbench_json({"--model", model, "--min-seconds", "1000", "--max-iterations", "7"});
  EXPECT_EQ(capped.at("summary").at("count"), 7);
}

TEST(Devbench, GroupsRunsOfAFastModelIntoSamplesOfAtLeastTheMinimumAndReportsPerRunTimes) {
  // An 8x8 input: one run takes microseconds, far below the 2 ms minimum.
  TempDir dir;
  const std::string model = dir.file("tiny.ubpm");
  write_model_file(model, small_model(8));
  const json single = devbench_json({"--model", model, "--iterations", "300"});
  EXPECT_EQ(single.at("grouping").at("iterations_per_sample"), 1);
  EXPECT_EQ(single.at("grouping").at("decided_by"), "off");
  const double single_p50 = single.at("summary").at("p50_ms").get<double>();
  const double single_min = single.at("summary").at("min_ms").get<double>();
  ASSERT_LT(single_p50, 1.0) << "the model is meant to be fast";

  // Calibrated after half a second of warm-up: a clock still ramping up (this VM's takes
  // 0.3-0.4 s after idle) would size the group for runs twice as slow as the timed ones.
  const json grouped = devbench_json(
      {"--model", model, "--iterations", "20", "--min-sample-ms", "2", "--warmup-seconds", "0.5"});
  expect_summary_invariants(grouped);
  const json& g = grouped.at("grouping");
  const int64_t k = g.at("iterations_per_sample").get<int64_t>();
  EXPECT_GT(k, 1);
  EXPECT_EQ(g.at("decided_by"), "--min-sample-ms");
  ASSERT_FALSE(g.at("calibration").empty());
  EXPECT_EQ(g.at("calibration").back().at("runs"), k);
  EXPECT_GE(g.at("calibration").back().at("best_ms").get<double>(), 2.0);
  EXPECT_EQ(grouped.at("settings").at("min_sample_ms"), 2.0);
  // Times stay per run: grouped samples agree with single runs within a loose factor, and a
  // whole sample lasts about the minimum; a group not applied, or a time not divided by it (or
  // divided twice), is off by k > 100 here. The bounds allow for this shared 2-core machine,
  // whose speed changes by up to 2x between phases (another process on the sibling hardware
  // thread) and whose 2 ms samples are far likelier to hold a preemption than single runs: the
  // least disturbed grouped sample is compared with the single runs' median, the grouped median
  // with the fastest single run, and a whole sample must last at least half the minimum (the
  // calibration trial that chose k lasted the whole minimum, checked above).
  const std::vector<double> grouped_samples = grouped.at("samples_ms").get<std::vector<double>>();
  const double grouped_p50 = support::median(grouped_samples);
  const double grouped_min = *std::min_element(grouped_samples.begin(), grouped_samples.end());
  EXPECT_LT(grouped_min, 5 * single_p50);
  EXPECT_GT(grouped_p50, single_min / 5);
  EXPECT_GE(static_cast<double>(k) * grouped_p50, 1.0);
  // Per-layer times are per run too: their sum stays below the whole run's time.
  double layers_ms = 0;
  for (const json& layer : grouped.at("layers")) layers_ms += layer.at("p50_ms").get<double>();
  EXPECT_LT(layers_ms, 1.5 * grouped_p50);

  // --group fixes the grouping without calibrating.
  const json fixed = devbench_json({"--model", model, "--group", "7"});
  EXPECT_EQ(fixed.at("grouping").at("iterations_per_sample"), 7);
  EXPECT_EQ(fixed.at("grouping").at("decided_by"), "--group");
  EXPECT_TRUE(fixed.at("grouping").at("calibration").empty());
}

TEST(Devbench, OneLayerByIndexAndByName) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  for (const std::string selector : {"2", "block1.dw"}) {
    const json j = devbench_json({"--model", model, "--layer", selector});
    EXPECT_EQ(j.at("layer").at("index"), 2) << selector;
    EXPECT_EQ(j.at("layer").at("name"), "block1.dw") << selector;
    EXPECT_EQ(j.at("layer").at("input_shape"), json::array({16, 16, 16})) << selector;
    EXPECT_EQ(j.at("layer").at("output_shape"), json::array({16, 8, 8})) << selector;
    ASSERT_EQ(j.at("layers").size(), 1u) << selector;
    EXPECT_EQ(j.at("layers")[0].at("index"), 2) << selector;
    EXPECT_EQ(j.at("layers")[0].at("kind"), "depthwise") << selector;
    EXPECT_EQ(j.at("model").at("layers"), 6) << selector;  // the file, not the cut
    expect_summary_invariants(j);
  }
}

TEST(Devbench, AffinityMaskRestrictsTheProcess) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  const json j = devbench_json({"--model", model, "--affinity", "0x1", "--threads", "2"});
  EXPECT_EQ(j.at("device").at("affinity_cpus"), json::array({0}));
  EXPECT_EQ(j.at("settings").at("affinity"), "0x1");
  EXPECT_EQ(j.at("settings").at("threads"), 2);

  // The highest CPU this test may use, as a mask with many digits (e.g. CPU 9: 0x200).
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int last = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) last = cpu;
  }
  std::string mask(static_cast<size_t>(last / 4) + 1, '0');
  mask[0] = "1248"[last % 4];
  const json high = devbench_json({"--model", model, "--affinity", "0x" + mask});
  EXPECT_EQ(high.at("device").at("affinity_cpus"), json::array({last})) << mask;
}

TEST(Devbench, OutputFileEqualsTheInProcessEngineBitwise) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  const std::string out = dir.file("out.f32");
  // Two threads in the runner, one here: the engine's output does not depend on the count.
  devbench_json({"--model", model, "--seed", "7", "--threads", "2", "--output-file", out});
  const std::string bytes = read_bytes(out);
  const std::vector<float> expected = host_engine_output(model, 7);
  ASSERT_EQ(bytes.size(), 4 * expected.size());
  EXPECT_EQ(std::memcmp(bytes.data(), expected.data(), bytes.size()), 0);
  // A different seed is a different input, so the comparison above means something.
  EXPECT_NE(host_engine_output(model, 8), expected);
}

TEST(Devbench, FusingDepthwiseAnd1x1LayersKeepsTheOutputAndIsRecordedInTheSettings) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  const std::string out = dir.file("fused.f32");
  const json fused = devbench_json({"--model", model, "--seed", "7", "--threads", "2",
                                    "--fuse-depthwise-pointwise", "--output-file", out});
  EXPECT_EQ(fused.at("settings").at("fuse_depthwise_pointwise"), true);
  const std::string bytes = read_bytes(out);
  const std::vector<float> expected = host_engine_output(model, 7);
  ASSERT_EQ(bytes.size(), 4 * expected.size());
  EXPECT_EQ(std::memcmp(bytes.data(), expected.data(), bytes.size()), 0);
  EXPECT_EQ(devbench_json({"--model", model}).at("settings").at("fuse_depthwise_pointwise"), false);
}

TEST(Devbench, WarmsUpForTheGivenRunsAndSecondsBeforeTiming) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  const json by_count = devbench_json({"--model", model, "--warmup", "3", "--warmup-seconds", "0"});
  EXPECT_EQ(by_count.at("warmup_done").at("runs"), 3);
  const json by_time = devbench_json({"--model", model, "--warmup", "1", "--warmup-seconds", "0.2"});
  EXPECT_EQ(by_time.at("settings").at("warmup_seconds"), 0.2);
  EXPECT_GE(by_time.at("warmup_done").at("seconds").get<double>(), 0.2);
  EXPECT_GT(by_time.at("warmup_done").at("runs").get<int64_t>(), 1);  // the small model takes far less
}

TEST(Devbench, JsonOptionWritesTheFileAndNothingToStdout) {
  TempDir dir;
  const std::string json_path = dir.file("result.json");
  const ProcessResult r =
      devbench({"--model", write_small_model(dir), "--warmup", "0", "--warmup-seconds", "0", "--iterations", "2",
                "--min-seconds", "0", "--json", json_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const json j = json::parse(read_bytes(json_path));
  EXPECT_EQ(j.at("summary").at("count"), 2);
}

TEST(Devbench, BadCommandLinesExitWithStatus2) {
  TempDir dir;
  const std::string model = write_small_model(dir);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "--model"},
      {{"--model", model, "--iterations", "0"}, "--iterations"},
      {{"--model", model, "--threads", "0"}, "--threads"},
      {{"--model", model, "--warmup", "-1"}, "--warmup"},
      {{"--model", model, "--warmup-seconds", "-1"}, "--warmup-seconds"},
      {{"--model", model, "--affinity", "zz"}, "hexadecimal"},
      {{"--model", model, "--affinity", "0x0"}, "selects no CPU"},
      {{"--model", model, "--layer", "6"}, "6 layers"},
      {{"--model", model, "--layer", "no.such"}, "stem.conv"},
      {{"--model", model, "--iterations", "5", "--max-iterations", "2"}, "--max-iterations"},
      {{"--model", model, "--frobnicate"}, "frobnicate"},
      {{"--model", model, "--group", "0"}, "--group"},
      {{"--model", model, "--min-sample-ms", "-1"}, "--min-sample-ms"},
  };
  for (const auto& [args, message] : cases) {
    const ProcessResult r = devbench(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << joined << "\nstderr: " << r.err;
    EXPECT_EQ(r.out, "") << joined;
  }
}

TEST(Devbench, HelpExitsWithStatus0) {
  const ProcessResult r = devbench({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--affinity"), std::string::npos);
}

TEST(Devbench, ModelFileProblemsExitWithStatus3NamingTheFile) {
  TempDir dir;
  const std::string missing = dir.file("missing.ubpm");
  const std::string model = write_small_model(dir);
  std::string bytes = read_bytes(model);
  // The last payload byte belongs to the fc bias: its array checksum must fail.
  std::string corrupt_bytes = bytes;
  corrupt_bytes[corrupt_bytes.size() - 1] ^= 0x5a;
  const std::string corrupt = dir.write("corrupt.ubpm", corrupt_bytes);
  const std::string truncated = dir.write("truncated.ubpm", bytes.substr(0, bytes.size() / 2));
  const std::string foreign = dir.write("foreign.ubpm", "not a model at all");
  for (const std::string& path : {missing, corrupt, truncated, foreign}) {
    const ProcessResult r = devbench({"--model", path, "--warmup", "0", "--warmup-seconds", "0", "--iterations", "1"});
    EXPECT_EQ(r.exit_code, 3) << path << "\n" << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << path;
  }
}

// ---- aarch64 under qemu ----

TEST(DevbenchAarch64, MatchesTheHostEngineUnderQemu) {
  const char* binary = std::getenv("UBP_AARCH64_DEVBENCH");
  // ctest runs this test only as ubp_devbench_aarch64, which sets the variable (and is left out
  // of the host test list); running the binary by hand without it skips it, saying why.
  if (binary == nullptr) GTEST_SKIP() << "UBP_AARCH64_DEVBENCH not set (ctest -L aarch64 sets it)";
  ASSERT_TRUE(std::filesystem::exists(binary))
      << binary
      << " does not exist; build it with cmake --build build --target ubp-devbench-aarch64";
  TempDir dir;
  // A larger input than the host tests so every SIMD path sees full and partial vectors.
  const std::string model = dir.file("qemu.ubpm");
  write_model_file(model, small_model(23));
  const std::string out = dir.file("out.f32"), json_path = dir.file("result.json");
  const ProcessResult r = run_process({"qemu-aarch64", binary, "--model", model, "--warmup", "0", "--warmup-seconds", "0",
                                       "--iterations", "2", "--min-seconds", "0", "--threads", "2",
                                       "--seed", "5", "--output-file", out, "--json", json_path},
                                      "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(read_bytes(json_path));
  EXPECT_EQ(j.at("device").at("machine"), "aarch64");
  EXPECT_EQ(j.at("summary").at("count"), 2);
  std::cout << "aarch64 ubp-devbench: simd_target " << j.at("device").at("simd_target")
            << ", binary " << j.at("binary").at("bytes") << " bytes\n";

  const std::vector<float> actual = floats_from_bytes(read_bytes(out));
  const std::vector<float> expected = host_engine_output(model, 5);
  ASSERT_EQ(actual.size(), expected.size());
  // Tolerance: the two builds sum the same products in a different order (vector widths differ),
  // so each layer may differ by a few float epsilons of its sums' magnitudes; with activations
  // of order one over six layers that stays far below 1e-4 (1 + |expected|), while a wrong
  // kernel or layer is off by order one.
  double worst = 0, largest = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double error = std::abs(static_cast<double>(actual[i]) - expected[i]);
    worst = std::max(worst, error);
    largest = std::max(largest, std::abs(static_cast<double>(expected[i])));
    EXPECT_LE(error, 1e-4 * (1 + std::abs(expected[i]))) << "element " << i;
  }
  EXPECT_GT(largest, 1e-3);  // a dead output would match anything
  std::cout << "aarch64 vs host: largest |difference| " << worst << ", largest |output| " << largest
            << "\n";
}

}  // namespace
}  // namespace ubp::device

namespace ubp::device {
namespace {

// Replaces the header of a packed-model file (keeping its checksum right) via `edit`, or one
// int32 array of one layer via `edit_array` (keeping that array's checksum right).
std::string rewrite_model(const std::string& bytes, const std::function<void(json&, std::string&)>& edit) {
  auto u64 = [&](size_t at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    return v;
  };
  const uint64_t header_bytes = u64(16);
  json header = json::parse(bytes.substr(24, header_bytes));
  std::string payload = bytes.substr((24 + header_bytes + 63) / 64 * 64);
  edit(header, payload);
  const std::string text = header.dump();
  std::string out = bytes.substr(0, 12);
  const uint32_t crc = crc32(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  for (int i = 0; i < 4; ++i) out += static_cast<char>(crc >> (8 * i));
  for (int i = 0; i < 8; ++i) out += static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  out += text;
  out.resize((out.size() + 63) / 64 * 64, '\0');
  return out + payload;
}

// The case that crashed ubp-devbench with SIGSEGV: a packed layer whose delta at the end of one
// step row sends the input pointer far away, while every step row on its own looks fine and all
// checksums are right. The kernel walks across step rows without going back to row_col, so the
// reader must refuse the file.
TEST(Devbench, ADeltaThatLeavesTheInputIsAModelFileErrorNotACrash) {
  TempDir dir;
  const PackedModel model = small_model();
  const std::string path = dir.file("far-delta.ubpm");
  write_model_file(path, model);
  const auto& packed = model.layers[1].weights.unaligned;  // block1.pw
  int64_t crossing = -1;
  for (size_t s = 0; s + 1 < packed.row_begin.size() && crossing < 0; ++s) {
    if (packed.row_begin[s + 1] > packed.row_begin[s] && packed.row_begin[s + 1] < packed.geom.num_vectors) {
      crossing = packed.row_begin[s + 1] - 1;
    }
  }
  ASSERT_GE(crossing, 0);
  dir.write("far-delta.ubpm", rewrite_model(read_bytes(path), [&](json& header, std::string& payload) {
    json& entry = header["layers"][1]["weights"]["arrays"]["deltas"];
    const size_t at = entry["offset"].get<size_t>() + 4 * static_cast<size_t>(crossing);
    const int32_t far = 50000000;
    std::memcpy(&payload[at], &far, 4);
    entry["crc32"] = crc32(reinterpret_cast<const uint8_t*>(payload.data()) + entry["offset"].get<size_t>(),
                           entry["bytes"].get<size_t>());
  }));
  const ProcessResult r = devbench({"--model", path, "--warmup", "0", "--warmup-seconds", "0", "--iterations", "1"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("layer 1 'block1.pw'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lead the input to column"), std::string::npos) << r.err;
}

// A file of about a kilobyte declaring feature maps of 2^31 - 1 floats: under a 2 GiB
// address-space limit the runner must say so, not die of an allocation failure or a signal.
TEST(Devbench, HugeDeclaredFeatureMapsUnderAnAddressSpaceLimitGiveAClearError) {
  TempDir dir;
  ModelBuilder b("huge", {1, 46340, 46340}, 3);
  b.pool("pool", PoolKind::kMax, 1, 1, 0);
  const std::string path = dir.file("huge.ubpm");
  write_model_file(path, b.model());
  ASSERT_LT(std::filesystem::file_size(path), 2048u);
  const ProcessResult r = run_process(
      {"bash", "-c", "ulimit -v 2097152 && exec \"$0\" --model \"$1\" --warmup 0 --iterations 1", kDevbench, path}, "");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("layer 0 'pool'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("more than the engine's memory limit"), std::string::npos) << r.err;
  // And with a limit big enough for the maps, the allocation itself is refused by the OS: that
  // must still be a clear exit, not a crash.
  const ProcessResult over = run_process({"bash", "-c",
                                          "ulimit -v 2097152 && exec \"$0\" --model \"$1\" --warmup 0 "
                                          "--iterations 1 --memory-limit-mib 100000",
                                          kDevbench, path},
                                         "");
  EXPECT_EQ(over.exit_code, 1) << over.err;
  EXPECT_NE(over.err.find("ubp-devbench: "), std::string::npos) << over.err;
}

}  // namespace
}  // namespace ubp::device

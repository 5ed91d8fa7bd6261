// `ubp latency` and the `latency` section of `ubp run` through the real binaries: models
// exported by `ubp export`, measured by the real ubp-devbench on this host, rows in a real
// database; a device whose runner crashes and a device file with a typo.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/ubp_fixture.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Short protocol settings: these tests check plumbing and records, not timing quality.
// No noisy retries: exactly two sessions, however the machine's load moves the timings.
const std::vector<std::string> kQuickProtocol = {
    "--sessions", "2", "--cooldown",      "0", "--warmup",     "1", "--warmup-seconds", "0",
    "--noisy-retries", "0", "--iterations", "3", "--min-seconds", "0"};

// A training run small enough to train in a second: synthetic data, MobileNetV1 0.25.
constexpr const char* kTinyTrainingRun =
    "experiment: {kind: training, seed: 1}\n"
    "data: {dataset: synthetic, image_size: 28, train_limit: 64, test_limit: 32}\n"
    "model: {name: mobilenet_v1, width: 0.25}\n"
    "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n";

class Latency : public UbpTest {
 protected:
  std::string export_model(const std::string& name, const std::string& method, const std::string& kernel) {
    const std::string out = work.file(name);
    const auto r = run_process({UBP_BIN, "export", "--arch", "mobilenet_v1", "--width", "0.25", "--resolution",
                                "32", "--classes", "10", "--method", method, "--sparsity", "0.75", "--kernel",
                                kernel, "--out", out},
                               work.path().string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  ProcessResult latency(std::vector<std::string> args) {
    std::vector<std::string> argv = {UBP_BIN, "latency"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), kQuickProtocol.begin(), kQuickProtocol.end());
    return run_process(argv, work.path().string());
  }
};

TEST_F(Latency, MeasuresExportedModelsOnThisHostAndPrintsTheProtocolAsJson) {
  const std::string dense = export_model("dense.ubpm", "none", "dense");
  const std::string unaligned = export_model("bed.ubpm", "bed", "unaligned");
  const std::string naive = export_model("bed-naive.ubpm", "bed", "unaligned-naive");
  const auto r = latency({"--model", dense, "--model", unaligned, "--model", naive, "--device", "local",
                          "--threads", "1,2", "--min-sample-ms", "5", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["device"]["name"], "local");
  EXPECT_EQ(out["protocol"]["sessions"], 2);
  EXPECT_EQ(out["protocol"]["min_sample_ms"], 5.0);
  ASSERT_EQ(out["measurements"].size(), 6u);  // 3 models x 2 thread counts
  EXPECT_EQ(out["measurements"][4]["storage"], "unaligned-naive");
  EXPECT_EQ(out["measurements"][4]["model_info"]["storage"]["unaligned-naive"], 13);
  for (const json& m : out["measurements"]) {
    // A 32-pixel MobileNetV1 0.25 runs in a fraction of a millisecond: its samples group several
    // inferences (a whole sample lasts about 5 ms), and the summary stays per inference. Checked
    // on one thread only: on a busy 2-core machine a 2-thread inference waits for its second
    // thread's time slice, so its calibration can see single runs of several milliseconds.
    const int64_t group = m["iterations_per_sample"].get<int64_t>();
    EXPECT_GE(group, 1) << m.dump();
    EXPECT_EQ(m["min_sample_ms"], 5.0);
    if (m["threads"] == 1) {
      EXPECT_GT(group, 1) << m.dump();
      EXPECT_GE(group * m["summary"]["p50_ms"].get<double>(), 2.5) << m.dump();
    }
    EXPECT_FALSE(m["failed"].get<bool>()) << m.dump();
    ASSERT_EQ(m["sessions"].size(), 2u);
    const json& s = m["summary"];
    EXPECT_GE(s["count"].get<int>(), 6);
    EXPECT_LE(s["min_ms"].get<double>(), s["p50_ms"].get<double>());
    EXPECT_LE(s["p50_ms"].get<double>(), s["p90_ms"].get<double>());
    EXPECT_LE(s["p90_ms"].get<double>(), s["p99_ms"].get<double>());
    EXPECT_GT(s["min_ms"].get<double>(), 0);
    EXPECT_EQ(m["layers"].size(), 29u);  // MobileNetV1: stem, 13 x (dw, pw), pool, fc
    EXPECT_FALSE(m["device_facts"]["machine"].get<std::string>().empty());
    EXPECT_EQ(m["model_info"]["storage"]["unaligned"].get<int>(), m["storage"] == "unaligned" ? 13 : 0);
  }
  EXPECT_EQ(out["measurements"][0]["threads"].get<int>() + out["measurements"][1]["threads"].get<int>(), 3);
}

TEST_F(Latency, RecordsARunnerThatCrashesAsAFailedMeasurementAfterItsRetries) {
  const std::string model = export_model("dense.ubpm", "none", "dense");
  const std::string runner = work.write("crashing-devbench", "#!/bin/sh\necho 'about to crash' >&2\nkill -SEGV $$\n");
  fs::permissions(runner, fs::perms::owner_all);
  const std::string device = work.write("devices/crashy.yaml",
                                        "name: crashy\nkind: local\nrunner: " + runner +
                                            "\nretries: 1\nretry_delay_s: 0\n");
  const auto r = latency({"--model", model, "--device", device, "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const json out = json::parse(r.out);
  ASSERT_EQ(out["measurements"].size(), 1u);
  const json& m = out["measurements"][0];
  EXPECT_TRUE(m["failed"].get<bool>());
  EXPECT_EQ(m["attempts"].get<int>(), 2);
  EXPECT_NE(m["error"].get<std::string>().find("killed by signal 11: about to crash"), std::string::npos) << m.dump();
}

TEST_F(Latency, RejectsADeviceFileWithAnUnknownKeyNamingFileLineAndKey) {
  const std::string model = export_model("dense.ubpm", "none", "dense");
  const std::string device = work.write("board.yaml", "name: board\nkind: ssh\nhost: 127.0.0.1\nprot: 22\n");
  const auto r = latency({"--model", model, "--device", device});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("board.yaml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("prot"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(":4"), std::string::npos) << r.err;  // the line
}

TEST_F(Latency, AtLevelFastestCountsOnlySessionsWithinMaxCvOfTheFastestAndKeepsTheOthersAside) {
  const std::string dense = export_model("dense.ubpm", "none", "dense");
  const auto r = latency({"--model", dense, "--device", "local", "--level", "fastest", "--json"});
  ASSERT_LE(r.exit_code, 1) << r.err;  // 1 would be a failed measurement, checked below
  const json out = json::parse(r.out);
  EXPECT_EQ(out["protocol"]["level"], "fastest");
  ASSERT_EQ(out["measurements"].size(), 1u);
  const json& m = out["measurements"][0];
  ASSERT_FALSE(m["failed"].get<bool>()) << m.dump();
  EXPECT_EQ(m["level"], "fastest");
  // Whatever this machine's speed did, the split must follow the rule: counted sessions within
  // max_cv (3 %) of the fastest, set-aside ones beyond it, two in all (no extra sessions).
  const json& counted = m["sessions"];
  const json& slower = m["slower_sessions"];
  EXPECT_EQ(counted.size() + slower.size(), 2u) << m.dump();
  ASSERT_GE(counted.size(), 1u);
  double fastest = 1e300;
  for (const json& s : counted) fastest = std::min(fastest, s["summary"]["p50_ms"].get<double>());
  for (const json& s : counted) EXPECT_LE(s["summary"]["p50_ms"].get<double>(), fastest * 1.03);
  for (const json& s : slower) EXPECT_GT(s["summary"]["p50_ms"].get<double>(), fastest * 1.03);
  if (counted.size() < 2u) EXPECT_FALSE(m["valid"].get<bool>()) << m.dump();
  EXPECT_EQ(latency({"--model", dense, "--device", "local", "--level", "slowest"}).exit_code, 2);
}

TEST_F(Latency, OfARunIsMeasuredForEachKernelAndStoredWithItsRun) {
  const auto cfg = work.write(
      "t.yaml",
      "experiment: {kind: training, seed: 1}\n"
      "data: {dataset: synthetic, image_size: 28, train_limit: 128, test_limit: 64}\n"
      "model: {name: mobilenet_v1, width: 0.25}\n"
      "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n"
      "prune: {method: bed, sparsity: 0.75, ramp_epochs: 0.5, finetune_epochs: 0.5, update_every: 1}\n"
      "latency: {devices: [local], kernels: 'dense, unaligned, unaligned-naive', sessions: 2, cooldown_s: 0, "
      "warmup: 1, warmup_s: 0, iterations: 3, min_seconds: 0, noisy_retries: 0}\n");
  const std::string db = work.file("runs/r.db");
  const auto r = run_process({UBP_BIN, "run", cfg, "--db", db, "--quiet"}, work.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("deprecated"), std::string::npos) << r.err;  // a list is the current form
  EXPECT_EQ(query(db, "SELECT kernel || ':' || device || ':' || threads || ':' || status || ':' || sessions "
                      "FROM latency ORDER BY kernel"),
            (std::vector<std::string>{"dense:local:1:ok:2", "unaligned:local:1:ok:2",
                                      "unaligned-naive:local:1:ok:2"}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM latency WHERE p50_ms > 0 AND samples >= 6 AND "
                      "json_array_length(detail_json, '$.sessions[0].samples_ms') >= 3 AND "
                      "json_extract(detail_json, '$.iterations_per_sample') >= 1 AND "
                      "json_extract(detail_json, '$.min_sample_ms') = 5.0 AND "
                      "json_extract(detail_json, '$.dispersion') = 'robust'"),
            std::vector<std::string>{"3"});
  for (const std::string& path : query(db, "SELECT model FROM latency")) {
    EXPECT_TRUE(fs::exists(path)) << path;
  }
}

TEST_F(Latency, OfAnUnprunedRunIsDenseOnlyAndSaysWhyTheBlockFormatsAreLeftOut) {
  // prune.method none keeps every block: its model in a block format would time a kernel on a
  // fully dense pattern, so an explicit kernel list is cut to dense, with the reason printed.
  const auto cfg = work.write(
      "t.yaml",
      std::string(kTinyTrainingRun) +
      "prune: {method: none}\n"
      "latency: {devices: [local], kernels: 'dense, aligned, unaligned', sessions: 1, cooldown_s: 0, "
      "warmup: 1, warmup_s: 0, iterations: 3, min_seconds: 0, noisy_retries: 0}\n");
  const std::string db = work.file("r.db");
  const auto r = run_process({UBP_BIN, "run", cfg, "--db", db}, work.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(query(db, "SELECT kernel || ':' || status FROM latency"), std::vector<std::string>{"dense:ok"});
  const std::string output = r.out + r.err;
  for (const char* kernel : {"aligned", "unaligned"}) {
    EXPECT_NE(output.find(std::string("kernel ") + kernel + " skipped: the run is not pruned (prune.method none)"),
              std::string::npos)
        << output;
  }
}

TEST_F(Latency, OfARunOnAnUnreachableDeviceIsRecordedAsFailedAndTheRunStillCounts) {
  // Nothing listens on port 1 of loopback: ssh fails at once, every attempt. The device list is
  // the deprecated comma-separated string: still read, with a warning that says where it is.
  work.write("devices/gone.yaml",
             "name: gone\nkind: ssh\nhost: 127.0.0.1\nport: 1\nuser: nobody\nretries: 1\nretry_delay_s: 0\n");
  const auto cfg = work.write(
      "t.yaml",
      std::string(kTinyTrainingRun) +
      "prune: {method: aligned, sparsity: 0.5, ramp_epochs: 0.5, finetune_epochs: 0.5, update_every: 1}\n"
      "latency: {devices: '" + work.file("devices/gone.yaml") + "', sessions: 1, cooldown_s: 0}\n");
  const std::string db = work.file("r.db");
  const auto r = run_process({UBP_BIN, "run", cfg, "--db", db, "--quiet"}, work.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + cfg + ":6:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("latency.devices: a comma-separated string is deprecated and read as the list [" +
                       work.file("devices/gone.yaml") + "]; write a YAML list instead"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(query(db, "SELECT status FROM runs"), std::vector<std::string>{"done"});
  const auto rows = query(db, "SELECT kernel || ':' || status || ':' || valid FROM latency ORDER BY kernel");
  EXPECT_EQ(rows, (std::vector<std::string>{"aligned:failed:0", "dense:failed:0"}));
  EXPECT_EQ(query(db, "SELECT count(*) FROM latency WHERE error LIKE '%cannot reach%(2 attempts)%'"),
            std::vector<std::string>{"2"});
}

}  // namespace
}  // namespace ubp::testing

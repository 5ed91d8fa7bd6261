// The measurement protocol, run through the real local transport against a stand-in runner (a
// shell script that answers like ubp-devbench and whose behaviour each "model" file chooses),
// plus a scripted transport for connections that fail or drop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ubp/device/device_lock.h"

#include "temp_dir.h"
#include "ubp/device/protocol.h"

namespace ubp::device {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The stand-in runner. Its model file holds one word: how to behave.
//   steady      samples 10.0, 10.1, ... (CV about 0.5%)
//   slow        samples 20.0, 20.2, ...
//   noisy       samples alternate 5 and 15 (CV about 50%)
//   preempted   steady, but the last sample is 60 (a vCPU taken away: CV about 150%, robust CV 1%)
//   crash-once  the first call kills itself with SIGSEGV, later calls act as steady
//   noisy-once  the first call acts as noisy, later calls as steady
//   slow-once   the first call acts as slow, later calls as steady (a process that ran slower)
//   broken      always exits 1 saying so on stderr
//   garbage     prints something that is not JSON
//   drift       steady, but cpu0 runs at 2.0 GHz before and 1.0 GHz after
//   hot         steady, but the temperature rises from 40 to 75 C
// Every call appends "<model word> <threads>" to $FAKE_RUNNER_DIR/calls and
// "<model word> <--group value or auto> <--min-sample-ms value>" to $FAKE_RUNNER_DIR/groups and
// "<--warmup value> <--warmup-seconds value>" to $FAKE_RUNNER_DIR/warmups.
// Without --group it reports 5 inferences per sample (as if it had calibrated), with --group N
// it reports N.
constexpr char kFakeRunner[] = R"sh(#!/bin/bash
model=""; threads=1; group=auto; min_sample=none; warmup=none; warmup_s=none
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --group) group="$2"; shift 2 ;;
    --min-sample-ms) min_sample="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --warmup-seconds) warmup_s="$2"; shift 2 ;;
    *) shift ;;
  esac
done
word=$(cat "$model")
echo "$word $threads" >> "$FAKE_RUNNER_DIR/calls"
echo "$word $group $min_sample" >> "$FAKE_RUNNER_DIR/groups"
echo "$warmup $warmup_s" >> "$FAKE_RUNNER_DIR/warmups"
per_sample=5; [ "$group" != auto ] && per_sample=$group
if [ "$word" = crash-once ]; then
  if [ ! -e "$FAKE_RUNNER_DIR/crashed" ]; then touch "$FAKE_RUNNER_DIR/crashed"; kill -SEGV $$; fi
  word=steady
fi
if [ "$word" = slow-once ]; then
  if [ ! -e "$FAKE_RUNNER_DIR/was-slow" ]; then touch "$FAKE_RUNNER_DIR/was-slow"; word=slow; else word=steady; fi
fi
if [ "$word" = noisy-once ]; then
  if [ ! -e "$FAKE_RUNNER_DIR/was-noisy" ]; then touch "$FAKE_RUNNER_DIR/was-noisy"; word=noisy; else word=steady; fi
fi
case "$word" in
  broken) echo "ubp-devbench: cannot map the model: out of memory" >&2; exit 1 ;;
  garbage) echo "Segmentation fault (core dumped)"; exit 0 ;;
esac
base=10; step=0.1; fb=-1; fa=-1; tb=40; ta=41
case "$word" in
  slow) base=20; step=0.2 ;;
  drift) fb=2000000; fa=1000000 ;;
  hot) tb=40; ta=75 ;;
esac
samples=""
for i in 0 1 2 3 4 5 6 7 8 9; do
  if [ "$word" = noisy ]; then v=$(( i % 2 ? 15 : 5 ));
  elif [ "$word" = preempted ] && [ $i = 9 ]; then v=60; else v=$(awk "BEGIN{print $base + $step * ($i % 3)}"); fi
  samples="$samples${samples:+,}$v"
done
cat <<EOF
{"tool": "ubp-devbench", "format": 1, "samples_ms": [$samples],
 "grouping": {"iterations_per_sample": $per_sample},
 "layers": [{"index": 0, "name": "conv1", "kind": "conv", "storage": "dense", "p50_ms": 1.5}],
 "device": {"machine": "x86_64"}, "model": {"name": "$word"},
 "before": {"freq_khz": [$fb], "temperature_c": [{"zone": "cpu", "value": $tb}]},
 "after": {"freq_khz": [$fa], "temperature_c": [{"zone": "cpu", "value": $ta}]}}
EOF
)sh";

class TheProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_ = dir_.write("ubp-devbench", kFakeRunner);
    fs::permissions(runner_, fs::perms::owner_all);
    ::setenv("FAKE_RUNNER_DIR", dir_.path().c_str(), 1);
    ::setenv("UBP_LOCK_DIR", dir_.path().c_str(), 1);
    config_.name = "test-local";
    config_.kind = "local";
    config_.retries = 2;
    config_.retry_delay_s = 0;
    config_.timeout_s = 30;
    options_.sessions = 3;
    options_.cooldown_s = 0;
    options_.seed = 7;
  }

  MeasureTarget target(const std::string& word, int threads = 1) {
    return {word, dir_.write("models/" + word + ".ubpm", word), threads};
  }

  std::vector<Measurement> measure(const std::vector<MeasureTarget>& targets,
                                   Transport* transport = nullptr) {
    std::unique_ptr<Transport> local = make_transport(config_);
    return run_protocol(config_, transport ? *transport : *local, runner_, targets, options_,
                        [&](const std::string& line) { log_.push_back(line); });
  }

  std::vector<std::string> calls(const std::string& file = "calls") const {
    std::ifstream in(dir_.file(file));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  ubp::testing::TempDir dir_;
  std::string runner_;
  DeviceConfig config_;
  ProtocolOptions options_;
  std::vector<std::string> log_;
};

TEST_F(TheProtocol, MeasuresEveryTargetOncePerSessionInAShuffledOrder) {
  options_.sessions = 4;
  const auto results = measure({target("steady"), target("slow"), target("steady", 2),
                                target("slow", 2)});
  const auto lines = calls();
  ASSERT_EQ(lines.size(), 16u);
  std::set<std::vector<std::string>> orders;
  for (size_t s = 0; s < 4; ++s) {
    std::vector<std::string> session(lines.begin() + 4 * s, lines.begin() + 4 * s + 4);
    EXPECT_EQ(std::set<std::string>(session.begin(), session.end()),
              (std::set<std::string>{"steady 1", "slow 1", "steady 2", "slow 2"}));
    orders.insert(session);
  }
  EXPECT_GT(orders.size(), 1u) << "four sessions measured in the same order";
  for (const Measurement& m : results) {
    EXPECT_FALSE(m.failed) << m.error;
    EXPECT_EQ(m.sessions.size(), 4u);
    EXPECT_EQ(m.summary.count, 40);
    EXPECT_EQ(m.attempts, 4);
    EXPECT_TRUE(m.valid) << (m.invalid_reasons.empty() ? "" : m.invalid_reasons[0]);
  }
  EXPECT_DOUBLE_EQ(results[0].summary.p50, 10.1);
  EXPECT_DOUBLE_EQ(results[1].summary.p50, 20.2);
  EXPECT_DOUBLE_EQ(results[0].layers.at(0).at("p50_ms").get<double>(), 1.5);
}

TEST_F(TheProtocol, UsesTheSameOrderForTheSameSeed) {
  measure({target("steady"), target("slow"), target("noisy")});
  const auto first = calls();
  fs::remove(dir_.file("calls"));
  measure({target("steady"), target("slow"), target("noisy")});
  EXPECT_EQ(calls(), first);
  fs::remove(dir_.file("calls"));
  options_.seed = 8;
  measure({target("steady"), target("slow"), target("noisy")});
  EXPECT_NE(calls(), first);
}

TEST_F(TheProtocol, RetriesARunnerThatCrashedAndKeepsTheMeasurement) {
  options_.sessions = 1;
  const auto results = measure({target("crash-once")});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].failed) << results[0].error;
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_EQ(results[0].sessions.size(), 1u);
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& l) {
    return l.find("killed by signal 11") != std::string::npos;
  }));
}

TEST_F(TheProtocol, RecordsARunnerThatKeepsFailingAndMeasuresTheOthers) {
  options_.sessions = 2;
  const auto results = measure({target("broken"), target("steady"), target("garbage")});
  EXPECT_TRUE(results[0].failed);
  EXPECT_EQ(results[0].attempts, 3);  // 1 + retries, then it is not tried in session 2
  EXPECT_NE(results[0].error.find("exited with status 1: ubp-devbench: cannot map the model"),
            std::string::npos)
      << results[0].error;
  EXPECT_NE(results[0].error.find("(3 attempts)"), std::string::npos) << results[0].error;
  EXPECT_FALSE(results[0].valid);
  EXPECT_TRUE(results[2].failed);
  EXPECT_NE(results[2].error.find("no usable JSON"), std::string::npos) << results[2].error;
  EXPECT_FALSE(results[1].failed);
  EXPECT_EQ(results[1].sessions.size(), 2u);
  const json detail = results[0].to_json();
  EXPECT_TRUE(detail.at("failed").get<bool>());
  EXPECT_EQ(detail.at("error").get<std::string>(), results[0].error);
}

TEST_F(TheProtocol, MarksMeasurementsThatStayNoisyInvalidWithTheReason) {
  options_.sessions = 1;
  options_.noisy_retries = 2;
  const auto results = measure({target("noisy"), target("steady")});
  EXPECT_FALSE(results[0].valid);
  ASSERT_FALSE(results[0].invalid_reasons.empty());
  EXPECT_NE(results[0].invalid_reasons[0].find("coefficient of variation"), std::string::npos);
  EXPECT_EQ(results[0].attempts, 3);  // measured, then twice again
  EXPECT_EQ(results[0].discarded.size(), 2u);
  EXPECT_EQ(results[0].sessions.size(), 1u);
  EXPECT_TRUE(results[1].valid);
  EXPECT_TRUE(results[1].discarded.empty());
}

TEST_F(TheProtocol, JudgesSessionsByTheRobustSpreadUnlessTheClassicOneIsAskedFor) {
  // One delayed sample in ten: the median is untouched, so by default the measurement stands,
  // while stddev / mean (dispersion classic) still calls it noisy.
  options_.sessions = 2;
  options_.noisy_retries = 0;
  const auto robust = measure({target("preempted")});
  ASSERT_FALSE(robust[0].failed) << robust[0].error;
  EXPECT_TRUE(robust[0].valid) << robust[0].invalid_reasons.at(0);
  EXPECT_LT(robust[0].max_session_cv, 0.03);
  EXPECT_GT(robust[0].sessions[0].summary.cv, 1.0);
  EXPECT_EQ(robust[0].to_json().at("dispersion"), "robust");

  options_.dispersion = Dispersion::kClassic;
  const auto classic = measure({target("preempted")});
  EXPECT_FALSE(classic[0].valid);
  ASSERT_FALSE(classic[0].invalid_reasons.empty());
  EXPECT_EQ(classic[0].invalid_reasons[0].find("session 1: coefficient of variation"), 0u)
      << classic[0].invalid_reasons[0];
  EXPECT_EQ(classic[0].to_json().at("dispersion"), "classic");
}

TEST_F(TheProtocol, MeasuresADisturbedSessionAgainAndKeepsTheDiscardedSamples) {
  options_.sessions = 2;
  const auto results = measure({target("noisy-once")});
  ASSERT_FALSE(results[0].failed) << results[0].error;
  EXPECT_TRUE(results[0].valid) << results[0].invalid_reasons.at(0);
  EXPECT_EQ(results[0].sessions.size(), 2u);
  ASSERT_EQ(results[0].discarded.size(), 1u);
  EXPECT_GT(results[0].discarded[0].summary.cv, 0.3);
  EXPECT_EQ(results[0].attempts, 3);
  const json detail = results[0].to_json();
  EXPECT_EQ(detail.at("discarded_sessions").size(), 1u);
  EXPECT_EQ(detail.at("discarded_sessions")[0].at("samples_ms").size(), 10u);
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& l) {
    return l.find("measuring this session again") != std::string::npos;
  }));
}

TEST_F(TheProtocol, MarksFrequencyDriftAndHeatInvalid) {
  options_.sessions = 1;
  const auto results = measure({target("drift"), target("hot")});
  ASSERT_EQ(results[0].invalid_reasons.size(), 1u);
  EXPECT_NE(results[0].invalid_reasons[0].find("cpu0 frequency 2000 -> 1000 MHz"), std::string::npos)
      << results[0].invalid_reasons[0];
  ASSERT_EQ(results[1].invalid_reasons.size(), 1u);
  EXPECT_NE(results[1].invalid_reasons[0].find("cpu temperature 40.0 -> 75.0 C"), std::string::npos)
      << results[1].invalid_reasons[0];
}

// A measurement of sessions that are each perfectly steady at the given medians.
Measurement steady_sessions(const std::vector<double>& medians) {
  Measurement m;
  for (double median : medians) {
    SessionResult s;
    s.samples_ms = {median, median, median};
    s.summary = summarize(s.samples_ms);
    s.devbench = json::object();
    m.sessions.push_back(s);
  }
  return m;
}

TEST_F(TheProtocol, MarksSessionsThatDisagreeInvalidEvenWhenEachIsSteady) {
  Measurement m = steady_sessions({10.0, 11.0, 12.0});
  judge_validity(m, options_);
  EXPECT_FALSE(m.valid);
  ASSERT_EQ(m.invalid_reasons.size(), 1u);
  EXPECT_NE(m.invalid_reasons[0].find("session medians differ"), std::string::npos);
  EXPECT_EQ(m.max_session_cv, 0.0);
}

TEST_F(TheProtocol, SaysWhenTheSessionsRanAtTwoSpeeds) {
  // Three sessions at about 10 ms and two at about 13 (as measured on a 2-vCPU VM): each group
  // within 3 %, 31 % apart, and the majority too wide to outvote the others.
  Measurement m = steady_sessions({10.25, 13.3, 10.1, 13.2, 10.0});
  judge_validity(m, options_);
  ASSERT_FALSE(m.valid);
  ASSERT_EQ(m.invalid_reasons.size(), 1u);
  EXPECT_NE(m.invalid_reasons[0].find("two speeds (3 at 10.1 ms, 2 at 13.25 ms, 31% apart)"), std::string::npos)
      << m.invalid_reasons[0];

  // Spread out rather than at two levels: no such sentence.
  Measurement spread = steady_sessions({10.0, 10.5, 11.0, 11.5, 12.0, 12.5});
  judge_validity(spread, options_);
  ASSERT_FALSE(spread.valid);
  EXPECT_EQ(spread.invalid_reasons[0].find("two speeds"), std::string::npos) << spread.invalid_reasons[0];
}

TEST_F(TheProtocol, OneDisagreeingSessionAmongThreeIsOutvotedUnderTheRobustSpreadOnly) {
  Measurement m = steady_sessions({10.0, 10.1, 12.0});
  judge_validity(m, options_);  // robust: 1.4826 * MAD 0.1 / median 10.1 = 1.5 %
  EXPECT_TRUE(m.valid) << m.invalid_reasons.front();
  EXPECT_NEAR(m.session_median_cv, 1.4826 * 0.1 / 10.1, 1e-9);
  options_.dispersion = Dispersion::kClassic;
  judge_validity(m, options_);
  EXPECT_FALSE(m.valid);
}

TEST_F(TheProtocol, SessionsWhoseMediansDisagreeCostAnotherSession) {
  // slow-once: the first session's median is twice the others'. Two sessions disagree; a third
  // outvotes the first.
  options_.sessions = 2;
  options_.noisy_retries = 2;
  auto results = measure({target("slow-once"), target("steady")});
  ASSERT_FALSE(results[0].failed) << results[0].error;
  EXPECT_EQ(results[0].sessions.size(), 3u);
  EXPECT_TRUE(results[0].valid) << results[0].invalid_reasons.front();
  EXPECT_EQ(results[1].sessions.size(), 2u) << "agreeing sessions cost nothing more";
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& l) {
    return l.find("session medians differ") != std::string::npos && l.find("measuring another session") != std::string::npos;
  }));

  // Without retries the disagreement stands and is reported.
  fs::remove(dir_.path() / "was-slow");
  options_.noisy_retries = 0;
  results = measure({target("slow-once")});
  EXPECT_EQ(results[0].sessions.size(), 2u);
  EXPECT_FALSE(results[0].valid);
  EXPECT_NE(results[0].invalid_reasons.front().find("session medians differ"), std::string::npos);
}

TEST_F(TheProtocol, AtLevelFastestCountsTheFastestAgreeingSessionsAndSetsTheSlowerAside) {
  options_.level = SessionLevel::kFastest;
  options_.sessions = 2;
  // Two sessions at about 10 ms and two at about 13 (a device at two speeds): the fast two count.
  Measurement m = steady_sessions({13.0, 10.0, 13.2, 10.2});
  judge_validity(m, options_);
  EXPECT_TRUE(m.valid) << (m.invalid_reasons.empty() ? "" : m.invalid_reasons.front());
  ASSERT_EQ(m.sessions.size(), 2u);
  EXPECT_EQ(m.sessions[0].summary.p50, 10.0);
  EXPECT_EQ(m.sessions[1].summary.p50, 10.2);
  ASSERT_EQ(m.slower.size(), 2u);
  EXPECT_EQ(m.slower[0].summary.p50, 13.0);
  const json j = m.to_json();
  EXPECT_EQ(j.at("level"), "fastest");
  EXPECT_EQ(j.at("slower_sessions").size(), 2u);
  EXPECT_EQ(j.at("sessions").size(), 2u);

  // The fastest session alone at its speed is not a figure: invalid, saying why.
  Measurement lone = steady_sessions({10.0, 13.0, 13.1});
  judge_validity(lone, options_);
  ASSERT_FALSE(lone.valid);
  EXPECT_NE(lone.invalid_reasons.front().find("the fastest session (10 ms) is matched within 3.0% by 0 other "
                                               "sessions of 2; level fastest needs 1"),
            std::string::npos)
      << lone.invalid_reasons.front();

  // Level all judges the same sessions as disagreeing.
  options_.level = SessionLevel::kAll;
  Measurement all = steady_sessions({13.0, 10.0, 13.2, 10.2});
  judge_validity(all, options_);
  EXPECT_FALSE(all.valid);
  EXPECT_TRUE(all.slower.empty());
}

TEST_F(TheProtocol, AtLevelFastestASlowerSessionCostsAnotherAndTheSummaryIsOfTheCountedOnes) {
  // slow-once: the first session runs at 20 ms, the later ones at 10.
  options_.level = SessionLevel::kFastest;
  options_.sessions = 2;
  options_.noisy_retries = 2;
  auto results = measure({target("slow-once")});
  ASSERT_FALSE(results[0].failed) << results[0].error;
  EXPECT_TRUE(results[0].valid) << results[0].invalid_reasons.front();
  EXPECT_EQ(results[0].sessions.size(), 2u);
  ASSERT_EQ(results[0].slower.size(), 1u);
  EXPECT_GE(results[0].slower[0].summary.p50, 20.0);
  EXPECT_LT(results[0].summary.max, 11.0) << "the slower session's samples are not in the summary";
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& l) {
    return l.find("0 of the other 1 sessions are within 3.0% of the fastest: measuring another session") !=
           std::string::npos;
  }));
  EXPECT_THROW(session_level_from_name("slowest"), std::invalid_argument);
  EXPECT_EQ(session_level_from_name(session_level_name(SessionLevel::kFastest)), SessionLevel::kFastest);
}

// A transport scripted to fail: connect fails `connect_failures` times; run throws (a dropped
// connection) `run_failures` times; otherwise it runs the command locally.
class ScriptedTransport : public Transport {
 public:
  ScriptedTransport(const DeviceConfig& config, int connect_failures, int run_failures)
      : local_(make_transport(config)),
        connect_failures_(connect_failures),
        run_failures_(run_failures) {}
  std::string describe() const override { return "scripted"; }
  void connect() override {
    ++connects;
    if (connect_failures_-- > 0) throw TransportError("ssh: connect to host board port 22: Connection refused");
  }
  std::string push(const std::string& local_path, const std::string& name) override {
    ++pushes;
    return local_->push(local_path, name);
  }
  void pull(const std::string& name, const std::string& local_path) override {
    local_->pull(name, local_path);
  }
  CommandResult run(const std::vector<std::string>& argv, double timeout_s) override {
    if (run_failures_-- > 0) throw TransportError("Connection to board closed by remote host.");
    return local_->run(argv, timeout_s);
  }
  int connects = 0, pushes = 0;

 private:
  std::unique_ptr<Transport> local_;
  int connect_failures_, run_failures_;
};

TEST_F(TheProtocol, RecordsAnUnreachableDeviceAsFailedAfterItsRetries) {
  ScriptedTransport transport(config_, 100, 0);
  const auto results = measure({target("steady"), target("slow")}, &transport);
  EXPECT_EQ(transport.connects, 3);
  for (const Measurement& m : results) {
    EXPECT_TRUE(m.failed);
    EXPECT_NE(m.error.find("cannot reach scripted: ssh: connect to host board port 22: Connection refused (3 attempts)"),
              std::string::npos)
        << m.error;
  }
  EXPECT_TRUE(calls().empty());
}

TEST_F(TheProtocol, ReconnectsAndCopiesAgainAfterADroppedConnection) {
  options_.sessions = 1;
  ScriptedTransport transport(config_, 1, 1);
  const auto results = measure({target("steady")}, &transport);
  ASSERT_FALSE(results[0].failed) << results[0].error;
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_EQ(transport.connects, 3);  // refused, connected, connected again after the drop
  EXPECT_EQ(transport.pushes, 4);    // runner + model, twice
}

TEST_F(TheProtocol, PassesTheWarmUpCountAndSecondsToEveryRunnerCall) {
  options_.sessions = 2;
  options_.warmup = 4;
  options_.warmup_s = 0.25;
  const auto results = measure({target("steady"), target("slow")});
  const std::vector<std::string> lines = calls("warmups");
  EXPECT_EQ(lines.size(), 4u);  // two targets, two sessions
  for (const std::string& line : lines) EXPECT_EQ(line, "4 0.25");
  options_.warmup_s = -0.5;
  EXPECT_THROW(check_protocol_options(options_), std::invalid_argument);
}

TEST_F(TheProtocol, DecidesTheGroupingInTheFirstSessionAndPassesItToEveryLaterOne) {
  // noisy-once: the grouping comes from its first, discarded session, and is kept.
  options_.sessions = 3;
  options_.min_sample_ms = 2.5;
  const auto results = measure({target("steady"), target("noisy-once")});
  std::map<std::string, std::vector<std::string>> per_word;
  for (const std::string& line : calls("groups")) {
    std::istringstream fields(line);
    std::string word, group, min_sample;
    fields >> word >> group >> min_sample;
    EXPECT_EQ(min_sample, "2.5") << line;
    per_word[word].push_back(group);
  }
  EXPECT_EQ(per_word["steady"], (std::vector<std::string>{"auto", "5", "5"}));
  EXPECT_EQ(per_word["noisy-once"], (std::vector<std::string>{"auto", "5", "5", "5"}));
  for (const Measurement& m : results) {
    EXPECT_FALSE(m.failed) << m.error;
    EXPECT_EQ(m.iterations_per_sample, 5);
    const json detail = m.to_json();
    EXPECT_EQ(detail.at("iterations_per_sample"), 5);
    EXPECT_EQ(detail.at("min_sample_ms"), 2.5);
  }
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& l) {
    return l.find("5 inferences per sample") != std::string::npos;
  }));
}

TEST_F(TheProtocol, RejectsOptionsOutsideTheirRange) {
  options_.sessions = 0;
  EXPECT_THROW(check_protocol_options(options_), std::invalid_argument);
  options_.sessions = 1;
  options_.max_cv = 0;
  try {
    check_protocol_options(options_);
    FAIL() << "max_cv = 0 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_cv"), std::string::npos);
  }
  options_.max_cv = 0.03;
  options_.min_sample_ms = -1;
  try {
    check_protocol_options(options_);
    FAIL() << "min_sample_ms = -1 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("min_sample_ms"), std::string::npos);
  }
}

}  // namespace
}  // namespace ubp::device

namespace ubp::device {
namespace {

// A device held by something that never lets go (here: a lock taken in this very process, whose
// flock excludes ours like another process's would) must not make a measurement wait forever:
// by default it gives up after the device file's lock_timeout_s, naming the holder.
TEST_F(TheProtocol, ABusyDeviceIsGivenUpAfterTheDevicesLockTimeoutNamingTheHolder) {
  EXPECT_EQ(DeviceConfig().lock_timeout_s, 3600) << "the default wait is bounded";
  const DeviceLock other(device_lock_key(config_), 0, nullptr);
  config_.lock_timeout_s = 0.3;
  try {
    measure({target("steady")});
    ADD_FAILURE() << "measured on a device another holder has";
  } catch (const DeviceLockError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("busy: still held after 0.3 s by " + std::to_string(::getpid())), std::string::npos)
        << message;
    EXPECT_NE(message.find("lock_timeout_s"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace ubp::device

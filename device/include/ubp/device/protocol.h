// The latency measurement protocol: how models are measured on one device so that the figures
// can be trusted and compared.
//
// - The device is locked for the whole protocol (DeviceLock), so two sweeps never measure on it
//   at once.
// - The runner (ubp-devbench) and every model are pushed once; then `sessions` independent
//   sessions each measure every target once, in an order shuffled per session (a seeded
//   permutation), with a cool-down before each measurement. Slow drifts (heat, a background
//   job) then spread over all targets instead of favouring the ones measured first.
// - A failed attempt (device unreachable, connection dropped, runner crashed, timed out or
//   printed something that is not its JSON) is retried `retries` times after `retry_delay_s`;
//   then the target is recorded as failed with the last error, and the others go on.
// - A measurement is marked invalid, with the reasons, when a session's spread or the
//   coefficient of variation of the session medians passes `max_cv`, or when a CPU's frequency
//   drifted or the temperature rose past their limits between the start and the end of a
//   session (only what the device lets us read is checked). A session whose spread passes
//   `max_cv` is first measured again, up to `noisy_retries` times (a burst from another process
//   should cost a remeasurement, not the model's figure); the discarded samples stay in the
//   JSON. A session's spread is `dispersion`: by default the robust coefficient of variation
//   (1.4826 MAD / median), because the reported figure is the median and a virtual machine's
//   vCPU is taken away for milliseconds now and then, which puts a few samples at several times
//   the others and makes stddev / mean say more about those few than about the median's
//   stability; `classic` judges stddev / mean as before.
// - Session medians: steady sessions whose medians still disagree by more than `max_cv` (in the
//   same dispersion: with `robust`, 1.4826 MAD / median of the medians, so one disagreeing
//   process among three is outvoted) cost another session, up to `noisy_retries` of them; the
//   extra sessions count like the others.
// - Level (`level`): `all` (the default) counts every session, as above. `fastest` counts the
//   fastest session and every session within `max_cv` of its median, once there are at least
//   `sessions` of them; slower sessions are set aside (kept in the JSON as `slower_sessions`)
//   and each costs another session, up to `noisy_retries`. It measures the device's speed when
//   nothing else holds it back, for devices whose speed drops for seconds at a time under load
//   that is not ours (a virtual machine whose host lends the core to a neighbour): with `all`
//   such a device gives sessions at two speed levels and no valid figure. The measurement is
//   invalid when the fastest session is not matched by `sessions - 1` others.
// - Warm-up: every session runs `warmup` untimed inferences and keeps running them until
//   `warmup_s` seconds have passed, so a clock that ramps up after the cool-down (a VM's host,
//   a phone's governor) is at its steady speed before the first timed sample.
// - Tiny models: a timed sample groups enough back-to-back inferences to last at least
//   `min_sample_ms`, so timer resolution and scheduler noise do not dominate a 0.1 ms model.
//   The grouping (inferences per sample) is decided once per target, by the runner's
//   calibration in the target's first measured session, and passed to every later session
//   (ubp-devbench --group), so all sessions of a target time the same thing. Reported times
//   stay per inference; the grouping is recorded (Measurement::iterations_per_sample).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ubp/device/device_config.h"
#include "ubp/device/stats.h"
#include "ubp/device/transport.h"

namespace ubp::device {

// Which sessions a measurement counts (ProtocolOptions::level).
enum class SessionLevel { kAll, kFastest };
SessionLevel session_level_from_name(const std::string& name);  // "all" or "fastest"; throws otherwise
const char* session_level_name(SessionLevel level);

struct ProtocolOptions {
  int sessions = 3;
  double cooldown_s = 1.0;     // before every measurement
  int warmup = 10;             // ubp-devbench --warmup
  double warmup_s = 1.0;       // ubp-devbench --warmup-seconds (a ramping clock settles first)
  int iterations = 30;         // ubp-devbench --iterations (at least this many timed runs)
  double min_seconds = 1.0;    // ubp-devbench --min-seconds (keeps timing until this long)
  double min_sample_ms = 5.0;  // ubp-devbench --min-sample-ms (0: one inference per sample)
  double max_cv = 0.03;        // validity: per-session spread and CV of the session medians
  Dispersion dispersion = Dispersion::kRobust;  // the per-session spread max_cv bounds
  int noisy_retries = 2;       // a session whose spread passes max_cv is measured again, this often
  SessionLevel level = SessionLevel::kAll;  // every session, or the fastest agreeing ones (above)
  double max_frequency_drift = 0.10;    // validity: relative change of a CPU's frequency
  double max_temperature_rise_c = 10.0; // validity: rise of any thermal zone, degrees C
  uint64_t seed = 0;           // measurement order
  // Waiting for the device lock; < 0: the device file's lock_timeout_s (default an hour).
  double lock_timeout_s = -1;
};

// Throws std::invalid_argument naming the option and the accepted range.
void check_protocol_options(const ProtocolOptions& options);

struct MeasureTarget {
  std::string label;       // what the caller calls it (e.g. "unaligned"); shown in the log
  std::string model_path;  // packed model file on this host
  int threads = 1;
};

struct SessionResult {
  std::vector<double> samples_ms;
  SampleSummary summary;          // of samples_ms
  nlohmann::json devbench;        // the runner's whole JSON output
};

struct Measurement {
  MeasureTarget target;
  bool failed = false;
  std::string error;              // the last attempt's error when failed
  int attempts = 0;               // runner invocations, retries included
  // Inferences per timed sample, decided in the first measured session and then fixed
  // (0 until known; 1 when the runner groups nothing). Samples are per inference either way.
  int64_t iterations_per_sample = 0;
  double min_sample_ms = 0;       // the protocol's setting it was decided from
  std::vector<SessionResult> sessions;
  std::vector<SessionResult> discarded;  // sessions measured again for their spread (noisy_retries)
  // level fastest: sessions slower than the fastest one by more than max_cv, not counted.
  std::vector<SessionResult> slower;
  SessionLevel level = SessionLevel::kAll;  // the level judged (set by judge_validity)
  SampleSummary summary;          // of every session's samples together
  double session_median_cv = 0;   // spread of the session medians, in `dispersion` (0 for one session)
  double max_session_cv = 0;      // the largest session spread, in the `dispersion` judged
  Dispersion dispersion = Dispersion::kRobust;  // the spread judged (set by judge_validity)
  bool valid = false;
  std::vector<std::string> invalid_reasons;
  // Per layer: name, kind, storage and the median over sessions of each session's p50.
  nlohmann::json layers = nlohmann::json::array();

  // Everything above as JSON (raw samples included): the `latency` table's detail and the
  // body of `ubp latency --json`.
  nlohmann::json to_json() const;
};

using ProtocolLog = std::function<void(const std::string&)>;

// Measures every target on the device. Never throws for a device problem (those become failed
// measurements); throws DeviceLockError when the lock times out and std::invalid_argument for
// bad options. `runner` is the ubp-devbench binary on this host (resolve_runner).
std::vector<Measurement> run_protocol(const DeviceConfig& config, Transport& transport,
                                      const std::string& runner,
                                      const std::vector<MeasureTarget>& targets,
                                      const ProtocolOptions& options, const ProtocolLog& log);

// The validity verdict for given sessions (exposed for tests): fills valid and invalid_reasons
// of `m` from its sessions' summaries and the devbench before/after readings.
void judge_validity(Measurement& m, const ProtocolOptions& options);

}  // namespace ubp::device

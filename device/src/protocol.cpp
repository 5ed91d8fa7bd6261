#include "ubp/device/protocol.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include "bounded_json.h"
#include "ubp/device/device_lock.h"
#include "ubp/support/statistics.h"
#include "ubp/support/text.h"

namespace ubp::device {

using nlohmann::json;

namespace {

void sleep_seconds(double seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

std::string format_double(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

json summary_json(const SampleSummary& s) {
  return {{"count", s.count}, {"min_ms", s.min},       {"max_ms", s.max},
          {"mean_ms", s.mean}, {"stddev_ms", s.stddev}, {"cv", s.cv},
          {"robust_cv", s.robust_cv}, {"p50_ms", s.p50},  {"p90_ms", s.p90}, {"p99_ms", s.p99}};
}

std::string spread_name(Dispersion d) {
  return d == Dispersion::kRobust ? "robust coefficient of variation" : "coefficient of variation";
}

// The last lines of a runner's stderr: enough to say why it failed without flooding the log.
std::string tail_of(const std::string& text, size_t max_chars = 400) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  // A device's bytes go into JSON and the database: escaped, so they are always valid UTF-8.
  if (t.size() > max_chars) return "..." + support::excerpt(t.substr(t.size() - max_chars), max_chars);
  return support::excerpt(t, max_chars);
}

// One runner invocation's output, or why it is not usable.
struct Attempt {
  std::optional<SessionResult> result;
  std::string error;
};

Attempt parse_runner_output(const CommandResult& r) {
  Attempt a;
  if (r.timed_out) {
    a.error = "ubp-devbench timed out";
    return a;
  }
  if (r.signal != 0) {
    a.error = "ubp-devbench was killed by signal " + std::to_string(r.signal);
    if (!r.err.empty()) a.error += ": " + tail_of(r.err);
    return a;
  }
  if (r.exit_code != 0) {
    a.error = "ubp-devbench exited with status " + std::to_string(r.exit_code);
    if (!r.err.empty()) a.error += ": " + tail_of(r.err);
    return a;
  }
  try {
    SessionResult s;
    // The device is outside our control: its output may be anything (a runner's JSON nests 4
    // levels).
    try {
      s.devbench = parse_json_bounded<json>(r.out.begin(), r.out.end(), 16);
    } catch (const JsonTooDeep& too_deep) {
      throw std::runtime_error("JSON nested deeper than " + std::to_string(too_deep.max_depth) + " levels");
    }
    if (s.devbench.value("tool", "") != "ubp-devbench") throw std::runtime_error("not its output");
    s.samples_ms = s.devbench.at("samples_ms").get<std::vector<double>>();
    s.summary = summarize(s.samples_ms);
    a.result = std::move(s);
  } catch (const std::exception& e) {
    a.error = std::string("ubp-devbench printed no usable JSON (") + e.what() +
              "); its output began: " + support::excerpt(r.out, 200);
  }
  return a;
}

// How far the sessions' medians lie apart, in the dispersion the protocol judges (0 for one
// session).
double session_median_spread(const Measurement& m, const ProtocolOptions& options) {
  if (m.sessions.size() < 2) return 0.0;
  std::vector<double> medians;
  for (const SessionResult& s : m.sessions) medians.push_back(s.summary.p50);
  return dispersion_of(summarize(medians), options.dispersion);
}

// The smallest session median (sessions not empty).
double fastest_median(const std::vector<SessionResult>& sessions) {
  double fastest = sessions.front().summary.p50;
  for (const SessionResult& s : sessions) fastest = std::min(fastest, s.summary.p50);
  return fastest;
}

// Level fastest: whether a session counts, i.e. lies within max_cv of the fastest median.
bool counts_at_level_fastest(const SessionResult& s, double fastest, double max_cv) {
  return s.summary.p50 <= fastest * (1.0 + max_cv);
}

// Level fastest: how many sessions count.
size_t fastest_group_size(const std::vector<SessionResult>& sessions, double max_cv) {
  if (sessions.empty()) return 0;
  const double fastest = fastest_median(sessions);
  return static_cast<size_t>(std::count_if(sessions.begin(), sessions.end(), [&](const SessionResult& s) {
    return counts_at_level_fastest(s, fastest, max_cv);
  }));
}

// Level fastest: moves the sessions that do not count from m.sessions to m.slower (in their
// measured order).
void set_slower_sessions_aside(Measurement& m, double max_cv) {
  if (m.sessions.empty()) return;
  const double fastest = fastest_median(m.sessions);
  std::vector<SessionResult> kept;
  for (SessionResult& s : m.sessions) {
    (counts_at_level_fastest(s, fastest, max_cv) ? kept : m.slower).push_back(std::move(s));
  }
  m.sessions = std::move(kept);
}

// When the session medians fall into two groups, each within max_cv of its own range but apart
// by more than max_cv, the device ran at two speeds (a virtual machine's host lends the core's
// throughput to a neighbour for seconds at a time): a sentence with both levels, so the user
// knows to measure again rather than to suspect the model. Empty when there are fewer than three
// sessions or no such split.
std::string two_speed_levels(const Measurement& m, double max_cv) {
  if (m.sessions.size() < 3) return "";
  std::vector<double> medians;
  for (const SessionResult& s : m.sessions) medians.push_back(s.summary.p50);
  std::sort(medians.begin(), medians.end());
  if (!(medians.front() > 0)) return "";
  size_t split = 0;  // the lower group is medians[0 .. split]
  double widest = 0;
  for (size_t i = 0; i + 1 < medians.size(); ++i) {
    const double gap = medians[i + 1] / medians[i] - 1.0;
    if (gap > widest) widest = gap, split = i;
  }
  const double lower_range = medians[split] / medians.front() - 1.0;
  const double upper_range = medians.back() / medians[split + 1] - 1.0;
  if (!(widest > max_cv) || lower_range > max_cv || upper_range > max_cv) return "";
  const std::vector<double> lower(medians.begin(), medians.begin() + static_cast<std::ptrdiff_t>(split) + 1);
  const std::vector<double> upper(medians.begin() + static_cast<std::ptrdiff_t>(split) + 1, medians.end());
  const double fast = support::median(lower), slow = support::median(upper);
  return "; the sessions ran at two speeds (" + std::to_string(lower.size()) + " at " + format_double("%.4g", fast) +
         " ms, " + std::to_string(upper.size()) + " at " + format_double("%.4g", slow) + " ms, " +
         format_double("%.0f%%", 100 * (slow / fast - 1.0)) +
         " apart): the device's speed changed between sessions (another process or virtual machine on its "
         "cores); measure again when it is quiet";
}

std::string remote_model_name(size_t index, const std::string& path) {
  return "model-" + std::to_string(index) + "-" + std::filesystem::path(path).filename().string();
}

}  // namespace

SessionLevel session_level_from_name(const std::string& name) {
  if (name == "all") return SessionLevel::kAll;
  if (name == "fastest") return SessionLevel::kFastest;
  throw std::invalid_argument("level '" + name +
                              "' is not known (accepted: all = every session counts, fastest = the fastest "
                              "session and those within max_cv of it)");
}

const char* session_level_name(SessionLevel level) { return level == SessionLevel::kFastest ? "fastest" : "all"; }

void check_protocol_options(const ProtocolOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("latency protocol: " + what); };
  if (o.sessions < 1) fail("sessions = " + std::to_string(o.sessions) + "; must be at least 1");
  if (o.warmup < 0) fail("warmup = " + std::to_string(o.warmup) + "; must be 0 or more");
  if (!(o.warmup_s >= 0 && o.warmup_s <= 3600)) fail("warmup_s must be 0 to 3600 seconds");
  if (o.iterations < 1) fail("iterations = " + std::to_string(o.iterations) + "; must be at least 1");
  if (!(o.cooldown_s >= 0)) fail("cooldown_s must be 0 or more seconds");
  if (!(o.min_seconds >= 0)) fail("min_seconds must be 0 or more seconds");
  if (!(o.min_sample_ms >= 0 && o.min_sample_ms <= 1e6)) {
    fail("min_sample_ms must be 0 (one inference per sample) to 1000000 milliseconds");
  }
  if (!(o.max_cv > 0)) fail("max_cv must be a positive fraction, e.g. 0.03 for 3%");
  if (o.noisy_retries < 0) fail("noisy_retries = " + std::to_string(o.noisy_retries) + "; must be 0 or more");
  if (!(o.max_frequency_drift > 0)) fail("max_frequency_drift must be a positive fraction");
  if (!(o.max_temperature_rise_c > 0)) fail("max_temperature_rise_c must be positive (degrees C)");
}

void judge_validity(Measurement& m, const ProtocolOptions& options) {
  m.invalid_reasons.clear();
  m.dispersion = options.dispersion;
  if (m.failed || m.sessions.empty()) {
    m.valid = false;
    m.invalid_reasons.push_back(m.failed ? "measurement failed" : "no sessions");
    return;
  }
  m.level = options.level;
  if (options.level == SessionLevel::kFastest) set_slower_sessions_aside(m, options.max_cv);
  m.max_session_cv = 0;
  for (size_t s = 0; s < m.sessions.size(); ++s) {
    const SessionResult& session = m.sessions[s];
    const double spread = dispersion_of(session.summary, options.dispersion);
    m.max_session_cv = std::max(m.max_session_cv, spread);
    if (spread > options.max_cv) {
      m.invalid_reasons.push_back("session " + std::to_string(s + 1) + ": " + spread_name(options.dispersion) + " " +
                                  format_double("%.1f%%", 100 * spread) + " > " +
                                  format_double("%.1f%%", 100 * options.max_cv));
    }
    // Frequency and temperature, where the device lets us read them (-1: unreadable).
    const json& before = session.devbench.value("before", json::object());
    const json& after = session.devbench.value("after", json::object());
    const auto freq_before = before.value("freq_khz", std::vector<double>{});
    const auto freq_after = after.value("freq_khz", std::vector<double>{});
    for (size_t cpu = 0; cpu < std::min(freq_before.size(), freq_after.size()); ++cpu) {
      const double b = freq_before[cpu], a = freq_after[cpu];
      if (b <= 0 || a <= 0) continue;
      if (std::abs(a - b) / b > options.max_frequency_drift) {
        m.invalid_reasons.push_back("session " + std::to_string(s + 1) + ": cpu" + std::to_string(cpu) +
                                    " frequency " + format_double("%.0f", b / 1000) + " -> " +
                                    format_double("%.0f MHz", a / 1000));
      }
    }
    std::map<std::string, double> temp_before;
    for (const json& t : before.value("temperature_c", json::array())) {
      temp_before[t.value("zone", "")] = t.value("value", -1.0);
    }
    for (const json& t : after.value("temperature_c", json::array())) {
      const auto it = temp_before.find(t.value("zone", ""));
      const double a = t.value("value", -1.0);
      if (it == temp_before.end() || it->second < -200 || a < -200) continue;
      if (a - it->second > options.max_temperature_rise_c) {
        m.invalid_reasons.push_back("session " + std::to_string(s + 1) + ": " + it->first +
                                    " temperature " + format_double("%.1f", it->second) + " -> " +
                                    format_double("%.1f C", a));
      }
    }
  }
  m.session_median_cv = session_median_spread(m, options);
  if (options.level == SessionLevel::kFastest) {
    // Every counted session lies within max_cv of the fastest: their spread cannot disqualify;
    // too few of them can.
    const size_t wanted = static_cast<size_t>(options.sessions);
    if (m.sessions.size() < wanted) {
      m.invalid_reasons.push_back(
          "the fastest session (" + format_double("%.4g", fastest_median(m.sessions)) + " ms) is matched within " +
          format_double("%.1f%%", 100 * options.max_cv) + " by " + std::to_string(m.sessions.size() - 1) +
          " other session" + (m.sessions.size() == 2 ? "" : "s") + " of " +
          std::to_string(m.sessions.size() + m.slower.size() - 1) + "; level fastest needs " +
          std::to_string(wanted - 1) + " (the device was slower in the others: measure again when it is quiet)");
    }
  } else if (m.session_median_cv > options.max_cv) {
    m.invalid_reasons.push_back("session medians differ: " + spread_name(options.dispersion) + " " +
                                format_double("%.1f%%", 100 * m.session_median_cv) + " > " +
                                format_double("%.1f%%", 100 * options.max_cv) +
                                two_speed_levels(m, options.max_cv));
  }
  m.valid = m.invalid_reasons.empty();
}

json Measurement::to_json() const {
  json j = {{"label", target.label},
            {"model", target.model_path},
            {"threads", target.threads},
            {"failed", failed},
            {"attempts", attempts},
            {"iterations_per_sample", iterations_per_sample},
            {"min_sample_ms", min_sample_ms},
            {"valid", valid},
            {"invalid_reasons", invalid_reasons}};
  if (failed) j["error"] = error;
  if (!sessions.empty()) {
    j["summary"] = summary_json(summary);
    j["session_median_cv"] = session_median_cv;
    j["max_session_cv"] = max_session_cv;
    j["dispersion"] = dispersion_name(dispersion);
    j["layers"] = layers;
    json list = json::array();
    for (const SessionResult& s : sessions) {
      list.push_back({{"summary", summary_json(s.summary)},
                      {"samples_ms", s.samples_ms},
                      {"before", s.devbench.value("before", json::object())},
                      {"after", s.devbench.value("after", json::object())}});
    }
    j["sessions"] = list;
    // Sessions that do not count: their summary and samples only.
    const auto uncounted = [](const std::vector<SessionResult>& list) {
      json out = json::array();
      for (const SessionResult& s : list) out.push_back({{"summary", summary_json(s.summary)}, {"samples_ms", s.samples_ms}});
      return out;
    };
    j["discarded_sessions"] = uncounted(discarded);
    j["level"] = session_level_name(level);
    j["slower_sessions"] = uncounted(slower);
    const json& first = sessions.front().devbench;
    j["device_facts"] = first.value("device", json::object());
    j["binary"] = first.value("binary", json::object());
    j["model_info"] = first.value("model", json::object());
    j["runner_settings"] = first.value("settings", json::object());
  }
  return j;
}

namespace {

// Medians over sessions of each layer's per-session p50.
json combine_layers(const std::vector<SessionResult>& sessions) {
  json out = json::array();
  const json& first = sessions.front().devbench.value("layers", json::array());
  for (size_t i = 0; i < first.size(); ++i) {
    std::vector<double> p50s;
    for (const SessionResult& s : sessions) {
      const json& layers = s.devbench.value("layers", json::array());
      if (i < layers.size()) p50s.push_back(layers[i].value("p50_ms", 0.0));
    }
    json layer = {{"index", first[i].value("index", static_cast<int64_t>(i))},
                  {"name", first[i].value("name", "")},
                  {"kind", first[i].value("kind", "")},
                  {"storage", first[i].value("storage", "")},
                  {"p50_ms", summarize(p50s).p50}};
    out.push_back(layer);
  }
  return out;
}

}  // namespace

std::vector<Measurement> run_protocol(const DeviceConfig& config, Transport& transport,
                                      const std::string& runner,
                                      const std::vector<MeasureTarget>& targets,
                                      const ProtocolOptions& options, const ProtocolLog& log) {
  check_protocol_options(options);
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  std::vector<Measurement> results(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    results[i].target = targets[i];
    results[i].min_sample_ms = options.min_sample_ms;
  }
  if (targets.empty()) return results;

  const double lock_timeout_s = options.lock_timeout_s >= 0 ? options.lock_timeout_s : config.lock_timeout_s;
  DeviceLock lock(device_lock_key(config), lock_timeout_s, [&](const std::string& holder) {
    say("device " + config.name + " is busy (" + holder + "); waiting for it");
  });

  // Connecting and copying, retried as a whole: a dropped connection may have lost any of it.
  const int attempts_allowed = 1 + std::max(0, config.retries);
  std::string remote_runner;
  std::vector<std::string> remote_models(targets.size());
  bool pushed = false;
  auto push_everything = [&]() {
    transport.connect();
    remote_runner = transport.push(runner, "ubp-devbench");
    std::map<std::string, std::string> copied;  // one copy per distinct model file
    for (size_t i = 0; i < targets.size(); ++i) {
      auto it = copied.find(targets[i].model_path);
      if (it == copied.end()) {
        it = copied.emplace(targets[i].model_path,
                            transport.push(targets[i].model_path,
                                           remote_model_name(i, targets[i].model_path)))
                 .first;
      }
      remote_models[i] = it->second;
    }
    pushed = true;
  };
  std::string setup_error;
  for (int attempt = 1; attempt <= attempts_allowed && !pushed; ++attempt) {
    try {
      push_everything();
    } catch (const std::exception& e) {
      setup_error = e.what();
      say("device " + config.name + ": " + setup_error + " (attempt " + std::to_string(attempt) +
          " of " + std::to_string(attempts_allowed) + ")");
      if (attempt < attempts_allowed) sleep_seconds(config.retry_delay_s);
    }
  }
  if (!pushed) {
    for (Measurement& m : results) {
      m.failed = true;
      m.error = "cannot reach " + transport.describe() + ": " + setup_error + " (" +
                std::to_string(attempts_allowed) + " attempts)";
      judge_validity(m, options);
    }
    return results;
  }

  auto runner_argv = [&](size_t i) {
    std::vector<std::string> argv = {remote_runner,
                                     "--model", remote_models[i],
                                     "--warmup", std::to_string(options.warmup),
                                     "--warmup-seconds", format_double("%g", options.warmup_s),
                                     "--iterations", std::to_string(options.iterations),
                                     "--min-seconds", format_double("%g", options.min_seconds),
                                     "--min-sample-ms", format_double("%g", options.min_sample_ms),
                                     "--threads", std::to_string(targets[i].threads)};
    // After the first measured session the grouping is fixed for this target.
    if (results[i].iterations_per_sample > 0) {
      argv.push_back("--group");
      argv.push_back(std::to_string(results[i].iterations_per_sample));
    }
    if (!config.cpu_mask.empty()) {
      argv.push_back("--affinity");
      argv.push_back(config.cpu_mask);
    }
    return argv;
  };

  // One session of target i: the runner once (again after a noisy session, up to noisy_retries;
  // after a failed attempt, up to the device's retries). When no attempt gave usable output, a
  // `required` session marks the target failed; an extra one only says so.
  const auto measure_session = [&](size_t i, const std::string& heading, bool required) {
    Measurement& m = results[i];
    say(heading + ": " + m.target.label + " (" + std::to_string(m.target.threads) + " thread" +
        (m.target.threads == 1 ? "" : "s") + ") on " + config.name);
    std::string last_error;
    bool measured = false;
    int noisy_left = options.noisy_retries;
    for (int attempt = 1; attempt <= attempts_allowed && !measured; ++attempt) {
      sleep_seconds(attempt == 1 ? options.cooldown_s : config.retry_delay_s);
      ++m.attempts;
      try {
        if (attempt > 1 && !pushed) push_everything();
        Attempt a = parse_runner_output(transport.run(runner_argv(i), config.timeout_s));
        if (a.result && m.iterations_per_sample == 0) {
          // The runner's calibration decides once; every later session reuses it. A runner
          // that reports no grouping timed one inference per sample.
          const json& g = a.result->devbench.value("grouping", json::object());
          m.iterations_per_sample = std::max<int64_t>(1, g.value("iterations_per_sample", int64_t{1}));
          if (m.iterations_per_sample > 1) {
            say("  " + std::to_string(m.iterations_per_sample) +
                " inferences per sample (each sample at least " +
                format_double("%g", options.min_sample_ms) + " ms), for every session");
          }
        }
        const double spread = a.result ? dispersion_of(a.result->summary, options.dispersion) : 0.0;
        if (a.result && spread > options.max_cv && noisy_left > 0) {
          // Disturbed (another process, a migration): measure this session again rather
          // than let one burst invalidate the model. Not a failed attempt; kept for the record.
          --noisy_left;
          --attempt;
          say("  " + spread_name(options.dispersion) + " " + format_double("%.1f%%", 100 * spread) +
              " > " + format_double("%.1f%%", 100 * options.max_cv) + ": measuring this session again");
          m.discarded.push_back(std::move(*a.result));
        } else if (a.result) {
          m.sessions.push_back(std::move(*a.result));
          measured = true;
        } else {
          last_error = a.error;
        }
      } catch (const TransportError& e) {
        // The connection dropped: copy everything again before the next attempt (a reboot
        // or a cleaned temporary directory may have removed the files).
        last_error = e.what();
        pushed = false;
      } catch (const std::exception& e) {
        last_error = e.what();
        pushed = false;
      }
      if (!measured) {
        say("  attempt " + std::to_string(attempt) + " of " + std::to_string(attempts_allowed) +
            " failed: " + last_error);
      }
    }
    if (!measured && required) {
      m.failed = true;
      m.error = last_error + " (" + std::to_string(attempts_allowed) + " attempts)";
    }
    return measured;
  };

  std::vector<size_t> order(targets.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (int session = 0; session < options.sessions; ++session) {
    // A seeded Fisher-Yates shuffle of our own: std::shuffle's algorithm is not specified, so
    // the order would differ between standard libraries.
    std::mt19937_64 rng(options.seed * 1000003ULL + static_cast<uint64_t>(session));
    for (size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1], order[static_cast<size_t>(rng() % i)]);
    }
    for (size_t position = 0; position < order.size(); ++position) {
      const size_t i = order[position];
      if (results[i].failed) continue;  // it already used up its retries
      measure_session(i, "session " + std::to_string(session + 1) + "/" + std::to_string(options.sessions) + ", " +
                             std::to_string(position + 1) + "/" + std::to_string(order.size()),
                      true);
    }
  }

  // Sessions that each look steady but whose medians disagree (one process ran slower than the
  // others: a page layout, a migration) cost another session, as a noisy session does; with the
  // robust dispersion the medians are then judged by their median absolute deviation, so one
  // disagreeing process among three no longer invalidates the model.
  for (size_t i = 0; i < results.size(); ++i) {
    Measurement& m = results[i];
    for (int extra = 1; extra <= options.noisy_retries && !m.failed && !m.sessions.empty(); ++extra) {
      if (options.level == SessionLevel::kFastest) {
        // Level fastest: sessions slower than the fastest one each cost another session, until
        // `sessions` of them agree with the fastest.
        const size_t matched = fastest_group_size(m.sessions, options.max_cv);
        if (matched >= static_cast<size_t>(options.sessions)) break;
        say("  " + m.target.label + ": " + std::to_string(matched - 1) + " of the other " +
            std::to_string(m.sessions.size() - 1) + " sessions are within " +
            format_double("%.1f%%", 100 * options.max_cv) + " of the fastest: measuring another session");
      } else {
        if (m.sessions.size() < 2) break;
        const double spread = session_median_spread(m, options);
        if (spread <= options.max_cv) break;
        say("  " + m.target.label + ": session medians differ (" + spread_name(options.dispersion) + " " +
            format_double("%.1f%%", 100 * spread) + " > " + format_double("%.1f%%", 100 * options.max_cv) +
            "): measuring another session");
      }
      if (!measure_session(i, "extra session " + std::to_string(extra) + "/" + std::to_string(options.noisy_retries),
                           false)) {
        break;  // the sessions it has stand, judged as they are
      }
    }
  }

  for (Measurement& m : results) {
    // Level fastest: the summary and the per-layer times are of the counted sessions only.
    if (options.level == SessionLevel::kFastest) set_slower_sessions_aside(m, options.max_cv);
    if (!m.failed && !m.sessions.empty()) {
      std::vector<double> all;
      for (const SessionResult& s : m.sessions) all.insert(all.end(), s.samples_ms.begin(), s.samples_ms.end());
      m.summary = summarize(all);
      m.layers = combine_layers(m.sessions);
    }
    judge_validity(m, options);
  }
  return results;
}

}  // namespace ubp::device

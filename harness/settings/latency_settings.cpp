#include "settings/latency_settings.h"

#include <algorithm>
#include <stdexcept>

#include "config/schema.h"
#include "ubp/support/strings.h"
#include "settings/settings_reader.h"

namespace ubp::settings {

using config::Json;
using config::KeySpec;
using config::Schema;
using config::ValueType;

namespace {

// Empty when `text` is "auto" or a comma-separated list of known kernels.
std::string latency_kernels_problem(const std::string& text) {
  const std::vector<std::string> kernels = support::split_comma_list(text);
  for (const std::string& k : kernels) {
    if (k == "auto" && kernels.size() == 1) continue;
    const auto& known = latency_kernel_names();
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      return "unknown kernel '" + k + "' (accepted: auto, or a comma-separated list of " + support::join(known) + ")";
    }
  }
  return "";
}

}  // namespace

const std::vector<std::string>& latency_kernel_names() {
  static const std::vector<std::string> names = {"dense", "aligned", "unaligned", "unaligned-naive"};
  return names;
}

bool wants_latency(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  return r.string("experiment.kind") == "training" && r.contains("latency") && !r.strings("latency.devices").empty();
}

LatencySettings read_latency_settings(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  LatencySettings s;
  s.devices = r.strings("latency.devices");
  const std::string kernels = r.string("latency.kernels");
  if (const std::string problem = latency_kernels_problem(kernels); !problem.empty()) {
    throw std::invalid_argument("latency.kernels: " + problem);
  }
  s.kernels = support::split_comma_list(kernels);
  if (s.kernels.empty()) s.kernels = {"auto"};
  s.threads = r.get<std::vector<int>>("latency.threads");
  if (s.threads.empty()) s.threads = {1};
  device::ProtocolOptions& p = s.protocol;
  p.sessions = r.get<int>("latency.sessions");
  p.cooldown_s = r.number("latency.cooldown_s");
  p.warmup = r.get<int>("latency.warmup");
  p.warmup_s = r.number("latency.warmup_s");
  p.iterations = r.get<int>("latency.iterations");
  p.min_seconds = r.number("latency.min_seconds");
  p.min_sample_ms = r.number("latency.min_sample_ms");
  p.max_cv = r.number("latency.max_cv");
  p.dispersion = device::dispersion_from_name(r.string("latency.dispersion"));
  p.noisy_retries = r.get<int>("latency.noisy_retries");
  p.level = device::session_level_from_name(r.string("latency.level"));
  p.seed = r.get<uint64_t>("experiment.seed");
  device::check_protocol_options(p);
  s.method = r.string("prune.method");
  return s;
}

// `latency`: export each finished training run and measure it on devices (device/ protocol).
// Not part of the run id: the same trained model measured elsewhere is the same experiment, and
// a run already done is not trained again to be measured (use `ubp latency` for that).
void add_latency_keys(Schema& s) {
  using T = ValueType;
  const std::vector<std::string> training{"training"};
  auto key = [&](const char* path, ValueType type, Json default_value, const char* help) -> KeySpec& {
    return s.add_and_get(KeySpec(path, type, std::move(default_value), help).only_for(training).campaign_wide());
  };
  key("latency.devices", T::kStringList, Json::array(),
      "devices to measure on, a list: names of configs/devices/<name>.yaml (local is built in) "
      "or YAML files; empty: no latency (a comma-separated string is still read, with a warning)")
      .formerly_comma_string();
  key("latency.kernels", T::kString, "auto",
      "packed formats to export and measure: auto (dense and the method's own format) or a "
      "comma-separated list of dense, aligned, unaligned (WROS), unaligned-naive (the unaligned blocks "
      "run by the naive kernel, without WROS's output ring)");
  key("latency.threads", T::kIntList, Json::array({1}), "thread counts to measure each model with").range(1, 256);
  key("latency.sessions", T::kInt, 3, "independent sessions, each measuring every model once in a shuffled order")
      .range(1, 100);
  key("latency.cooldown_s", T::kFloat, 1.0, "idle seconds before each measurement").range(0, 600);
  key("latency.warmup", T::kInt, 10, "untimed iterations before timing").range(0, 100000);
  key("latency.warmup_s", T::kFloat, 1.0,
      "and keep warming up until this many seconds have passed, so a clock that ramps up after the "
      "cool-down (a VM host's, a phone governor's) runs at its steady speed before timing starts")
      .range(0, 600);
  key("latency.iterations", T::kInt, 30, "at least this many timed iterations per session").range(1, 1000000);
  key("latency.min_seconds", T::kFloat, 1.0, "and keep timing until this many seconds have passed").range(0, 3600);
  key("latency.min_sample_ms", T::kFloat, 5.0,
      "each timed sample groups enough inferences to last at least this many milliseconds (decided once "
      "per model and thread count before measuring, recorded as iterations_per_sample; times stay per "
      "inference); 0: one inference per sample")
      .range(0, 10000);
  key("latency.max_cv", T::kFloat, 0.03,
      "a measurement whose spread (per session, or of the session medians; in latency.dispersion) "
      "passes this is marked invalid")
      .range(0.0001, 10);
  key("latency.dispersion", T::kString, "robust",
      "the per-session spread max_cv bounds: robust (1.4826 * median absolute deviation / median, "
      "blind to a few samples a virtual machine's scheduler delayed) or classic (stddev / mean)")
      .one_of({"robust", "classic"});
  key("latency.noisy_retries", T::kInt, 2,
      "a session whose spread passes max_cv is measured again, at most this often; and sessions whose "
      "medians disagree by more than max_cv cost at most this many more sessions")
      .range(0, 100);
  key("latency.level", T::kString, "all",
      "which sessions count: all (every session; valid when their medians agree within max_cv) or fastest "
      "(the fastest session and those within max_cv of it, once latency.sessions of them agree; slower "
      "sessions are set aside and each costs another, up to noisy_retries): the device's speed when "
      "nothing else holds it back, for a machine whose speed drops for seconds at a time (a VM's neighbours)")
      .one_of({"all", "fastest"});
  // The kernel names at planning time, so a typo stops the sweep before its first training.
  s.add_rule({{"latency.kernels"}, [](const nlohmann::json& run) -> std::string {
                if (!run.contains("latency")) return "";
                return latency_kernels_problem(run["latency"]["kernels"].get<std::string>());
              }});
}

}  // namespace ubp::settings

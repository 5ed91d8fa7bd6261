// ubp latency: measure packed models on one device with the measurement protocol
// (device/include/ubp/device/protocol.h) and print the figures, or all of them as JSON.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "latency/latency_devices.h"
#include "ubp/support/strings.h"
#include "ubp/device/model_file.h"
#include "ubp/device/transport.h"

namespace ubp::cli {
namespace {

using nlohmann::json;

struct LatencyArgs {
  std::vector<std::string> models;
  std::string device = "local";
  std::string devices_dir;
  std::string threads = "1";
  device::ProtocolOptions protocol;
  bool json = false;
};

std::string storage_of(const device::PackedModel& model) {
  std::string kinds;
  for (const device::Layer& layer : model.layers) {
    if (!layer.has_weights()) continue;
    const std::string s = device::to_string(layer.weights.storage);
    if (s != "dense" && kinds.find(s) == std::string::npos) kinds += (kinds.empty() ? "" : "+") + s;
  }
  return kinds.empty() ? "dense" : kinds;
}

int latency(const LatencyArgs& args) {
  std::vector<int> threads;
  for (const std::string& t : support::split_comma_list(args.threads)) {
    try {
      size_t used = 0;
      const int n = std::stoi(t, &used);
      if (used != t.size() || n < 1) throw std::invalid_argument(t);
      threads.push_back(n);
    } catch (const std::exception&) {
      return fail("--threads: '" + t + "' is not a thread count (accepted: positive integers, comma-separated, e.g. 1,2,4)", 2);
    }
  }
  device::DeviceConfig config;
  std::vector<device::MeasureTarget> targets;
  std::vector<std::string> storages;
  try {
    device::check_protocol_options(args.protocol);
    config = latency::load_device(args.device, args.devices_dir);
    for (const std::string& path : args.models) {
      // Read here first: a damaged file is a clear error now, not a runner failure on the device.
      const std::string storage = storage_of(device::read_model_file(path));
      for (int n : threads) {
        targets.push_back({path, path, n});
        storages.push_back(storage);
      }
    }
  } catch (const std::exception& e) {
    return fail(e.what(), 2);
  }
  const std::string runner = device::resolve_runner(config, latency::executable_dir());
  auto transport = device::make_transport(config);
  const bool quiet_log = args.json;
  const auto measurements = device::run_protocol(config, *transport, runner, targets, args.protocol,
                                                 [&](const std::string& line) {
                                                   if (!quiet_log) std::fprintf(stderr, "%s\n", line.c_str());
                                                 });
  bool any_failed = false;
  for (const auto& m : measurements) any_failed = any_failed || m.failed;

  if (args.json) {
    json out = {{"device", {{"name", config.name}, {"kind", config.kind}, {"transport", transport->describe()},
                            {"source", config.source}}},
                {"protocol",
                 {{"sessions", args.protocol.sessions},
                  {"cooldown_s", args.protocol.cooldown_s},
                  {"warmup", args.protocol.warmup},
                  {"warmup_s", args.protocol.warmup_s},
                  {"iterations", args.protocol.iterations},
                  {"min_seconds", args.protocol.min_seconds},
                  {"min_sample_ms", args.protocol.min_sample_ms},
                  {"max_cv", args.protocol.max_cv},
                  {"dispersion", device::dispersion_name(args.protocol.dispersion)},
                  {"noisy_retries", args.protocol.noisy_retries},
                  {"level", device::session_level_name(args.protocol.level)},
                  {"max_frequency_drift", args.protocol.max_frequency_drift},
                  {"max_temperature_rise_c", args.protocol.max_temperature_rise_c},
                  {"seed", args.protocol.seed},
                  {"order", "shuffled per session"}}},
                {"measurements", json::array()}};
    for (size_t i = 0; i < measurements.size(); ++i) {
      json m = measurements[i].to_json();
      m["storage"] = storages[i];
      out["measurements"].push_back(m);
    }
    std::cout << out.dump(2) << std::endl;
    return any_failed ? 1 : 0;
  }

  std::printf("device %s (%s), %d session(s), %d+ timed samples each (a sample: at least %g ms of inferences); "
              "spread: %s coefficient of variation\n",
              config.name.c_str(), transport->describe().c_str(), args.protocol.sessions, args.protocol.iterations,
              args.protocol.min_sample_ms, device::dispersion_name(args.protocol.dispersion));
  std::printf("%-40s %-15s %7s %7s %10s %10s %10s %7s  %s\n", "model", "storage", "threads", "group", "p50 ms",
              "p90 ms", "p99 ms", "spread", "verdict");
  for (size_t i = 0; i < measurements.size(); ++i) {
    const auto& m = measurements[i];
    if (m.failed) {
      std::printf("%-40s %-15s %7d  FAILED: %s\n", m.target.model_path.c_str(), storages[i].c_str(), m.target.threads,
                  m.error.c_str());
      continue;
    }
    // group: inferences per timed sample (the times are per inference).
    std::printf("%-40s %-15s %7d %7lld %10.3f %10.3f %10.3f %6.1f%%  %s\n", m.target.model_path.c_str(),
                storages[i].c_str(), m.target.threads, static_cast<long long>(m.iterations_per_sample),
                m.summary.p50, m.summary.p90, m.summary.p99,
                100 * device::dispersion_of(m.summary, args.protocol.dispersion),
                m.valid ? "valid" : ("invalid: " + m.invalid_reasons.front()).c_str());
  }
  return any_failed ? 1 : 0;
}

}  // namespace

Command add_latency_command(CLI::App& app) {
  auto args = std::make_shared<LatencyArgs>();
  CLI::App* sub = app.add_subcommand(
      "latency",
      "Measure packed models (ubp export) on a device: the runner (ubp-devbench) and the models are\n"
      "copied there, then several sessions each time every model once, in a shuffled order, with a\n"
      "cool-down between; a measurement whose spread, frequency or temperature drifted is marked\n"
      "invalid. Exit status 1 when a measurement failed (after its retries).");
  sub->add_option("--model", args->models, "Packed model file(s) to measure")->required()->check(CLI::ExistingFile);
  sub->add_option("--device", args->device,
                  "local (this host), a name of configs/devices/<name>.yaml, or a device YAML file")
      ->capture_default_str();
  sub->add_option("--devices-dir", args->devices_dir, "Where device names are looked up (default: configs/devices)");
  sub->add_option("--threads", args->threads, "Thread counts, comma-separated")->capture_default_str();
  sub->add_option("--sessions", args->protocol.sessions, "Independent sessions")->capture_default_str();
  sub->add_option("--cooldown", args->protocol.cooldown_s, "Idle seconds before each measurement")->capture_default_str();
  sub->add_option("--warmup", args->protocol.warmup, "Untimed iterations first")->capture_default_str();
  sub->add_option("--warmup-seconds", args->protocol.warmup_s,
                  "And keep warming up this long, so a clock that ramps up after idle time is steady")
      ->capture_default_str();
  sub->add_option("--iterations", args->protocol.iterations, "At least this many timed iterations per session")
      ->capture_default_str();
  sub->add_option("--min-seconds", args->protocol.min_seconds, "And keep timing this long per session")
      ->capture_default_str();
  sub->add_option("--min-sample-ms", args->protocol.min_sample_ms,
                  "Each timed sample groups enough inferences to last this many milliseconds (decided once per "
                  "model; 0: one inference per sample); times stay per inference")
      ->capture_default_str();
  sub->add_option("--max-cv", args->protocol.max_cv,
                  "Spread (per session, or of the session medians; see --dispersion) above which a result is invalid")
      ->capture_default_str();
  sub->add_option_function<std::string>(
         "--dispersion",
         [args](const std::string& name) { args->protocol.dispersion = device::dispersion_from_name(name); },
         "Per-session spread --max-cv bounds: robust (1.4826 MAD / median; default) or classic (stddev / mean)")
      ->check(CLI::IsMember({"robust", "classic"}));
  sub->add_option("--noisy-retries", args->protocol.noisy_retries,
                  "Measure a session whose spread passes --max-cv again, this often; and add at most this many "
                  "sessions when the session medians disagree by more than --max-cv")
      ->capture_default_str();
  sub->add_option_function<std::string>(
         "--level", [args](const std::string& name) { args->protocol.level = device::session_level_from_name(name); },
         "Which sessions count: all (default; their medians must agree within --max-cv) or fastest (the fastest "
         "session and those within --max-cv of it, once --sessions of them agree; slower ones are set aside and "
         "each costs another session, up to --noisy-retries)")
      ->check(CLI::IsMember({"all", "fastest"}));
  sub->add_option("--seed", args->protocol.seed, "Seed of the measurement order")->capture_default_str();
  sub->add_flag("--json", args->json, "Print everything (samples, per-layer times, device facts) as JSON");
  return {sub, [args] { return latency(*args); }};
}

}  // namespace ubp::cli

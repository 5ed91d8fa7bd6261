#include "latency/run_latency.h"

#include <filesystem>
#include <map>
#include <set>

#include "export/final_model.h"
#include "export/packed_export.h"
#include "latency/latency_devices.h"
#include "ubp/device/model_file.h"
#include "ubp/device/transport.h"

namespace ubp::latency {

namespace fs = std::filesystem;
using nlohmann::json;

bool wants_latency(const config::PlannedRun& run) { return settings::wants_latency(run.resolved); }

namespace {

results::LatencyRecord failed_record(const std::string& model, const std::string& device,
                                     const std::string& kernel, int threads,
                                     const std::string& error) {
  results::LatencyRecord r;
  r.model = model;
  r.device = device;
  r.kernel = kernel;
  r.threads = threads;
  r.valid = false;
  r.failed = true;
  r.error = error;
  r.detail_json = json{{"failed", true}, {"error", error}}.dump();
  return r;
}

}  // namespace

void check_plan_devices(const config::Plan& plan) {
  std::set<std::string> checked;
  for (const config::PlannedRun& run : plan.runs) {
    if (!wants_latency(run)) continue;
    for (const std::string& spec : settings::read_latency_settings(run.resolved).devices) {
      if (checked.insert(spec).second) load_device(spec);
    }
  }
}

results::LatencyRecord to_latency_record(const device::Measurement& m, const std::string& device,
                                         const std::string& kernel) {
  results::LatencyRecord r;
  r.model = m.target.model_path;
  r.device = device;
  r.kernel = kernel;
  r.threads = m.target.threads;
  r.valid = m.valid;
  r.failed = m.failed;
  r.error = m.error;
  if (!m.failed) {
    r.p50_ms = m.summary.p50;
    r.p90_ms = m.summary.p90;
    r.p99_ms = m.summary.p99;
    r.min_ms = m.summary.min;
    r.mean_ms = m.summary.mean;
    // The spread the validity rule judged (robust or classic, as the detail JSON's dispersion says).
    r.cv = device::dispersion_of(m.summary, m.dispersion);
    r.samples = m.summary.count;
    r.sessions = static_cast<int>(m.sessions.size());
  }
  r.detail_json = m.to_json().dump();
  return r;
}

namespace {

// Exports the run's kept model per kernel and measures it on `devices` (specs), appending rows.
void measure_on(const config::PlannedRun& run, const experiments::RunContext& context,
                const std::vector<std::string>& devices, std::vector<results::LatencyRecord>& rows,
                spdlog::logger& log) {
  const LatencySettings settings = settings::read_latency_settings(run.resolved);
  const std::string& method = settings.method;
  auto console = [&](const std::string& line) {
    log.info("{}", line);
    if (context.console) context.console->info("  {}", line);
  };

  std::vector<std::string> skipped;
  const std::vector<std::string> kernels = kernels_for_method(settings.kernels, method, &skipped);
  for (const std::string& why : skipped) {
    console("latency: " + why);
  }

  // Export each kernel's packed model once; the devices measure the same files.
  const std::string saved_path = (fs::path(context.models_dir) / exporter::kFinalModelFile).string();
  std::map<std::string, std::string> files;       // kernel -> packed model file
  std::map<std::string, std::string> export_errors;
  try {
    exporter::SavedModel saved = exporter::load_saved_model(saved_path);
    for (const std::string& kernel : kernels) {
      const std::string out = (fs::path(context.models_dir) / (kernel + ".ubpm")).string();
      try {
        exporter::ExportOptions options;
        options.kernel = exporter::export_kernel_from_string(kernel);
        options.block = saved.block;
        options.input_shape = saved.input_shape;
        options.name = run.run_id + "-" + kernel;
        device::write_model_file(out, exporter::export_model(*saved.model, saved.masks, options));
        files[kernel] = out;
      } catch (const std::exception& e) {
        export_errors[kernel] = std::string("export failed: ") + e.what();
      }
    }
  } catch (const std::exception& e) {
    for (const std::string& kernel : kernels) {
      export_errors[kernel] = std::string("cannot load the run's final model: ") + e.what();
    }
  }

  for (const std::string& spec : devices) {
    device::DeviceConfig config = load_device(spec);
    for (const auto& [kernel, error] : export_errors) {
      for (int threads : settings.threads) {
        rows.push_back(failed_record(kernel + ".ubpm", config.name, kernel, threads, error));
      }
    }
    if (files.empty()) continue;
    std::vector<device::MeasureTarget> targets;
    std::vector<std::string> target_kernels;
    for (const auto& [kernel, path] : files) {
      for (int threads : settings.threads) {
        targets.push_back({kernel, path, threads});
        target_kernels.push_back(kernel);
      }
    }
    std::vector<device::Measurement> measured;
    try {
      const std::string runner = device::resolve_runner(config, executable_dir());
      auto transport = device::make_transport(config);
      console("latency on " + config.name + " (" + transport->describe() + "): " +
              std::to_string(targets.size()) + " model(s) x " + std::to_string(settings.protocol.sessions) +
              " session(s)");
      measured = device::run_protocol(config, *transport, runner, targets, settings.protocol,
                                      [&](const std::string& line) { log.info("{}", line); });
    } catch (const std::exception& e) {
      for (size_t i = 0; i < targets.size(); ++i) {
        rows.push_back(failed_record(targets[i].model_path, config.name, target_kernels[i],
                                               targets[i].threads, e.what()));
      }
      console("latency on " + config.name + " failed: " + e.what());
      continue;
    }
    std::string line;
    for (size_t i = 0; i < measured.size(); ++i) {
      const device::Measurement& m = measured[i];
      rows.push_back(to_latency_record(m, config.name, target_kernels[i]));
      char text[160];
      if (m.failed) {
        std::snprintf(text, sizeof text, "%s/%dt FAILED", target_kernels[i].c_str(), m.target.threads);
        log.warn("latency of {} on {} failed: {}", target_kernels[i], config.name, m.error);
      } else {
        std::snprintf(text, sizeof text, "%s/%dt %.3f ms%s", target_kernels[i].c_str(), m.target.threads,
                      m.summary.p50, m.valid ? "" : " (invalid)");
      }
      line += (line.empty() ? "" : ", ") + std::string(text);
    }
    console("latency on " + config.name + ": " + line);
  }
}

}  // namespace

void measure_run_latency(const config::PlannedRun& run, const experiments::RunContext& context,
                         results::RunResult& result, spdlog::logger& log) {
  if (!wants_latency(run)) return;
  measure_on(run, context, settings::read_latency_settings(run.resolved).devices, result.latency, log);
}

std::vector<std::string> owed_devices(const config::PlannedRun& run,
                                      const std::vector<results::LatencyRecord>& existing) {
  std::vector<std::string> owed;
  if (!wants_latency(run)) return owed;
  std::set<std::string> measured;
  for (const auto& row : existing) measured.insert(row.device);
  for (const std::string& spec : settings::read_latency_settings(run.resolved).devices) {
    if (!measured.count(load_device(spec).name)) owed.push_back(spec);
  }
  return owed;
}

std::vector<results::LatencyRecord> measure_owed_latency(const config::PlannedRun& run,
                                                         const experiments::RunContext& context,
                                                         const std::vector<results::LatencyRecord>& existing,
                                                         spdlog::logger& log) {
  std::vector<results::LatencyRecord> rows;
  const std::vector<std::string> devices = owed_devices(run, existing);
  if (devices.empty()) return rows;
  const std::string saved = (fs::path(context.models_dir) / exporter::kFinalModelFile).string();
  if (!fs::exists(saved)) {
    // Not a failed measurement: the model is elsewhere (shards merged into another folder), and
    // a later `ubp run` next to it should still measure it.
    const std::string line = "run " + run.run_id + " owes latency but its kept model " + saved +
                             " is not here; run `ubp run` with a database in the folder that holds models/" +
                             run.run_id + " (for Slurm shards: DIR/shards)";
    log.warn("{}", line);
    if (context.console) context.console->warn("{}", line);
    return rows;
  }
  if (context.console) context.console->info("run {}: measuring the latency it owes (trained as a cluster task)", run.run_id);
  measure_on(run, context, devices, rows, log);
  return rows;
}

}  // namespace ubp::latency

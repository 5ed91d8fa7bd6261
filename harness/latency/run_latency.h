// Latency of the runs of a sweep: what `ubp run` does after a training run when its config has
// a `latency` section with devices. The run's final model (export/final_model.h) is exported in
// each kernel's packed format beside it (<db dir>/models/<run id>/<kernel>.ubpm) and measured
// with the device protocol on every configured device; each measurement, failed ones included,
// becomes a row of the `latency` table.
#pragma once

#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "config/plan.h"
#include "experiments/experiment.h"
#include "ubp/device/protocol.h"
#include "ubp/results/store.h"

namespace ubp::latency {

// Whether the run is a training run whose config names latency devices.
bool wants_latency(const config::PlannedRun& run);

// Loads every device named by the plan's runs, so a typo in a device file stops the sweep
// before any training instead of after it. Throws device::DeviceConfigError.
void check_plan_devices(const config::Plan& plan);

// The runner hook: appends the run's latency rows to `result`. Does nothing for runs without
// latency devices. A model that cannot be exported or measured gives failed rows, not an
// exception: the accuracy of the run is still worth keeping.
void measure_run_latency(const config::PlannedRun& run, const experiments::RunContext& context,
                         results::RunResult& result, spdlog::logger& log);

// Device specs of the run's latency section that it has no rows for (a run trained under
// `ubp run --task` on a cluster node measures nothing there).
std::vector<std::string> owed_devices(const config::PlannedRun& run,
                                      const std::vector<results::LatencyRecord>& existing);

// The rows a done run owes: its kept model exported and measured on the owed devices. Empty
// (with a warning) when the kept model is not beside the database, so a later run can still
// measure it.
std::vector<results::LatencyRecord> measure_owed_latency(const config::PlannedRun& run,
                                                         const experiments::RunContext& context,
                                                         const std::vector<results::LatencyRecord>& existing,
                                                         spdlog::logger& log);

// A measurement as a `latency` row.
results::LatencyRecord to_latency_record(const device::Measurement& m, const std::string& device,
                                         const std::string& kernel);

}  // namespace ubp::latency

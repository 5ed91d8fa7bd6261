// Which kernels a run's latency measures, and where its devices are found (`ubp run`'s latency
// section, read by settings/latency_settings.h, and the flags of `ubp latency`).
#pragma once

#include <string>
#include <vector>

#include "ubp/device/device_config.h"
#include "ubp/device/protocol.h"
#include "settings/latency_settings.h"

namespace ubp::latency {

using settings::LatencySettings;

// The kernels to export and measure for a run pruned with `method`: "auto" gives dense plus the
// method's own format (aligned for `aligned`, unaligned for the unaligned selectors, nothing
// more for `none`); an explicit list keeps the kernels whose format can hold the masks and
// says in `skipped` why each other one is left out (an aligned kernel cannot run unaligned
// blocks; an unpruned run is timed dense only).
std::vector<std::string> kernels_for_method(const std::vector<std::string>& requested,
                                            const std::string& method,
                                            std::vector<std::string>* skipped);

// Where device names are looked up: ./configs/devices when it exists, else the configs/devices
// folder of the source tree this binary was built from (<bin>/../../configs/devices).
std::string default_devices_dir();

// The folder of the running executable (for resolve_runner: ubp-devbench sits beside ubp).
std::string executable_dir();

// A device spec turned into its config, looked up in `devices_dir` (default_devices_dir() when
// empty).
device::DeviceConfig load_device(const std::string& spec, const std::string& devices_dir = "");

}  // namespace ubp::latency

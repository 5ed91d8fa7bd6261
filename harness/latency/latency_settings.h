// The `latency` section of a config and the flags of `ubp latency`: which devices, which kernels,
// how many threads, and the measurement protocol's settings.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ubp/device/device_config.h"
#include "ubp/device/protocol.h"

namespace ubp::latency {

struct LatencySettings {
  std::vector<std::string> devices;  // device specs (names or YAML files); empty: no latency
  // dense / aligned / unaligned / unaligned-naive; {"auto"}: per method
  std::vector<std::string> kernels;
  std::vector<int> threads{1};
  device::ProtocolOptions protocol;
};

// From a resolved config (its `latency` section). Throws std::invalid_argument naming the key
// and what is accepted for a bad device list or kernel name.
LatencySettings latency_settings_from(const nlohmann::json& resolved);

// The kernels to export and measure for a run pruned with `method`: "auto" gives dense plus the
// method's own format (aligned for `aligned`, unaligned for the unaligned selectors, nothing
// more for `none`); an explicit list keeps the kernels whose format can hold the masks and
// reports the others in `skipped` (an aligned kernel cannot run unaligned blocks).
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

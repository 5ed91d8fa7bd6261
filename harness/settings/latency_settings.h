// The `latency` section of a training config: which devices, which kernels, how many
// threads, and the measurement protocol's settings (device/ protocol). Read once by
// read_latency_settings; its keys are declared beside it (add_latency_keys).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ubp/device/protocol.h"

namespace ubp::config {
class Schema;
}

namespace ubp::settings {

struct LatencySettings {
  std::vector<std::string> devices;  // device specs (names or YAML files); empty: no latency
  // dense / aligned / unaligned / unaligned-naive; {"auto"}: per method
  std::vector<std::string> kernels;
  std::vector<int> threads{1};
  device::ProtocolOptions protocol;
  // prune.method of the run: which formats can hold its masks (latency::kernels_for_method).
  std::string method;
};

// The packed-model kernels latency.kernels may name (besides "auto").
const std::vector<std::string>& latency_kernel_names();

// From a resolved training config. Throws std::invalid_argument naming the key and what is
// accepted for a bad kernel name or protocol setting.
LatencySettings read_latency_settings(const nlohmann::json& resolved);

// Whether a resolved config names latency devices (a training run with a `latency` section).
bool wants_latency(const nlohmann::json& resolved);

void add_latency_keys(config::Schema& schema);

}  // namespace ubp::settings

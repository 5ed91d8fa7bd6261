// Devices a latency measurement can run on, declared in configs/devices/*.yaml (device/README.md,
// "Devices"). Host only: the aarch64 runner never reads these files.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ubp::device {

struct DeviceConfig {
  std::string name;        // "local", "pixel7", ... (database column `device`, lock key part)
  std::string kind;        // local | ssh | adb
  std::string source;      // YAML file it came from ("" for the built-in "local")
  std::string arch;        // host | aarch64 (default: host for local/ssh, aarch64 for adb)
  std::string runner;      // local path of the ubp-devbench binary to run / copy; "" = default
  // ssh: "" = /tmp/ubp-<uid> of the connecting user, resolved and checked by connect();
  // adb default "/data/local/tmp/ubp".
  std::string remote_dir;
  std::string cpu_mask;    // hex affinity mask passed to ubp-devbench --affinity ("0xf0"); "" = none
  int retries = 2;         // further attempts after a failed one
  double retry_delay_s = 2.0;
  double timeout_s = 900;  // one ubp-devbench invocation
  // How long a measurement waits for the device lock another process holds before it gives up
  // naming the holder.
  double lock_timeout_s = 3600;
  // ssh
  std::string host;
  int port = 22;
  std::string user;                      // "" = ssh's own choice (~/.ssh/config, local user)
  std::string key;                       // identity file; "" = ssh's defaults / agent
  std::vector<std::string> ssh_options;  // extra -o options, e.g. "StrictHostKeyChecking=accept-new"
  // adb
  std::string serial;  // "" = the only attached device
};

class DeviceConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// spec: "local" (built in unless <devices_dir>/local.yaml exists), a name N resolved as
// <devices_dir>/N.yaml, or a path to a YAML file (contains '/' or ends in .yaml / .yml).
// Unknown keys, wrong types, keys of another kind, missing required keys (ssh: host) ->
// DeviceConfigError naming the file, line, key and the accepted values.
DeviceConfig load_device_config(const std::string& spec, const std::string& devices_dir);

// The built-in "local" device: this host, the host runner.
DeviceConfig builtin_local_device();

// The ubp-devbench to use: config.runner if set, else <bin_dir>/ubp-devbench (arch host) or
// <bin_dir>/../aarch64/bin/ubp-devbench (arch aarch64). Throws DeviceConfigError saying how to
// build it when the file does not exist or is not executable.
std::string resolve_runner(const DeviceConfig& config, const std::string& bin_dir);

// Identifies the physical device for the lock: "local-<hostname>", "ssh-<user>@<host>:<port>"
// (user: the local user name when none is configured, as ssh does), "adb-<serial>"
// ("adb-default" without a serial).
std::string device_lock_key(const DeviceConfig& config);

}  // namespace ubp::device

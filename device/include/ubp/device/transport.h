// How the latency protocol reaches a device: run a process here (local), over OpenSSH (ssh) or
// through the Android debug bridge (adb). Host only.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/device/device_config.h"

namespace ubp::device {

struct CommandResult {
  int exit_code = -1;      // -1 when killed by a signal or timed out
  int signal = 0;          // the signal that ended it (SIGKILL after a timeout)
  bool timed_out = false;  // killed because it ran past its time limit
  std::string out, err;
};

// The device could not be reached, a copy failed, or the connection dropped (ssh exit 255,
// adb "device not found/offline"). The protocol retries these.
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string describe() const = 0;  // "ssh pi@rpi4:22:/tmp/ubp"
  virtual void connect() = 0;  // checks the device answers, creates the remote directory
  // Makes a local file available on the device as <remote_dir>/<name>; returns that path
  // (local: no copy, returns local_path made absolute). Keeps the executable bit for the runner.
  virtual std::string push(const std::string& local_path, const std::string& name) = 0;
  // Copies the file `name` of the working directory run() uses (<remote_dir>/<name>; local: the
  // current directory) to local_path, e.g. a runner's --output-file. TransportError on failure.
  virtual void pull(const std::string& name, const std::string& local_path) = 0;
  // Runs argv on the device, working directory the remote directory (local: cwd unchanged).
  // A non-zero exit or a signal is in the result, not an exception; timeout kills it (on a
  // remote device too: the remote process is killed by its pid).
  //
  // Over ssh and adb the remote shell reports death by signal N as status 128 + N, so a remote
  // exit status above 128 reads as that signal.
  virtual CommandResult run(const std::vector<std::string>& argv, double timeout_s) = 0;
};

// Throws DeviceConfigError for an unknown kind.
std::unique_ptr<Transport> make_transport(const DeviceConfig& config);

}  // namespace ubp::device

// Runs a program without a shell and collects its output, with a time limit that kills the
// program's whole process group. Internal to ubp_device_host (the transports).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/device/transport.h"

namespace ubp::device {

// The program could not be started at all (not found, not executable).
class SubprocessStartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// argv[0] is looked up on PATH; stdin is /dev/null; the child leads a new process group so that
// a timeout also kills whatever it started. timeout_s <= 0: no limit. Each of out / err keeps
// at most 64 MiB (more is dropped, a note appended).
CommandResult run_subprocess(const std::vector<std::string>& argv, double timeout_s);


}  // namespace ubp::device

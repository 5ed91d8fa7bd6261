// Pieces shared by the transports (internal to ubp_device_host).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ubp/device/transport.h"

namespace ubp::device {

std::unique_ptr<Transport> make_local_transport(const DeviceConfig& config);
std::unique_ptr<Transport> make_ssh_transport(const DeviceConfig& config);
std::unique_ptr<Transport> make_adb_transport(const DeviceConfig& config);

// Remote commands (ssh, adb shell) run inside a small POSIX sh script because neither channel
// reports everything we need: ssh exits 255 both for a lost connection and for a remote process
// killed by a signal, and old adb always exits 0. The script
//   - enters `dir`,
//   - starts argv in the background, having it print "ubp-remote-pid=<pid>" to stderr before it
//     execs (so a timeout can kill the remote process, which outlives a killed ssh / adb client),
//   - waits for it and prints "\nubp-remote-status=<status>" as the last thing on stderr.
// No status line at the end means the command never ran to completion: a transport error.
std::string remote_run_script(const std::string& dir, const std::vector<std::string>& argv);

// "mkdir -p dir" and a check that it is writable; prints kConnectedMarker when all went well.
std::string remote_prepare_script(const std::string& dir);
inline constexpr const char* kConnectedMarker = "ubp-connected";

struct RemoteOutcome {
  bool status_reported = false;
  int status = -1;
  long pid = -1;  // -1: the command never started
};

// Takes the pid and status lines out of raw.err (or raw.out: an adb without the shell protocol
// merges the streams) and fills exit_code / signal from the reported status.
RemoteOutcome strip_remote_markers(CommandResult& raw);

std::string trim_whitespace(const std::string& text);

// Messages: the tool's stderr (or stdout when stderr is empty), trimmed, "(no output)" if none.
std::string tool_message(const CommandResult& result);

// A name for <remote_dir>/<name>: letters, digits, '.', '_', '-', '+', not "." / "..".
void check_remote_name(const std::string& name, const std::string& transport);

// Runs a host tool (ssh, scp, adb); a tool that cannot start is a TransportError that says
// which package provides it.
CommandResult run_tool(const std::vector<std::string>& argv, double timeout_s,
                       const std::string& package_hint);

}  // namespace ubp::device

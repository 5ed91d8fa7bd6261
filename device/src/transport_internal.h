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
//   - starts argv in the background: the program first writes its pid to
//     `.ubp-run-<token>.pid`, gives up (status 137) if `.ubp-run-<token>.cancel` exists, prints
//     "ubp-remote-pid=<pid>" to stderr and execs,
//   - waits for it, removes the pid file and prints "\nubp-remote-status=<status>" as the last
//     thing on stderr.
// No status line at the end means the command never ran to completion: a transport error.
// `token` (new_run_token()) names this run's files. Throws std::invalid_argument for an argument
// with control characters: a remote login shell of unknown kind may split it.
std::string remote_run_script(const std::string& dir, const std::vector<std::string>& argv,
                              const std::string& token);

// After a timeout the local ssh / adb client is gone but the remote program runs on (no pty, no
// SIGHUP), possibly not even started yet when the client was killed. This script makes sure it
// stops: it creates the cancel file, then kills the pid in the pid file if there is one. The run
// script writes its pid file before it looks for the cancel file, so whichever order the two
// scripts run in, the program is either killed or never starts.
std::string remote_cancel_script(const std::string& dir, const std::string& token);

// A fresh token for remote_run_script: hex digits unique to this process and call.
std::string new_run_token();

// "mkdir -p dir" and a check that it is writable; prints kConnectedMarker when all went well.
std::string remote_prepare_script(const std::string& dir);

// The same for a board shared by several users (ssh): `dir`, or when empty the per-user default
// /tmp/ubp-<uid of the connecting user>, is created with mode 0700 and must then be a real
// directory (not a symbolic link) owned by the connecting user and writable by nobody else; the
// script prints "ubp-remote-dir=<absolute path>" and kConnectedMarker, or
// "ubp-remote-dir-problem=<what is wrong>".
std::string remote_prepare_private_script(const std::string& dir);
inline constexpr const char* kRemoteDirMarker = "ubp-remote-dir=";
inline constexpr const char* kRemoteDirProblemMarker = "ubp-remote-dir-problem=";
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

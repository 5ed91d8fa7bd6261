#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "subprocess.h"
#include "transport_internal.h"
#include "ubp/support/text.h"

namespace ubp::device {

std::unique_ptr<Transport> make_transport(const DeviceConfig& config) {
  if (config.kind == "local") return make_local_transport(config);
  if (config.kind == "ssh") return make_ssh_transport(config);
  if (config.kind == "adb") return make_adb_transport(config);
  throw DeviceConfigError("device '" + config.name + "': unknown kind '" + config.kind +
                          "' (accepted: local, ssh, adb)");
}

namespace {

std::string run_file(const std::string& token, const char* suffix) { return ".ubp-run-" + token + suffix; }

}  // namespace

std::string remote_run_script(const std::string& dir, const std::vector<std::string>& argv,
                              const std::string& token) {
  std::string command;
  for (const auto& arg : argv) {
    if (support::has_control_characters(arg)) {
      throw std::invalid_argument("remote command argument '" + support::excerpt(arg) +
                                  "' holds control characters, which a remote login shell may split");
    }
    command += " " + support::shell_quote(arg);
  }
  const std::string pid_file = run_file(token, ".pid"), cancel_file = run_file(token, ".cancel");
  // The inner sh writes its pid, checks for a cancel, prints its pid and then execs the
  // program, so that pid is the program's. stdin is /dev/null: background jobs must not read
  // the channel.
  return "cd " + support::shell_quote(dir) + " || exit 1; sh -c 'printf \"%d\\n\" $$ > " + pid_file +
         "; if [ -e " + cancel_file + " ]; then rm -f " + pid_file + " " + cancel_file +
         "; exit 137; fi; printf \"ubp-remote-pid=%d\\n\" $$ >&2; exec \"$@\"' ubp-run" + command +
         " </dev/null & ubp_pid=$!; wait $ubp_pid; ubp_status=$?; rm -f " + pid_file + ";"
         " printf '\\nubp-remote-status=%d\\n' $ubp_status >&2; exit $ubp_status";
}

std::string remote_cancel_script(const std::string& dir, const std::string& token) {
  const std::string pid_file = run_file(token, ".pid"), cancel_file = run_file(token, ".cancel");
  return "cd " + support::shell_quote(dir) + " || exit 0; : > " + cancel_file + "; if [ -s " + pid_file +
         " ]; then kill -9 \"$(cat " + pid_file + ")\" 2>/dev/null; rm -f " + pid_file + " " + cancel_file +
         "; fi; exit 0";
}

std::string new_run_token() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char text[64];
  std::snprintf(text, sizeof text, "%lx-%llx-%llx", static_cast<unsigned long>(::getpid()),
                static_cast<unsigned long long>(salt), static_cast<unsigned long long>(counter++));
  return text;
}

std::string remote_prepare_script(const std::string& dir) {
  const std::string d = support::shell_quote(dir);
  return "mkdir -p " + d + " && test -d " + d + " && test -w " + d + " && echo " + kConnectedMarker;
}

std::string remote_prepare_private_script(const std::string& dir) {
  const std::string problem = std::string("echo ") + kRemoteDirProblemMarker;
  return "d=" + (dir.empty() ? std::string("\"/tmp/ubp-$(id -u)\"") : support::shell_quote(dir)) +
         "; mkdir -p -m 700 \"$d\" 2>/dev/null;"
         " if [ -L \"$d\" ] || [ ! -d \"$d\" ]; then " + problem + "\"$d is not a directory (or is a symbolic link)\"; exit 1; fi;"
         " if [ ! -O \"$d\" ]; then " + problem + "\"$d belongs to another user ($(ls -ld \"$d\"))\"; exit 1; fi;"
         " if [ -n \"$(find \"$d\" -prune \\( -perm -0020 -o -perm -0002 \\) -print)\" ]; then " + problem +
         "\"$d is writable by other users ($(ls -ld \"$d\"))\"; exit 1; fi;"
         " if [ ! -w \"$d\" ]; then " + problem + "\"$d is not writable\"; exit 1; fi;"
         " echo " + kRemoteDirMarker + "\"$(cd \"$d\" && pwd -P)\"; echo " + kConnectedMarker;
}

namespace {

// Parses digits at text[pos...]; returns the number and sets `end` after them, or -1.
long parse_digits(const std::string& text, size_t pos, size_t& end) {
  end = pos;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end == pos || end - pos > 9) return -1;
  return std::stol(text.substr(pos, end - pos));
}

// Removes the line "<key><digits>" (at the start of text or of a line); returns the number.
long take_line(std::string& text, const std::string& key, bool last, bool leading_newline) {
  const std::string needle = (leading_newline ? "\n" : "") + key;
  size_t at = std::string::npos;
  if (last) {
    at = text.rfind(needle);
  } else if (text.compare(0, needle.size(), needle) == 0) {
    at = 0;
  } else {
    const size_t found = text.find("\n" + needle);
    if (found != std::string::npos) at = found + 1;
  }
  if (at == std::string::npos) return -1;
  size_t end = 0;
  const long value = parse_digits(text, at + needle.size(), end);
  if (value < 0) return -1;
  if (end < text.size() && text[end] == '\r') ++end;  // a pty (old adb) writes \r\n
  if (end < text.size() && text[end] == '\n') ++end;
  text.erase(at, end - at);
  return value;
}

}  // namespace

RemoteOutcome strip_remote_markers(CommandResult& raw) {
  RemoteOutcome outcome;
  for (std::string* stream : {&raw.err, &raw.out}) {
    if (outcome.pid < 0) outcome.pid = take_line(*stream, "ubp-remote-pid=", false, false);
    if (!outcome.status_reported) {
      const long status = take_line(*stream, "ubp-remote-status=", true, true);
      if (status >= 0) {
        outcome.status_reported = true;
        outcome.status = static_cast<int>(status);
      }
    }
  }
  if (outcome.status_reported) {
    // The shell's convention for "killed by signal N"; real signals are 1..64.
    if (outcome.status > 128 && outcome.status <= 128 + 64) {
      raw.exit_code = -1;
      raw.signal = outcome.status - 128;
    } else {
      raw.exit_code = outcome.status;
      raw.signal = 0;
    }
  }
  return outcome;
}

std::string trim_whitespace(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return std::string();
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::string tool_message(const CommandResult& result) {
  std::string message = trim_whitespace(result.err);
  if (message.empty()) message = trim_whitespace(result.out);
  if (result.timed_out) return "timed out" + (message.empty() ? "" : ": " + message);
  return message.empty() ? "(no output)" : message;
}

void check_remote_name(const std::string& name, const std::string& transport) {
  const bool plain =
      !name.empty() && name != "." && name != ".." &&
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+") ==
          std::string::npos;
  if (!plain) {
    throw TransportError(transport + ": bad remote file name '" + name +
                         "' (accepted: letters, digits, '.', '_', '-', '+'; no '/')");
  }
}

CommandResult run_tool(const std::vector<std::string>& argv, double timeout_s,
                       const std::string& package_hint) {
  try {
    return run_subprocess(argv, timeout_s);
  } catch (const SubprocessStartError& error) {
    throw TransportError(std::string(error.what()) + " (install " + package_hint +
                         ": scripts/install-deps.sh)");
  }
}

}  // namespace ubp::device

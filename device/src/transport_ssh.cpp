// A board reached with the system's OpenSSH client: scp copies, ssh runs.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>

#include "subprocess.h"
#include "transport_internal.h"
#include "ubp/support/text.h"

namespace ubp::device {
namespace fs = std::filesystem;

namespace {

constexpr double kConnectTimeoutSeconds = 60;
constexpr double kKillTimeoutSeconds = 20;
constexpr const char* kPackage = "openssh-client";

class SshTransport : public Transport {
 public:
  explicit SshTransport(DeviceConfig config) : config_(std::move(config)) {}

  std::string describe() const override {
    return "ssh " + destination() + ":" + std::to_string(config_.port) + ":" +
           (remote_dir().empty() ? std::string("(per-user directory)") : remote_dir());
  }

  // Creates and checks the remote directory (the per-user default when the device file names
  // none): a board is often shared, and a directory another user owns or can write to would let
  // them swap the runner we execute.
  void connect() override {
    const CommandResult result =
        ssh(remote_prepare_private_script(config_.remote_dir), kConnectTimeoutSeconds);
    if (result.exit_code == 255 || result.timed_out) {
      throw TransportError(describe() + ": cannot connect: " + tool_message(result));
    }
    const std::string problem = marker_value(result.out, kRemoteDirProblemMarker);
    if (!problem.empty()) {
      throw TransportError(describe() + ": refusing the remote directory: " + problem +
                           " (accepted: a directory owned by the connecting user that no other user can write)");
    }
    const std::string dir = marker_value(result.out, kRemoteDirMarker);
    const bool plain = dir.size() > 1 && dir[0] == '/' &&
                       dir.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/") ==
                           std::string::npos;
    if (result.out.find(kConnectedMarker) == std::string::npos || !plain) {
      throw TransportError(describe() + ": cannot create the remote directory '" +
                           (config_.remote_dir.empty() ? std::string("/tmp/ubp-<uid>") : config_.remote_dir) +
                           "': " + tool_message(result));
    }
    remote_dir_ = dir;
  }

  std::string push(const std::string& local_path, const std::string& name) override {
    check_remote_name(name, describe());
    struct stat info {};
    if (stat(local_path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
      throw TransportError(describe() + ": cannot copy '" + local_path + "': not a regular file");
    }
    const std::string remote_path = remote_dir() + "/" + name;
    // -p keeps the mode (the runner's executable bit) and the times.
    std::vector<std::string> argv = {"scp", "-p", "-q"};
    append_options(argv);
    for (const auto& arg : {std::string("-P"), std::to_string(config_.port), std::string("--"),
                            local_path, scp_location(remote_path)}) {
      argv.push_back(arg);
    }
    const CommandResult copied = run_tool(argv, config_.timeout_s, kPackage);
    if (copied.exit_code != 0) {
      throw TransportError(describe() + ": scp of '" + local_path + "' to '" + remote_path +
                           "' failed: " + tool_message(copied));
    }
    if (info.st_mode & S_IXUSR) {
      // Not every sftp server applies the mode scp -p asks for (umask, odd filesystems).
      const CommandResult made_executable =
          ssh("chmod +x " + support::shell_quote(remote_path), kConnectTimeoutSeconds);
      if (made_executable.exit_code != 0) {
        throw TransportError(describe() + ": chmod +x '" + remote_path +
                             "' failed: " + tool_message(made_executable));
      }
    }
    return remote_path;
  }

  void pull(const std::string& name, const std::string& local_path) override {
    check_remote_name(name, describe());
    const std::string remote_path = remote_dir() + "/" + name;
    std::vector<std::string> argv = {"scp", "-q"};
    append_options(argv);
    for (const auto& arg : {std::string("-P"), std::to_string(config_.port), std::string("--"),
                            scp_location(remote_path), local_path}) {
      argv.push_back(arg);
    }
    const CommandResult copied = run_tool(argv, config_.timeout_s, kPackage);
    if (copied.exit_code != 0) {
      throw TransportError(describe() + ": scp of '" + remote_path + "' to '" + local_path +
                           "' failed: " + tool_message(copied));
    }
  }

  CommandResult run(const std::vector<std::string>& argv, double timeout_s) override {
    if (argv.empty()) throw std::invalid_argument(describe() + ": run() needs a command");
    const std::string token = new_run_token();
    CommandResult result = ssh(remote_run_script(remote_dir(), argv, token), timeout_s);
    const RemoteOutcome outcome = strip_remote_markers(result);
    if (result.timed_out) {
      // Killing the local ssh client leaves the remote process running (no pty, no SIGHUP), or
      // about to start when the connection was slow: it would keep the board busy under the
      // next measurement. The cancel stops it either way.
      ssh(remote_cancel_script(remote_dir(), token), kKillTimeoutSeconds);
      result.exit_code = -1;
      result.signal = SIGKILL;
      return result;
    }
    if (!outcome.status_reported) {
      throw TransportError(describe() + ": the command did not finish (ssh exit " +
                           std::to_string(result.exit_code) + "): " + tool_message(result));
    }
    return result;
  }

 private:
  // The directory connect() checked; before any connect(), the configured one.
  const std::string& remote_dir() const { return remote_dir_.empty() ? config_.remote_dir : remote_dir_; }

  // The rest of the line after `marker` in `text`, "" when absent.
  static std::string marker_value(const std::string& text, const char* marker) {
    const size_t at = text.find(marker);
    if (at == std::string::npos) return "";
    const size_t begin = at + std::string(marker).size();
    const size_t end = text.find('\n', begin);
    return trim_whitespace(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
  }

  std::string destination() const {
    return config_.user.empty() ? config_.host : config_.user + "@" + config_.host;
  }

  // user@host:path, an IPv6 address in brackets.
  std::string scp_location(const std::string& path) const {
    const std::string host =
        config_.host.find(':') != std::string::npos ? "[" + config_.host + "]" : config_.host;
    return (config_.user.empty() ? "" : config_.user + "@") + host + ":" + path;
  }

  // ssh and scp take the first value given for an option, so the device file's options come
  // first and override these defaults.
  void append_options(std::vector<std::string>& argv) const {
    for (const auto& option : config_.ssh_options) {
      argv.push_back("-o");
      argv.push_back(option);
    }
    for (const char* option :
         {"BatchMode=yes", "ConnectTimeout=10", "ServerAliveInterval=15", "ServerAliveCountMax=4",
          "LogLevel=ERROR"}) {
      argv.push_back("-o");
      argv.push_back(option);
    }
    if (!config_.key.empty()) {
      argv.push_back("-i");
      argv.push_back(config_.key);
      argv.push_back("-o");
      argv.push_back("IdentitiesOnly=yes");
    }
  }

  // The script runs under sh whatever the user's login shell is.
  CommandResult ssh(const std::string& script, double timeout_s) const {
    std::vector<std::string> argv = {"ssh"};
    append_options(argv);
    for (const auto& arg : {std::string("-p"), std::to_string(config_.port), std::string("--"),
                            destination(), "sh -c " + support::shell_quote(script)}) {
      argv.push_back(arg);
    }
    return run_tool(argv, timeout_s, kPackage);
  }

  DeviceConfig config_;
  std::string remote_dir_;  // resolved and checked by connect()
};

}  // namespace

std::unique_ptr<Transport> make_ssh_transport(const DeviceConfig& config) {
  return std::make_unique<SshTransport>(config);
}

}  // namespace ubp::device

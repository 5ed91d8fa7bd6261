// An Android device through the adb client first on PATH (Debian's `adb`).
#include <signal.h>
#include <sys/stat.h>

#include "subprocess.h"
#include "transport_internal.h"
#include "ubp/support/text.h"

namespace ubp::device {

namespace {

constexpr double kConnectTimeoutSeconds = 60;
constexpr double kKillTimeoutSeconds = 20;
constexpr const char* kPackage = "adb";

class AdbTransport : public Transport {
 public:
  explicit AdbTransport(DeviceConfig config) : config_(std::move(config)) {}

  std::string describe() const override {
    return "adb " + (config_.serial.empty() ? std::string("(default device)") : config_.serial) +
           ":" + config_.remote_dir;
  }

  void connect() override {
    // get-state fails with "device not found", "device offline" or "device unauthorized".
    const CommandResult state = adb({"get-state"}, kConnectTimeoutSeconds);
    // Other states ("recovery", "sideload", "bootloader") cannot run the benchmark either.
    if (state.exit_code != 0 || trim_whitespace(state.out) != "device") {
      throw TransportError(describe() + ": device not available: " + tool_message(state));
    }
    const CommandResult prepared =
        adb({"shell", remote_prepare_script(config_.remote_dir)}, kConnectTimeoutSeconds);
    if (prepared.out.find(kConnectedMarker) == std::string::npos) {
      throw TransportError(describe() + ": cannot create the remote directory '" +
                           config_.remote_dir + "': " + tool_message(prepared));
    }
  }

  std::string push(const std::string& local_path, const std::string& name) override {
    check_remote_name(name, describe());
    struct stat info {};
    if (stat(local_path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
      throw TransportError(describe() + ": cannot push '" + local_path + "': not a regular file");
    }
    const std::string remote_path = config_.remote_dir + "/" + name;
    const CommandResult pushed = adb({"push", local_path, remote_path}, config_.timeout_s);
    if (pushed.exit_code != 0) {
      throw TransportError(describe() + ": adb push of '" + local_path + "' failed: " +
                           tool_message(pushed));
    }
    if (info.st_mode & S_IXUSR) {
      // Whether push keeps the mode depends on the adb and adbd versions; the marker proves
      // the chmod ran (an adb without the shell protocol exits 0 whatever happened).
      const CommandResult made_executable =
          adb({"shell", "chmod 755 " + support::shell_quote(remote_path) + " && echo " + kConnectedMarker},
              kConnectTimeoutSeconds);
      if (made_executable.out.find(kConnectedMarker) == std::string::npos) {
        throw TransportError(describe() + ": chmod 755 '" + remote_path +
                             "' failed: " + tool_message(made_executable));
      }
    }
    return remote_path;
  }

  void pull(const std::string& name, const std::string& local_path) override {
    check_remote_name(name, describe());
    const std::string remote_path = config_.remote_dir + "/" + name;
    const CommandResult pulled = adb({"pull", remote_path, local_path}, config_.timeout_s);
    if (pulled.exit_code != 0) {
      throw TransportError(describe() + ": adb pull of '" + remote_path + "' failed: " +
                           tool_message(pulled));
    }
  }

  CommandResult run(const std::vector<std::string>& argv, double timeout_s) override {
    if (argv.empty()) throw std::invalid_argument(describe() + ": run() needs a command");
    const std::string token = new_run_token();
    CommandResult result =
        adb({"shell", remote_run_script(config_.remote_dir, argv, token)}, timeout_s);
    const RemoteOutcome outcome = strip_remote_markers(result);
    if (result.timed_out) {
      // The process on the phone outlives the killed adb client (or starts after it, when the
      // link was slow); it must not run on under the next measurement.
      adb({"shell", remote_cancel_script(config_.remote_dir, token)}, kKillTimeoutSeconds);
      result.exit_code = -1;
      result.signal = SIGKILL;
      return result;
    }
    if (!outcome.status_reported) {
      throw TransportError(describe() + ": the command did not finish (adb exit " +
                           std::to_string(result.exit_code) + "): " + tool_message(result));
    }
    return result;
  }

 private:
  CommandResult adb(const std::vector<std::string>& args, double timeout_s) const {
    std::vector<std::string> argv = {"adb"};
    if (!config_.serial.empty()) {
      argv.push_back("-s");
      argv.push_back(config_.serial);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return run_tool(argv, timeout_s, kPackage);
  }

  DeviceConfig config_;
};

}  // namespace

std::unique_ptr<Transport> make_adb_transport(const DeviceConfig& config) {
  return std::make_unique<AdbTransport>(config);
}

}  // namespace ubp::device

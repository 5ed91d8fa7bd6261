// The host itself: the runner is started directly, no copies.
#include <unistd.h>

#include <filesystem>

#include "subprocess.h"
#include "transport_internal.h"

namespace ubp::device {
namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

class LocalTransport : public Transport {
 public:

  std::string describe() const override { return "local " + host_name(); }

  void connect() override {}

  std::string push(const std::string& local_path, const std::string& name) override {
    check_remote_name(name, describe());
    std::error_code error;
    if (!fs::is_regular_file(local_path, error)) {
      throw TransportError(describe() + ": cannot use '" + local_path + "': not a regular file");
    }
    return fs::absolute(local_path).lexically_normal().string();
  }

  void pull(const std::string& name, const std::string& local_path) override {
    std::error_code error;
    const fs::path source = fs::absolute(name).lexically_normal();
    const fs::path target = fs::absolute(local_path).lexically_normal();
    if (!fs::is_regular_file(source, error)) {
      throw TransportError(describe() + ": cannot fetch '" + source.string() +
                           "': not a regular file");
    }
    if (fs::equivalent(source, target, error)) return;
    fs::copy_file(source, target, fs::copy_options::overwrite_existing, error);
    if (error) {
      throw TransportError(describe() + ": cannot copy '" + source.string() + "' to '" +
                           target.string() + "': " + error.message());
    }
  }

  CommandResult run(const std::vector<std::string>& argv, double timeout_s) override {
    if (argv.empty()) throw std::invalid_argument(describe() + ": run() needs a command");
    try {
      return run_subprocess(argv, timeout_s);
    } catch (const SubprocessStartError& error) {
      throw TransportError(describe() + ": " + error.what());
    }
  }
};

}  // namespace

std::unique_ptr<Transport> make_local_transport(const DeviceConfig&) {
  return std::make_unique<LocalTransport>();
}

}  // namespace ubp::device

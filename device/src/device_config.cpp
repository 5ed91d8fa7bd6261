#include "ubp/device/device_config.h"

#include <pwd.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include "ubp/support/read_file.h"
#include "ubp/support/text.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>

namespace ubp::device {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxDeviceFileBytes = 1 << 20;
constexpr size_t kMaxValueBytes = 1024;

const char* const kNameCharacters =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

bool is_plain_name(const std::string& text) {
  return !text.empty() && text.find_first_not_of(kNameCharacters) == std::string::npos;
}

std::string home_directory() {
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return home;
  const passwd* entry = getpwuid(getuid());
  return entry != nullptr && entry->pw_dir != nullptr ? entry->pw_dir : "";
}

std::string expand_home(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) return home_directory() + path.substr(1);
  return path;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads one device file, reporting every problem as "file:line:column: key 'k': ...".
class DeviceFileReader {
 public:
  explicit DeviceFileReader(std::string file) : file_(std::move(file)) {}

  DeviceConfig read() {
    YAML::Node root;
    {
      std::string text;
      try {
        // A device file is a dozen lines; the cap keeps /dev/zero or a huge file from being read.
        text = support::read_file_bounded(file_, kMaxDeviceFileBytes, "device file");
      } catch (const support::FileError& error) {
        throw DeviceConfigError(std::string("cannot read the device file: ") + error.what());
      }
      try {
        root = YAML::Load(text);
      } catch (const YAML::ParserException& error) {
        fail(error.mark, "", "not valid YAML: " + support::excerpt(error.msg, 200));
      }
    }
    if (!root.IsMap()) {
      fail(root.Mark(), "", "a device file is a mapping of keys (kind: local | ssh | adb, ...)");
    }
    std::map<std::string, YAML::Node> values;
    std::map<std::string, YAML::Mark> key_marks;
    for (const auto& entry : root) {
      if (!entry.first.IsScalar()) fail(entry.first.Mark(), "", "keys must be plain words");
      const std::string key = entry.first.Scalar();
      if (!known_key(key)) {
        fail(entry.first.Mark(), key, "unknown key (accepted: " + accepted_keys() + ")");
      }
      if (!values.emplace(key, entry.second).second) {
        fail(entry.first.Mark(), key, "given twice");
      }
      key_marks.emplace(key, entry.first.Mark());
    }

    DeviceConfig config;
    config.source = file_;
    if (values.count("kind") == 0) {
      fail(root.Mark(), "kind", "required (accepted: local, ssh, adb)");
    }
    config.kind = string_value(values["kind"], "kind");
    if (config.kind != "local" && config.kind != "ssh" && config.kind != "adb") {
      fail(values["kind"].Mark(), "kind", "'" + config.kind + "' is not a device kind (accepted: "
                                          "local, ssh, adb)");
    }
    for (const auto& [key, node] : values) {
      const std::string& kinds = key_kinds().at(key);
      if (kinds != "all" && kinds != config.kind && !(kinds == "ssh,adb" && config.kind != "local")) {
        fail(key_marks[key], key, "does not apply to kind " + config.kind + " (only to " +
                                      kinds + ")");
      }
    }

    config.name = fs::path(file_).stem().string();
    if (values.count("name")) config.name = string_value(values["name"], "name");
    if (!is_plain_name(config.name)) {
      fail(values.count("name") ? values["name"].Mark() : root.Mark(), "name",
           "'" + config.name + "' is not a device name (accepted: letters, digits, '.', '_', '-')");
    }

    config.arch = config.kind == "adb" ? "aarch64" : "host";
    if (values.count("arch")) {
      config.arch = string_value(values["arch"], "arch");
      if (config.arch != "host" && config.arch != "aarch64") {
        fail(values["arch"].Mark(), "arch", "'" + config.arch +
                                                "' is not an architecture (accepted: host, "
                                                "aarch64)");
      }
    }
    if (values.count("runner")) config.runner = expand_home(string_value(values["runner"], "runner"));

    // ssh: "" = the per-user /tmp/ubp-<uid> the transport resolves and checks on the board.
    if (config.kind == "adb") config.remote_dir = "/data/local/tmp/ubp";
    if (values.count("remote_dir")) {
      config.remote_dir = string_value(values["remote_dir"], "remote_dir");
      while (config.remote_dir.size() > 1 && config.remote_dir.back() == '/') {
        config.remote_dir.pop_back();
      }
      const bool usable = config.remote_dir.size() > 1 && config.remote_dir[0] == '/' &&
                          config.remote_dir.find_first_not_of(std::string(kNameCharacters) +
                                                              "/+") == std::string::npos;
      if (!usable) {
        fail(values["remote_dir"].Mark(), "remote_dir",
             "'" + config.remote_dir + "' is not usable (accepted: an absolute path other than "
                                       "/ of letters, digits, '.', '_', '-', '+', '/')");
      }
    }

    if (values.count("cpu_mask")) {
      const YAML::Node& node = values["cpu_mask"];
      std::string digits = string_value(node, "cpu_mask");
      if (digits.rfind("0x", 0) == 0 || digits.rfind("0X", 0) == 0) digits = digits.substr(2);
      const bool hex = !digits.empty() && digits.size() <= 256 &&
                       digits.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos &&
                       digits.find_first_not_of('0') != std::string::npos;
      if (!hex) {
        fail(node.Mark(), "cpu_mask", "'" + node.Scalar() + "' is not a CPU mask (accepted: a "
                                      "non-zero hexadecimal mask, bit i = CPU i, e.g. 0xf0)");
      }
      std::transform(digits.begin(), digits.end(), digits.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      config.cpu_mask = "0x" + digits.substr(std::min(digits.find_first_not_of('0'),
                                                      digits.size() - 1));
    }
    if (values.count("retries")) {
      config.retries = static_cast<int>(integer_value(values["retries"], "retries", 0, 100));
    }
    if (values.count("retry_delay_s")) {
      config.retry_delay_s =
          number_value(values["retry_delay_s"], "retry_delay_s", 0, 3600, "0 to 3600");
    }
    if (values.count("lock_timeout_s")) {
      config.lock_timeout_s = number_value(values["lock_timeout_s"], "lock_timeout_s", 0, 7 * 86400.0,
                                           "0 to 604800 (a week)");
    }
    if (values.count("timeout_s")) {
      config.timeout_s = number_value(values["timeout_s"], "timeout_s", 1e-3, 7 * 86400.0,
                                      "more than 0, at most 604800 (a week)");
    }

    if (config.kind == "ssh") {
      if (values.count("host") == 0) {
        fail(root.Mark(), "host", "required for kind ssh (a host name or address)");
      }
      config.host = string_value(values["host"], "host");
      const bool host_ok = !config.host.empty() && config.host[0] != '-' &&
                           config.host.find_first_of(" \t\n'\"@/") == std::string::npos;
      if (!host_ok) {
        fail(values["host"].Mark(), "host", "'" + config.host + "' is not a host name (accepted: "
                                            "a name or address; put the user in 'user')");
      }
      if (values.count("port")) {
        config.port = static_cast<int>(integer_value(values["port"], "port", 1, 65535));
      }
      if (values.count("user")) {
        config.user = string_value(values["user"], "user");
        if (config.user.empty() || config.user[0] == '-' ||
            config.user.find_first_of(" \t\n'\"@:/") != std::string::npos) {
          fail(values["user"].Mark(), "user", "'" + config.user + "' is not a user name");
        }
      }
      if (values.count("key")) config.key = expand_home(string_value(values["key"], "key"));
      if (values.count("ssh_options")) {
        const YAML::Node& list = values["ssh_options"];
        if (!list.IsSequence()) {
          fail(list.Mark(), "ssh_options", "must be a list of Option=value strings");
        }
        for (const auto& item : list) {
          const std::string option = string_value(item, "ssh_options");
          const size_t equals = option.find('=');
          if (equals == 0 || equals == std::string::npos || option[0] == '-') {
            fail(item.Mark(), "ssh_options", "'" + option + "' is not an ssh option (accepted: "
                                             "Option=value, as for ssh -o)");
          }
          config.ssh_options.push_back(option);
        }
      }
    }
    if (config.kind == "adb" && values.count("serial")) {
      config.serial = string_value(values["serial"], "serial");
      if (config.serial.empty() || config.serial[0] == '-' ||
          config.serial.find_first_of(" \t\n'\"") != std::string::npos) {
        fail(values["serial"].Mark(), "serial",
             "'" + config.serial + "' is not a serial (see `adb devices`)");
      }
    }
    return config;
  }

 private:
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& key,
                         const std::string& problem) const {
    std::ostringstream message;
    message << file_;
    if (!mark.is_null()) message << ":" << mark.line + 1 << ":" << mark.column + 1;
    message << ": ";
    if (!key.empty()) message << "key '" << key << "': ";
    message << problem;
    throw DeviceConfigError(message.str());
  }

  // Which kinds a key applies to: "all", "ssh", "adb" or "ssh,adb".
  static const std::map<std::string, std::string>& key_kinds() {
    static const std::map<std::string, std::string> kinds = {
        {"name", "all"},        {"kind", "all"},       {"arch", "all"},
        {"runner", "all"},      {"cpu_mask", "all"},   {"retries", "all"},
        {"retry_delay_s", "all"}, {"timeout_s", "all"}, {"lock_timeout_s", "all"},
        {"remote_dir", "ssh,adb"},
        {"host", "ssh"},        {"port", "ssh"},       {"user", "ssh"},
        {"key", "ssh"},         {"ssh_options", "ssh"}, {"serial", "adb"}};
    return kinds;
  }
  static bool known_key(const std::string& key) { return key_kinds().count(key) != 0; }
  static std::string accepted_keys() {
    std::string text;
    for (const auto& [key, kinds] : key_kinds()) text += (text.empty() ? "" : ", ") + key;
    return text;
  }

  // Every value ends up in argv, paths or messages: one short line of text.
  std::string string_value(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node.Mark(), key, "must be a single value, not a list or mapping");
    const std::string& text = node.Scalar();
    if (text.size() > kMaxValueBytes || support::has_control_characters(text)) {
      fail(node.Mark(), key, "'" + support::excerpt(text, 60) + "' is not accepted (values are one line of at most " +
                                 std::to_string(kMaxValueBytes) + " characters without control characters)");
    }
    return text;
  }

  int64_t integer_value(const YAML::Node& node, const std::string& key, int64_t low,
                        int64_t high) const {
    const std::string text = string_value(node, key);
    const std::string accepted =
        " (accepted: an integer from " + std::to_string(low) + " to " + std::to_string(high) + ")";
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0) {
      fail(node.Mark(), key, "'" + text + "' is not an integer" + accepted);
    }
    if (value < low || value > high) fail(node.Mark(), key, "'" + text + "' is out of range" + accepted);
    return value;
  }

  double number_value(const YAML::Node& node, const std::string& key, double low, double high,
                      const std::string& range) const {
    const std::string text = string_value(node, key);
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(value)) {
      fail(node.Mark(), key, "'" + text + "' is not a number (accepted: " + range + ")");
    }
    if (value < low || value > high) {
      fail(node.Mark(), key, "'" + text + "' is out of range (accepted: " + range + ")");
    }
    return value;
  }

  std::string file_;
};

std::string known_devices(const std::string& devices_dir) {
  std::vector<std::string> names = {"local"};
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(devices_dir, error)) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

std::string local_user_name() {
  const passwd* entry = getpwuid(getuid());
  if (entry != nullptr && entry->pw_name != nullptr) return entry->pw_name;
  const char* user = std::getenv("USER");
  return user != nullptr ? user : "unknown";
}

}  // namespace

DeviceConfig builtin_local_device() {
  DeviceConfig config;
  config.name = "local";
  config.kind = "local";
  config.arch = "host";
  return config;
}

DeviceConfig load_device_config(const std::string& spec, const std::string& devices_dir) {
  if (spec.empty()) {
    throw DeviceConfigError("empty device (accepted: local, a name from " + devices_dir +
                            ", or a path to a device YAML file)");
  }
  const bool is_path = spec.find('/') != std::string::npos || ends_with(spec, ".yaml") ||
                       ends_with(spec, ".yml");
  std::error_code error;
  if (is_path) {
    const std::string file = expand_home(spec);
    if (!fs::exists(file, error)) throw DeviceConfigError("device file '" + file + "' does not exist");
    return DeviceFileReader(file).read();  // refuses anything but a small regular file
  }
  if (!is_plain_name(spec)) {
    throw DeviceConfigError("'" + spec + "' is not a device name (accepted: letters, digits, "
                            "'.', '_', '-'; or a path to a YAML file)");
  }
  const std::string file = (fs::path(devices_dir) / (spec + ".yaml")).string();
  if (fs::is_regular_file(file, error)) return DeviceFileReader(file).read();
  if (spec == "local") return builtin_local_device();
  throw DeviceConfigError("unknown device '" + spec + "': no file " + file +
                          " (known devices: " + known_devices(devices_dir) +
                          "; or give a path to a device YAML file)");
}

std::string resolve_runner(const DeviceConfig& config, const std::string& bin_dir) {
  const std::string from = config.source.empty() ? "the built-in device" : config.source;
  if (!config.runner.empty()) {
    if (access(config.runner.c_str(), X_OK) != 0 || fs::is_directory(config.runner)) {
      throw DeviceConfigError(from + ": key 'runner': '" + config.runner +
                              "' is not an executable file");
    }
    return config.runner;
  }
  const bool aarch64 = config.arch == "aarch64";
  const fs::path runner = aarch64 ? fs::path(bin_dir) / ".." / "aarch64" / "bin" / "ubp-devbench"
                                  : fs::path(bin_dir) / "ubp-devbench";
  const std::string path = runner.lexically_normal().string();
  if (access(path.c_str(), X_OK) != 0) {
    throw DeviceConfigError(
        "device '" + config.name + "' (" + config.arch + "): no runner at " + path +
        "; build it with `cmake --build build --target " +
        (aarch64 ? "ubp-devbench-aarch64" : "ubp-devbench") +
        "` or set 'runner' in the device file");
  }
  return path;
}

std::string device_lock_key(const DeviceConfig& config) {
  if (config.kind == "ssh") {
    std::string host = config.host;
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string user = config.user.empty() ? local_user_name() : config.user;
    return "ssh-" + user + "@" + host + ":" + std::to_string(config.port);
  }
  if (config.kind == "adb") return "adb-" + (config.serial.empty() ? "default" : config.serial);
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) std::snprintf(name, sizeof name, "localhost");
  return "local-" + std::string(name);
}

}  // namespace ubp::device

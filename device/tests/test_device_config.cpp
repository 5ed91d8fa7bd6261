// Device files: the shipped examples load, defaults apply, and every mistake is reported with
// the file, line, key and what would be accepted.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <initializer_list>

#include "support/temp_dir.h"
#include "ubp/device/device_config.h"

namespace ubp::device {
namespace {

using testing::TempDir;

// Runs `load`, which must throw DeviceConfigError whose message holds every fragment.
void expect_config_error(const std::function<void()>& load,
                         std::initializer_list<std::string> fragments) {
  try {
    load();
    ADD_FAILURE() << "no DeviceConfigError";
  } catch (const DeviceConfigError& error) {
    const std::string message = error.what();
    for (const auto& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "'" << fragment << "' missing from: " << message;
    }
  }
}

TEST(DeviceConfig, ShippedExamplesLoad) {
  const DeviceConfig local = load_device_config("local", UBP_DEVICES_DIR);
  EXPECT_EQ(local.kind, "local");
  EXPECT_EQ(local.name, "local");
  EXPECT_EQ(local.arch, "host");

  const DeviceConfig board = load_device_config("rpi4", UBP_DEVICES_DIR);
  EXPECT_EQ(board.kind, "ssh");
  EXPECT_EQ(board.name, "rpi4");
  EXPECT_EQ(board.arch, "aarch64");
  EXPECT_FALSE(board.host.empty());
  EXPECT_EQ(board.remote_dir, "");  // the per-user default, /tmp/ubp-<uid>, chosen when connecting
  EXPECT_EQ(board.source, std::string(UBP_DEVICES_DIR) + "/rpi4.yaml");

  const DeviceConfig phone = load_device_config("pixel", UBP_DEVICES_DIR);
  EXPECT_EQ(phone.kind, "adb");
  EXPECT_EQ(phone.arch, "aarch64");
  EXPECT_EQ(phone.remote_dir, "/data/local/tmp/ubp");
  EXPECT_FALSE(phone.cpu_mask.empty());
  EXPECT_EQ(phone.cpu_mask.rfind("0x", 0), 0u);
}

TEST(DeviceConfig, LocalIsBuiltInUnlessAFileSaysOtherwise) {
  TempDir dir;
  const DeviceConfig builtin = load_device_config("local", dir.path().string());
  EXPECT_EQ(builtin.kind, "local");
  EXPECT_EQ(builtin.source, "");
  EXPECT_EQ(builtin.retries, 2);

  dir.write("local.yaml", "kind: local\nretries: 5\ncpu_mask: 0x3\n");
  const DeviceConfig from_file = load_device_config("local", dir.path().string());
  EXPECT_EQ(from_file.retries, 5);
  EXPECT_EQ(from_file.cpu_mask, "0x3");
  EXPECT_EQ(from_file.source, dir.file("local.yaml"));
}

TEST(DeviceConfig, DefaultsPerKind) {
  TempDir dir;
  dir.write("board.yaml", "kind: ssh\nhost: board.lan\n");
  dir.write("phone.yaml", "kind: adb\n");
  const DeviceConfig board = load_device_config("board", dir.path().string());
  EXPECT_EQ(board.name, "board");
  EXPECT_EQ(board.port, 22);
  EXPECT_EQ(board.arch, "host");
  EXPECT_EQ(board.remote_dir, "") << "the per-user directory the transport resolves on the board";
  EXPECT_EQ(board.user, "");
  EXPECT_DOUBLE_EQ(board.timeout_s, 900);
  EXPECT_DOUBLE_EQ(board.lock_timeout_s, 3600);
  EXPECT_DOUBLE_EQ(board.retry_delay_s, 2.0);

  const DeviceConfig phone = load_device_config("phone", dir.path().string());
  EXPECT_EQ(phone.arch, "aarch64");
  EXPECT_EQ(phone.remote_dir, "/data/local/tmp/ubp");
  EXPECT_EQ(phone.serial, "");
}

TEST(DeviceConfig, EveryKeyIsRead) {
  TempDir dir;
  const std::string file = dir.write("custom.yaml",
                                     "name: bench-board\n"
                                     "kind: ssh\n"
                                     "arch: aarch64\n"
                                     "runner: ~/bin/ubp-devbench\n"
                                     "remote_dir: /home/pi/ubp/\n"
                                     "cpu_mask: 00F0\n"
                                     "retries: 0\n"
                                     "retry_delay_s: 0.5\n"
                                     "timeout_s: 60\n"
                                     "lock_timeout_s: 120\n"
                                     "host: 10.0.0.7\n"
                                     "port: 2222\n"
                                     "user: pi\n"
                                     "key: ~/.ssh/board\n"
                                     "ssh_options: [StrictHostKeyChecking=accept-new, "
                                     "Compression=no]\n");
  const char* old_home = std::getenv("HOME");
  const std::string saved_home = old_home != nullptr ? old_home : "";
  setenv("HOME", "/home/tester", 1);
  const DeviceConfig config = load_device_config(file, "/nonexistent");
  setenv("HOME", saved_home.c_str(), 1);
  EXPECT_EQ(config.name, "bench-board");
  EXPECT_EQ(config.arch, "aarch64");
  EXPECT_EQ(config.runner, "/home/tester/bin/ubp-devbench");
  EXPECT_EQ(config.remote_dir, "/home/pi/ubp");
  EXPECT_EQ(config.cpu_mask, "0xf0");
  EXPECT_EQ(config.retries, 0);
  EXPECT_DOUBLE_EQ(config.retry_delay_s, 0.5);
  EXPECT_DOUBLE_EQ(config.timeout_s, 60);
  EXPECT_DOUBLE_EQ(config.lock_timeout_s, 120);
  EXPECT_EQ(config.host, "10.0.0.7");
  EXPECT_EQ(config.port, 2222);
  EXPECT_EQ(config.user, "pi");
  EXPECT_EQ(config.key, "/home/tester/.ssh/board");
  EXPECT_EQ(config.ssh_options,
            (std::vector<std::string>{"StrictHostKeyChecking=accept-new", "Compression=no"}));
  EXPECT_EQ(config.source, file);
}

TEST(DeviceConfig, MistakesNameFileLineKeyAndAcceptedValues) {
  TempDir dir;
  const std::string devices = dir.path().string();
  const auto load = [&](const std::string& name, const std::string& text) {
    dir.write(name + ".yaml", text);
    return [devices, name] { load_device_config(name, devices); };
  };
  expect_config_error(load("typo", "kind: ssh\nhost: b\nprot: 22\n"),
                      {"typo.yaml:3:1", "key 'prot'", "unknown key", "port", "ssh_options"});
  expect_config_error(load("nokind", "host: b\n"), {"nokind.yaml", "key 'kind'", "local, ssh, adb"});
  expect_config_error(load("badkind", "kind: telnet\n"),
                      {"badkind.yaml:1:7", "'telnet'", "local, ssh, adb"});
  expect_config_error(load("nohost", "kind: ssh\nuser: pi\n"),
                      {"nohost.yaml", "key 'host'", "required for kind ssh"});
  expect_config_error(load("badport", "kind: ssh\nhost: b\nport: twenty\n"),
                      {"badport.yaml:3:7", "key 'port'", "'twenty'", "from 1 to 65535"});
  expect_config_error(load("bigport", "kind: ssh\nhost: b\nport: 70000\n"),
                      {"bigport.yaml:3", "out of range", "from 1 to 65535"});
  expect_config_error(load("wrongkind", "kind: ssh\nhost: b\nserial: X1\n"),
                      {"wrongkind.yaml:3:1", "key 'serial'", "does not apply to kind ssh", "adb"});
  expect_config_error(load("localdir", "kind: local\nremote_dir: /tmp/x\n"),
                      {"localdir.yaml:2", "key 'remote_dir'", "kind local"});
  expect_config_error(load("badmask", "kind: adb\ncpu_mask: 0xfg\n"),
                      {"badmask.yaml:2:11", "key 'cpu_mask'", "'0xfg'", "hexadecimal"});
  expect_config_error(load("zeromask", "kind: adb\ncpu_mask: 0\n"), {"key 'cpu_mask'", "non-zero"});
  expect_config_error(load("optstring", "kind: ssh\nhost: b\nssh_options: Compression=no\n"),
                      {"optstring.yaml:3", "key 'ssh_options'", "list"});
  expect_config_error(load("optbad", "kind: ssh\nhost: b\nssh_options: [-v]\n"),
                      {"optbad.yaml:3", "'-v'", "Option=value"});
  expect_config_error(load("listkind", "kind: [ssh]\n"),
                      {"listkind.yaml:1", "key 'kind'", "single value"});
  expect_config_error(load("twice", "kind: adb\nserial: A\nserial: B\n"),
                      {"twice.yaml:3:1", "key 'serial'", "given twice"});
  expect_config_error(load("timeout", "kind: adb\ntimeout_s: -5\n"),
                      {"timeout.yaml:2", "key 'timeout_s'", "more than 0"});
  expect_config_error(load("retries", "kind: adb\nretries: 1.5\n"),
                      {"retries.yaml:2", "key 'retries'", "integer from 0 to 100"});
  expect_config_error(load("relative", "kind: adb\nremote_dir: tmp/ubp\n"),
                      {"relative.yaml:2", "key 'remote_dir'", "absolute path"});
  expect_config_error(load("userhost", "kind: ssh\nhost: pi@board\n"),
                      {"userhost.yaml:2", "key 'host'", "'user'"});
  expect_config_error(load("arch", "kind: adb\narch: arm64\n"),
                      {"arch.yaml:2", "'arm64'", "host, aarch64"});
  expect_config_error(load("syntax", "kind: ssh\nhost: [b\n"), {"syntax.yaml:", "not valid YAML"});
  expect_config_error(load("list", "- kind: ssh\n"), {"list.yaml:1", "mapping"});
  expect_config_error(load("locktimeout", "kind: adb\nlock_timeout_s: forever\n"),
                      {"locktimeout.yaml:2", "key 'lock_timeout_s'", "0 to 604800"});
  expect_config_error(load("controls", "kind: ssh\nhost: \"board\\nProxyCommand=x\"\n"),
                      {"controls.yaml:2", "key 'host'", "board\\nProxyCommand=x", "without control characters"});
  expect_config_error(load("longvalue", "kind: ssh\nhost: " + std::string(100000, 'h') + "\n"),
                      {"longvalue.yaml:2", "key 'host'", "(100000 bytes)", "at most 1024"});
}

// A device "file" that is a device (or a FIFO) is refused without reading it; one that is too
// large is refused by its size.
TEST(DeviceConfig, ADeviceFileThatIsNotASmallRegularFileIsRefused) {
  TempDir dir;
  expect_config_error([&] { load_device_config("/dev/zero", dir.path().string()); },
                      {"/dev/zero", "character device"});
  const std::string big = dir.write("big.yaml", "kind: local\n# " + std::string(2 << 20, 'x') + "\n");
  expect_config_error([&] { load_device_config(big, dir.path().string()); }, {"big.yaml", "more than the 1.0 MiB"});
}

TEST(DeviceConfig, UnknownDeviceListsTheKnownOnes) {
  TempDir dir;
  dir.write("pixel7.yaml", "kind: adb\n");
  dir.write("rpi.yaml", "kind: ssh\nhost: rpi\n");
  expect_config_error([&] { load_device_config("pixle7", dir.path().string()); },
                      {"unknown device 'pixle7'", "pixle7.yaml", "local, pixel7, rpi"});
  expect_config_error([&] { load_device_config("../etc", dir.path().string()); },
                      {"does not exist"});
  expect_config_error([&] { load_device_config("a b", dir.path().string()); },
                      {"'a b' is not a device name"});
  expect_config_error([&] { load_device_config(dir.file("missing.yaml"), ""); },
                      {"missing.yaml", "does not exist"});
}

TEST(DeviceConfig, ResolveRunnerSaysHowToBuildIt) {
  TempDir dir;
  const std::string bin = dir.file("build/bin");
  DeviceConfig host = builtin_local_device();
  expect_config_error([&] { resolve_runner(host, bin); },
                      {bin + "/ubp-devbench", "cmake --build build --target ubp-devbench`"});
  DeviceConfig phone;
  phone.name = "phone";
  phone.kind = "adb";
  phone.arch = "aarch64";
  expect_config_error([&] { resolve_runner(phone, bin); },
                      {dir.file("build/aarch64/bin/ubp-devbench"),
                       "--target ubp-devbench-aarch64"});

  const std::string host_runner = dir.write("build/bin/ubp-devbench", "#!/bin/sh\n");
  const std::string cross_runner = dir.write("build/aarch64/bin/ubp-devbench", "binary");
  // Present but not executable is as good as missing.
  expect_config_error([&] { resolve_runner(host, bin); }, {"no runner"});
  chmod(host_runner.c_str(), 0755);
  chmod(cross_runner.c_str(), 0755);
  EXPECT_EQ(resolve_runner(host, bin), host_runner);
  EXPECT_EQ(resolve_runner(phone, bin), cross_runner);

  phone.runner = dir.file("elsewhere/ubp-devbench");
  phone.source = "phone.yaml";
  expect_config_error([&] { resolve_runner(phone, bin); },
                      {"phone.yaml", "key 'runner'", phone.runner});
  phone.runner = host_runner;
  EXPECT_EQ(resolve_runner(phone, bin), host_runner);
}

TEST(DeviceConfig, LockKeysIdentifyThePhysicalDevice) {
  char host_name[256] = {};
  ASSERT_EQ(gethostname(host_name, sizeof host_name - 1), 0);
  EXPECT_EQ(device_lock_key(builtin_local_device()), "local-" + std::string(host_name));

  DeviceConfig board;
  board.kind = "ssh";
  board.host = "Board.LAN";
  board.user = "pi";
  board.port = 2222;
  EXPECT_EQ(device_lock_key(board), "ssh-pi@board.lan:2222");
  board.user = "";
  const std::string without_user = device_lock_key(board);
  EXPECT_EQ(without_user.rfind("ssh-", 0), 0u);
  EXPECT_NE(without_user.find("@board.lan:2222"), std::string::npos);
  EXPECT_GT(without_user.find('@'), 4u) << "the local user name stands in: " << without_user;

  DeviceConfig phone;
  phone.kind = "adb";
  phone.serial = "28121FDH2000QX";
  EXPECT_EQ(device_lock_key(phone), "adb-28121FDH2000QX");
  phone.serial = "";
  EXPECT_EQ(device_lock_key(phone), "adb-default");
}

}  // namespace
}  // namespace ubp::device

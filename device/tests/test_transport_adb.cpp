// The adb transport against tests/fake_adb, a stand-in `adb` put first on PATH (no phone is
// attached here). The stand-in maps the phone's /data to a temporary directory, so the tests can
// look at what reached the "phone".
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "host_test_util.h"
#include "support/temp_dir.h"
#include "ubp/device/transport.h"

namespace ubp::device {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing_util::ScopedEnv;
using testing_util::expect_transport_error;
using testing_util::seconds_since;
using Clock = std::chrono::steady_clock;

const char* const kSerial = "FAKE0001";
const char* const kRemoteDir = "/data/local/tmp/ubp";

class AdbTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("bin"));
    fs::create_directories(phone_root_);
    fs::create_symlink(UBP_FAKE_ADB, dir_.file("bin/adb"));
    const char* path = std::getenv("PATH");
    path_ = std::make_unique<ScopedEnv>("PATH", dir_.file("bin") + ":" + (path ? path : ""));
    root_ = std::make_unique<ScopedEnv>("FAKE_ADB_ROOT", phone_root_);
    serial_ = std::make_unique<ScopedEnv>("FAKE_ADB_SERIAL", kSerial);
    log_ = std::make_unique<ScopedEnv>("FAKE_ADB_LOG", dir_.file("adb.log"));
    transport_ = make_transport(device(kSerial));
  }

  static DeviceConfig device(const std::string& serial) {
    DeviceConfig config;
    config.name = "phone";
    config.kind = "adb";
    config.arch = "aarch64";
    config.serial = serial;
    config.remote_dir = kRemoteDir;
    return config;
  }

  // The host path that stands for a path on the phone.
  std::string on_phone(const std::string& path) const { return phone_root_ + path; }

  TempDir dir_;
  const std::string phone_root_ = dir_.file("phone");
  std::unique_ptr<ScopedEnv> path_, root_, serial_, log_;
  std::unique_ptr<Transport> transport_;
};

TEST_F(AdbTransportTest, ConnectChecksTheDeviceAndCreatesTheDirectory) {
  EXPECT_EQ(transport_->describe(), std::string("adb ") + kSerial + ":" + kRemoteDir);
  ASSERT_FALSE(fs::exists(on_phone(kRemoteDir)));
  transport_->connect();
  EXPECT_TRUE(fs::is_directory(on_phone(kRemoteDir)));
  const std::string calls = testing::read_bytes(dir_.file("adb.log"));
  EXPECT_EQ(calls.rfind(std::string("-s ") + kSerial + " get-state\n", 0), 0u) << calls;
  EXPECT_NE(calls.find(std::string("-s ") + kSerial + " shell mkdir -p"), std::string::npos)
      << calls;
}

TEST_F(AdbTransportTest, PushKeepsTheExecutableBitAndRunsInTheRemoteDirectory) {
  transport_->connect();
  const std::string runner =
      dir_.write("local/fake-runner", "#!/bin/sh\nprintf '[%s]' \"$@\"; pwd; echo done >&2\n");
  chmod(runner.c_str(), 0755);
  const std::string model = dir_.write("local/model.ubpm", std::string(100000, 'w'));
  chmod(model.c_str(), 0644);
  EXPECT_EQ(transport_->push(runner, "ubp-devbench"), std::string(kRemoteDir) + "/ubp-devbench");
  EXPECT_EQ(transport_->push(model, "model.ubpm"), std::string(kRemoteDir) + "/model.ubpm");
  EXPECT_TRUE(testing_util::is_executable(on_phone(kRemoteDir) + "/ubp-devbench"));
  EXPECT_FALSE(testing_util::is_executable(on_phone(kRemoteDir) + "/model.ubpm"));
  EXPECT_EQ(testing::read_bytes(on_phone(kRemoteDir) + "/model.ubpm"), std::string(100000, 'w'));

  const CommandResult result =
      transport_->run({"./ubp-devbench", "a b", "it's", "$HOME", "x;y", "*", ""}, 30);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "[a b][it's][$HOME][x;y][*][]" + on_phone(kRemoteDir) + "\n");
  EXPECT_EQ(result.err, "done\n");
}

TEST_F(AdbTransportTest, RunReportsExitCodeSignalAndTimeout) {
  transport_->connect();
  CommandResult result = transport_->run({"sh", "-c", "echo out; echo err >&2; exit 4"}, 30);
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_EQ(result.out, "out\n");
  EXPECT_EQ(result.err, "err\n");

  result = transport_->run({"sh", "-c", "kill -SEGV $$"}, 30);
  EXPECT_EQ(result.signal, SIGSEGV);
  EXPECT_EQ(result.exit_code, -1);

  const long remote_pid = testing_util::run_sleeper_into_its_timeout(*transport_, on_phone(kRemoteDir));
  ASSERT_GT(remote_pid, 0);
  EXPECT_TRUE(testing_util::wait_until_gone(remote_pid, 5))
      << "the process on the phone outlived the timeout";
  EXPECT_NE(testing::read_bytes(dir_.file("adb.log")).find(".cancel; if [ -s "), std::string::npos)
      << "the cancel script ran on the phone";
}

TEST_F(AdbTransportTest, PullFetchesAFileTheRunWrote) {
  transport_->connect();
  ASSERT_EQ(transport_->run({"sh", "-c", "printf result > out.bin"}, 30).exit_code, 0);
  transport_->pull("out.bin", dir_.file("fetched.bin"));
  EXPECT_EQ(testing::read_bytes(dir_.file("fetched.bin")), "result");
  expect_transport_error([&] { transport_->pull("absent.bin", dir_.file("x")); },
                         {"adb pull", "absent.bin"});
}

TEST_F(AdbTransportTest, AnUnusableDeviceIsATransportError) {
  transport_->connect();
  const std::string file = dir_.write("local/f", "x");
  for (const auto& [state, message] : std::vector<std::pair<std::string, std::string>>{
           {"offline", "device offline"},
           {"unauthorized", "device unauthorized"},
           {"none", "not found"}}) {
    SCOPED_TRACE(state);
    ScopedEnv unusable("FAKE_ADB_STATE", state);
    expect_transport_error([&] { transport_->connect(); }, {"not available", message});
    expect_transport_error([&] { transport_->push(file, "f"); }, {"adb push", message});
    expect_transport_error([&] { transport_->run({"true"}, 30); }, {"did not finish", message});
  }
  expect_transport_error([&] { make_transport(device("OTHER42"))->connect(); },
                         {"OTHER42", "not found"});
}

TEST_F(AdbTransportTest, ADroppedConnectionIsATransportError) {
  transport_->connect();
  ScopedEnv drop("FAKE_ADB_DROP_AFTER", "0.3");
  const auto start = Clock::now();
  expect_transport_error([&] { transport_->run({"sleep", "2"}, 30); },
                         {"did not finish", "error: closed"});
  EXPECT_LT(seconds_since(start), testing_util::scaled_seconds(10.0));
}

TEST_F(AdbTransportTest, WithoutASerialAdbChoosesTheDevice) {
  auto any = make_transport(device(""));
  any->connect();
  EXPECT_EQ(any->run({"true"}, 30).exit_code, 0);
  const std::string calls = testing::read_bytes(dir_.file("adb.log"));
  EXPECT_EQ(calls.find("-s "), std::string::npos) << calls;
}

}  // namespace
}  // namespace ubp::device

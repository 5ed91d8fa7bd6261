// The device lock with real processes: a second process waits for the first, learns who holds
// the device, gives up at its time limit, and a killed holder never blocks anyone.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>

#include "host_test_util.h"
#include "support/temp_dir.h"
#include "ubp/device/device_lock.h"

namespace ubp::device {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Every test locks inside its own directory, so parallel test runs never meet.
class DeviceLockTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("UBP_LOCK_DIR", dir_.path().c_str(), 1); }
  void TearDown() override { unsetenv("UBP_LOCK_DIR"); }
  TempDir dir_;
};

// A child process that takes the lock, says so, and holds it until told to release it.
class LockHolder {
 public:
  explicit LockHolder(const std::string& key) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      close(to_child[1]);
      close(from_child[0]);
      {
        DeviceLock lock(key, -1, nullptr);
        char byte = 'L';
        if (write(from_child[1], &byte, 1) != 1) _exit(3);
        if (read(to_child[0], &byte, 1) != 1) _exit(4);  // wait for "release"
        byte = 'R';
        if (write(from_child[1], &byte, 1) != 1) _exit(5);  // "releasing now"
      }
      _exit(0);
    }
    close(to_child[0]);
    close(from_child[1]);
    command_ = to_child[1];
    report_ = from_child[0];
    char byte = 0;
    if (read(report_, &byte, 1) != 1 || byte != 'L') throw std::runtime_error("holder failed");
  }
  ~LockHolder() {
    close(command_);
    close(report_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  void release() {
    const char byte = 'U';
    if (write(command_, &byte, 1) != 1) throw std::runtime_error("holder gone");
  }
  // True once the holder has said it is releasing (non-blocking).
  bool said_releasing() {
    pollfd ready{report_, POLLIN, 0};
    char byte = 0;
    return poll(&ready, 1, 0) == 1 && read(report_, &byte, 1) == 1 && byte == 'R';
  }
  int wait_exit() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void kill_hard() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int command_ = -1, report_ = -1;
};

TEST_F(DeviceLockTest, SecondProcessWaitsUntilTheFirstReleases) {
  LockHolder holder("adb-SERIAL1");
  int waits = 0;
  std::string seen_holder;
  bool holder_released_first = false;
  {
    DeviceLock lock("adb-SERIAL1", 20, [&](const std::string& text) {
      ++waits;
      seen_holder = text;
      holder.release();  // let it go only now that we are known to be waiting
    });
    holder_released_first = holder.said_releasing();
    EXPECT_EQ(testing::read_bytes(lock.path()).rfind(std::to_string(getpid()) + " ", 0), 0u)
        << "the new holder writes its pid first";
  }
  EXPECT_EQ(waits, 1);
  EXPECT_TRUE(holder_released_first) << "took the lock before the holder let go";
  EXPECT_EQ(seen_holder.rfind(std::to_string(holder.pid()) + " ", 0), 0u) << seen_holder;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_NE(seen_holder.find(std::string(" ") + host + " "), std::string::npos) << seen_holder;
  EXPECT_NE(seen_holder.find('T'), std::string::npos) << "an ISO start time: " << seen_holder;
  EXPECT_EQ(holder.wait_exit(), 0);
}

TEST_F(DeviceLockTest, TimeoutThrowsNamingTheHolder) {
  LockHolder holder("ssh-pi@board:22");
  const auto start = Clock::now();
  int waits = 0;
  try {
    DeviceLock lock("ssh-pi@board:22", 0.4, [&](const std::string&) { ++waits; });
    ADD_FAILURE() << "took a lock that another process holds";
  } catch (const DeviceLockError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("busy"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(holder.pid())), std::string::npos) << message;
    EXPECT_NE(message.find(dir_.path().string()), std::string::npos) << message;
  }
  EXPECT_EQ(waits, 1);
  EXPECT_GE(seconds_since(start), 0.4);
  EXPECT_LT(seconds_since(start), testing_util::scaled_seconds(5.0));
}

TEST_F(DeviceLockTest, AKilledHolderNeverBlocks) {
  LockHolder holder("local-host");
  holder.kill_hard();
  const auto start = Clock::now();
  int waits = 0;
  DeviceLock lock("local-host", 0, [&](const std::string&) { ++waits; });
  EXPECT_EQ(waits, 0);
  EXPECT_LT(seconds_since(start), testing_util::scaled_seconds(1.0));
}

TEST_F(DeviceLockTest, DifferentDevicesDoNotBlockEachOther) {
  LockHolder holder("adb-A");
  int waits = 0;
  DeviceLock lock("adb-B", 0, [&](const std::string&) { ++waits; });
  EXPECT_EQ(waits, 0);
  EXPECT_NE(lock.path(), device_lock_path("adb-A"));
}

TEST_F(DeviceLockTest, PathIsSanitisedInsideTheLockDirectory) {
  const std::string path = device_lock_path("ssh-pi@board.lan:22/../x");
  EXPECT_EQ(path, dir_.path().string() + "/ubp-device-ssh-pi_board.lan_22_.._x.lock");
  setenv("UBP_LOCK_DIR", dir_.file("missing").c_str(), 1);
  EXPECT_THROW(DeviceLock("adb-A", 0, nullptr), DeviceLockError);
}

// Without UBP_LOCK_DIR the locks live in a directory of this user's own, never in /tmp itself
// where another user could plant a link or a file of their own under the lock's name.
TEST_F(DeviceLockTest, WithoutALockDirectoryTheLocksLiveInAPrivateDirectory) {
  unsetenv("UBP_LOCK_DIR");
  setenv("XDG_RUNTIME_DIR", dir_.path().c_str(), 1);
  EXPECT_EQ(device_lock_path("adb-A"), dir_.file("ubp-locks") + "/ubp-device-adb-A.lock");
  EXPECT_EQ(fs::status(dir_.file("ubp-locks")).permissions() & fs::perms::all, fs::perms::owner_all);
  { DeviceLock lock("adb-A", 0, nullptr); }
  // A private directory others can write to is refused, not used.
  chmod(dir_.file("ubp-locks").c_str(), 0777);
  try {
    DeviceLock lock("adb-A", 0, nullptr);
    ADD_FAILURE() << "locked inside a directory everyone can write";
  } catch (const DeviceLockError& e) {
    EXPECT_NE(std::string(e.what()).find("writable by other users"), std::string::npos) << e.what();
  }
  unsetenv("XDG_RUNTIME_DIR");
}

TEST_F(DeviceLockTest, ALinkUnderTheLocksNameIsRefusedAndNothingIsTruncated) {
  const std::string victim = dir_.write("victim", "precious contents");
  fs::create_symlink(victim, device_lock_path("adb-LINK"));
  EXPECT_THROW(DeviceLock("adb-LINK", 0, nullptr), DeviceLockError);
  EXPECT_EQ(testing::read_bytes(victim), "precious contents");
  // A lock file holding more than a holder record keeps its length: written in place only.
  const std::string path = dir_.write("ubp-device-adb-LONG.lock", std::string(1000, 'x'));
  { DeviceLock lock("adb-LONG", 0, nullptr); }
  EXPECT_EQ(fs::file_size(path), 1000u);
}

}  // namespace
}  // namespace ubp::device

// Helpers shared by the transport tests.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include <gtest/gtest.h>

#include "ubp/device/transport.h"

namespace ubp::device::testing_util {

// How many times longer than on an idle machine the wall-clock bounds of these tests may take:
// on a loaded one (ctest -j next to other builds, the sanitizer job) every process start, ssh
// connection and kill waits for a core. The environment variable UBP_TEST_TIME_SCALE (a whole
// number from 1 to 100; ctest sets it from the CMake variable of the same name, which
// scripts/sanitize.sh sets to 4) stretches every bound below, and the ctest timeout of these
// tests with them (device/CMakeLists.txt).
inline double time_scale() {
  static const double scale = [] {
    const char* text = std::getenv("UBP_TEST_TIME_SCALE");
    if (text == nullptr || *text == '\0') return 1.0;
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > 100) {
      std::fprintf(stderr, "UBP_TEST_TIME_SCALE='%s': expected a whole number from 1 to 100\n", text);
      std::exit(2);
    }
    return static_cast<double>(value);
  }();
  return scale;
}

// A bound of `idle_seconds` on an idle machine, stretched by time_scale().
inline double scaled_seconds(double idle_seconds) { return idle_seconds * time_scale(); }

// Runs `body`, which must throw TransportError with every fragment in its message.
template <typename Body>
void expect_transport_error(Body body, std::initializer_list<std::string> fragments) {
  try {
    body();
    ADD_FAILURE() << "no TransportError";
  } catch (const TransportError& error) {
    const std::string message = error.what();
    for (const auto& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "'" << fragment << "' missing from: " << message;
    }
  }
}

// A process that is gone or a zombie waiting for its reaper (PID 1 in a container may never
// reap) no longer runs.
inline bool process_is_running(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  if (!(stat >> pid_field >> name >> state)) return false;
  return state != "Z" && state != "X";
}

// Waits up to `seconds` (scaled) for the process to stop running.
inline bool wait_until_gone(long pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(scaled_seconds(seconds));
  while (process_is_running(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    usleep(10000);
  }
  return true;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sets an environment variable for one scope and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const std::string& name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name.c_str());
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// A remote `sleep 60` that runs into `transport.run`'s timeout, for the timeout tests. Under load
// (ctest -j) the connection alone can take longer than a short timeout, which then fires before
// the command starts and tests nothing; so the timeout doubles from 1 s until the command was
// running when it fired: its pid file, written atomically by the command, exists afterwards.
// Each attempt has its own pid file, so a late start of an earlier one cannot be mistaken for it.
// `remote_dir_here` is the remote directory as this machine sees it. Returns the remote pid, or
// -1 after a failure (reported).
inline long run_sleeper_into_its_timeout(Transport& transport, const std::string& remote_dir_here) {
  for (double timeout = 1; timeout <= 64; timeout *= 2) {
    const std::string name = "sleeper-" + std::to_string(static_cast<int>(timeout)) + ".pid";
    const auto start = std::chrono::steady_clock::now();
    const CommandResult result = transport.run(
        {"sh", "-c", "echo $$ > " + name + ".tmp && mv " + name + ".tmp " + name + " && exec sleep 60"}, timeout);
    EXPECT_TRUE(result.timed_out);
    EXPECT_EQ(result.signal, SIGKILL);
    EXPECT_EQ(result.exit_code, -1);
    EXPECT_LT(seconds_since(start), timeout + scaled_seconds(25.0));
    std::ifstream pid_file(remote_dir_here + "/" + name);
    long pid = -1;
    if (pid_file >> pid) return pid;
  }
  ADD_FAILURE() << "the remote command never started within a 64 s timeout";
  return -1;
}

inline bool is_executable(const std::string& path) {
  namespace fs = std::filesystem;
  return (fs::status(path).permissions() & fs::perms::owner_exec) != fs::perms::none;
}

}  // namespace ubp::device::testing_util

// The sh scripts the ssh and adb transports run remotely, run here by the local sh: a cancel
// stops the program whether it comes before the program starts (a slow connection) or while it
// runs, and nothing of the run stays behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <stdexcept>

#include "host_test_util.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "transport_internal.h"

namespace ubp::device {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

int run_sh(const std::string& script, const TempDir& dir) {
  return testing::run_process({"sh", "-c", script}, dir.path().string()).exit_code;
}

std::vector<std::string> run_files(const TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".ubp-run-", 0) == 0) names.push_back(name);
  }
  return names;
}

TEST(RemoteScripts, ACancelBeforeTheStartMeansTheProgramNeverRuns) {
  TempDir dir;
  const std::string token = new_run_token();
  EXPECT_EQ(run_sh(remote_cancel_script(dir.path().string(), token), dir), 0);
  EXPECT_EQ(run_sh(remote_run_script(dir.path().string(), {"sh", "-c", "touch ran"}, token), dir), 137);
  EXPECT_FALSE(fs::exists(dir.file("ran")));
  EXPECT_TRUE(run_files(dir).empty());
}

TEST(RemoteScripts, ACancelWhileTheProgramRunsKillsIt) {
  TempDir dir;
  const std::string token = new_run_token();
  const pid_t runner = testing::spawn(
      {"sh", "-c", remote_run_script(dir.path().string(), {"sh", "-c", "echo $$ > started; exec sleep 60"}, token)},
      dir.path().string(), dir.file("out"), dir.file("err"));
  // Wait for the condition, not for a time: the program has written its pid.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(testing_util::scaled_seconds(30));
  while (testing::read_bytes(dir.file("started")).empty()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the program never started";
    usleep(10000);
  }
  const long program = std::stol(testing::read_bytes(dir.file("started")));
  EXPECT_EQ(run_sh(remote_cancel_script(dir.path().string(), token), dir), 0);
  EXPECT_TRUE(testing_util::wait_until_gone(program, 10)) << "sleep " << program << " survived the cancel";
  EXPECT_EQ(testing::wait_exit_code(runner), 128 + SIGKILL);
  EXPECT_NE(testing::read_bytes(dir.file("err")).find("ubp-remote-status=137"), std::string::npos);
  EXPECT_TRUE(run_files(dir).empty());
}

TEST(RemoteScripts, AFinishedRunLeavesNothingAndReportsItsStatus) {
  TempDir dir;
  const auto result = testing::run_process(
      {"sh", "-c", remote_run_script(dir.path().string(), {"sh", "-c", "echo hi; exit 3"}, new_run_token())},
      dir.path().string());
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.out, "hi\n");
  EXPECT_NE(result.err.find("ubp-remote-status=3"), std::string::npos);
  EXPECT_TRUE(run_files(dir).empty());
  EXPECT_NE(new_run_token(), new_run_token());
}

TEST(RemoteScripts, ArgumentsWithControlCharactersAreRefused) {
  EXPECT_THROW(remote_run_script("/tmp", {"echo", "a\nb"}, "t"), std::invalid_argument);
  EXPECT_THROW(remote_run_script("/tmp", {"echo", "a\rb"}, "t"), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::device

// The local transport and the subprocess runner under it: output, exit status, signals, time
// limits (the whole process group dies), and no hang on a program that leaves a daemon behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "host_test_util.h"
#include "support/temp_dir.h"
#include "ubp/device/transport.h"

namespace ubp::device {
namespace {

using testing::TempDir;
using Clock = std::chrono::steady_clock;

using testing_util::seconds_since;

std::unique_ptr<Transport> local() { return make_transport(load_device_config("local", "")); }

TEST(LocalTransport, RunsWithOutputStatusAndUnchangedDirectory) {
  auto transport = local();
  EXPECT_EQ(transport->describe().rfind("local ", 0), 0u);
  transport->connect();
  CommandResult result =
      transport->run({"sh", "-c", "echo to-out; echo to-err >&2; pwd; exit 3"}, 10);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.signal, 0);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.out, "to-out\n" + std::filesystem::current_path().string() + "\n");
  EXPECT_EQ(result.err, "to-err\n");

  // Arguments reach the program as they are, no shell in between.
  result = transport->run({"printf", "%s|", "a b", "'q'", "$HOME", ""}, 10);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "a b|'q'|$HOME||");
}

TEST(LocalTransport, ReportsTheSignalThatKilledTheProgram) {
  const CommandResult result = local()->run({"sh", "-c", "kill -SEGV $$"}, 10);
  EXPECT_EQ(result.signal, SIGSEGV);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_FALSE(result.timed_out);
}

TEST(LocalTransport, TimeoutKillsTheWholeProcessGroup) {
  const auto start = Clock::now();
  // The shell starts a grandchild and waits; both must die at the time limit.
  const CommandResult result =
      local()->run({"sh", "-c", "sleep 60 & echo $!; wait; echo not-reached"}, 0.5);
  const double elapsed = seconds_since(start);
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_GE(elapsed, 0.5);
  EXPECT_LT(elapsed, testing_util::scaled_seconds(5.0));
  const long grandchild = std::stol(result.out);
  EXPECT_EQ(result.out.find("not-reached"), std::string::npos);
  EXPECT_TRUE(testing_util::wait_until_gone(grandchild, 2)) << "sleep " << grandchild << " survived";
}

TEST(LocalTransport, ALeftoverBackgroundProcessDoesNotHangTheCaller) {
  const auto start = Clock::now();
  const CommandResult result = local()->run({"sh", "-c", "sleep 60 & echo started"}, 30);
  EXPECT_LT(seconds_since(start), testing_util::scaled_seconds(5.0));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "started\n");
}

TEST(LocalTransport, CapturesLargeOutputOnBothStreams) {
  const CommandResult result = local()->run(
      {"sh", "-c", "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2"}, 30);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out.size(), 3000000u);
  EXPECT_EQ(result.err.size(), 2000000u);
}

TEST(LocalTransport, MissingProgramIsATransportErrorNamingIt) {
  try {
    local()->run({"/nonexistent/ubp-devbench", "--model", "x"}, 10);
    ADD_FAILURE() << "no TransportError";
  } catch (const TransportError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/ubp-devbench"), std::string::npos)
        << error.what();
  }
}

TEST(LocalTransport, PushAndPullUseTheLocalFiles) {
  TempDir dir;
  const std::string model = dir.write("model.ubpm", "weights");
  auto transport = local();
  EXPECT_EQ(transport->push(model, "model.ubpm"), model);
  EXPECT_THROW(transport->push(dir.file("missing"), "missing"), TransportError);
  EXPECT_THROW(transport->push(model, "../model"), TransportError);

  transport->pull(model, dir.file("copy.ubpm"));
  EXPECT_EQ(testing::read_bytes(dir.file("copy.ubpm")), "weights");
  transport->pull(model, model);  // the same file: nothing to do, nothing lost
  EXPECT_EQ(testing::read_bytes(model), "weights");
  EXPECT_THROW(transport->pull(dir.file("missing"), dir.file("x")), TransportError);
}

}  // namespace
}  // namespace ubp::device

// The ssh transport against a real OpenSSH server that each test starts on loopback with its
// own host and client keys. Without sshd these tests fail (they never skip): the ssh transport
// would otherwise ship untested.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "host_test_util.h"
#include "support/net.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "ubp/device/transport.h"

namespace ubp::device {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing_util::expect_transport_error;
using testing_util::seconds_since;
using Clock = std::chrono::steady_clock;

const char* const kSshd = "/usr/sbin/sshd";
const char* const kInstallHint =
    " (install openssh-server and openssh-client: scripts/install-deps.sh lists them)";

bool port_accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return connected;
}

// Children of `pid` (from /proc), for tearing down sshd with its per-connection processes: they
// call setsid(), so killing sshd's process group would miss them.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const size_t close_paren = line.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(line.substr(close_paren + 2));
    std::string state;
    long parent = 0;
    rest >> state >> parent;
    if (parent == pid) children.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return children;
}

void kill_tree(pid_t pid) {
  kill(pid, SIGSTOP);  // no new children while we look
  for (pid_t child : children_of(pid)) kill_tree(child);
  kill(pid, SIGKILL);
  kill(pid, SIGCONT);
}

std::string current_user() {
  const passwd* entry = getpwuid(getuid());
  return entry != nullptr ? entry->pw_name : "";
}

// sshd -D on 127.0.0.1:<free port>, accepting the test's client key for the current user.
class SshServer {
 public:
  explicit SshServer(const TempDir& dir) : dir_(dir) {}
  ~SshServer() { stop(); }

  // Empty on success, else why sshd did not come up.
  std::string start() {
    if (access(kSshd, X_OK) != 0) return std::string(kSshd) + " is not installed" + kInstallHint;
    for (const char* key : {"host_key", "client_key"}) {
      const auto made = testing::run_process(
          {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ubp-test", "-f", dir_.file(key)},
          dir_.path().string());
      if (made.exit_code != 0) return "ssh-keygen failed: " + made.err + kInstallHint;
    }
    fs::copy_file(dir_.file("client_key.pub"), dir_.file("authorized_keys"));
    if (getuid() == 0) {
      // sshd's privilege separation needs this directory when it runs as root.
      std::error_code error;
      fs::create_directories("/run/sshd", error);
      if (error) return "cannot create /run/sshd: " + error.message();
      chmod("/run/sshd", 0755);
    }
    std::string sftp_server = "/usr/lib/openssh/sftp-server";
    if (access(sftp_server.c_str(), X_OK) != 0) sftp_server = "/usr/libexec/sftp-server";
    port_ = testing::free_loopback_port();
    if (port_ <= 0) return "no free loopback port";
    const std::string config = dir_.write(
        "sshd_config",
        "ListenAddress 127.0.0.1\n"
        "Port " + std::to_string(port_) + "\n"
        "HostKey " + dir_.file("host_key") + "\n"
        "AuthorizedKeysFile " + dir_.file("authorized_keys") + "\n"
        "PidFile " + dir_.file("sshd.pid") + "\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PrintMotd no\n"
        "UseDNS no\n"
        "LogLevel INFO\n"
        "Subsystem sftp " + sftp_server + "\n");
    pid_ = testing::spawn({kSshd, "-D", "-e", "-f", config}, dir_.path().string(),
                          dir_.file("sshd.out"), dir_.file("sshd.log"));
    const auto start = Clock::now();
    while (!port_accepts(port_)) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "sshd exited during start-up: " + testing::read_bytes(dir_.file("sshd.log")) +
               kInstallHint;
      }
      if (seconds_since(start) > testing_util::scaled_seconds(10)) {
        return "sshd did not listen within " + std::to_string(testing_util::scaled_seconds(10)) +
               " s: " + testing::read_bytes(dir_.file("sshd.log"));
      }
      usleep(10000);
    }
    return "";
  }

  // Kills sshd and every connection it serves (and what those run), as a crash or a reboot of
  // the board would.
  void stop() {
    if (pid_ <= 0) return;
    kill_tree(pid_);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string log() const { return testing::read_bytes(dir_.file("sshd.log")); }

  DeviceConfig device(const std::string& remote_dir) const {
    DeviceConfig config;
    config.name = "loopback";
    config.kind = "ssh";
    config.arch = "host";
    config.host = "127.0.0.1";
    config.port = port_;
    config.user = current_user();
    config.key = dir_.file("client_key");
    config.remote_dir = remote_dir;
    config.ssh_options = {"StrictHostKeyChecking=no",
                          "UserKnownHostsFile=" + dir_.file("known_hosts")};
    return config;
  }

 private:
  const TempDir& dir_;
  pid_t pid_ = -1;
  int port_ = -1;
};

class SshTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string problem = server_.start();
    ASSERT_EQ(problem, "") << "cannot start the test's OpenSSH server: " << problem;
    remote_dir_ = dir_.file("board/tmp/ubp");
    transport_ = make_transport(server_.device(remote_dir_));
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "sshd log:\n" << server_.log();
  }

  TempDir dir_;
  SshServer server_{dir_};
  std::string remote_dir_;  // the "board" is this machine: its files are visible here
  std::unique_ptr<Transport> transport_;
};

TEST_F(SshTransportTest, ConnectCreatesTheRemoteDirectory) {
  EXPECT_EQ(transport_->describe(), "ssh " + current_user() + "@127.0.0.1:" +
                                        std::to_string(server_.port()) + ":" + remote_dir_);
  ASSERT_FALSE(fs::exists(remote_dir_));
  transport_->connect();
  EXPECT_TRUE(fs::is_directory(remote_dir_));
  transport_->connect();  // again: nothing changes, nothing fails
  EXPECT_TRUE(fs::is_directory(remote_dir_));
}

TEST_F(SshTransportTest, PushCopiesAndKeepsTheExecutableBit) {
  transport_->connect();
  const std::string runner =
      dir_.write("local/fake-runner", "#!/bin/sh\nprintf '[%s]' \"$@\"; pwd; echo done >&2\n");
  chmod(runner.c_str(), 0755);
  std::string payload(300000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7919 % 251);
  const std::string model = dir_.write("local/model.ubpm", payload);
  chmod(model.c_str(), 0644);

  EXPECT_EQ(transport_->push(runner, "ubp-devbench"), remote_dir_ + "/ubp-devbench");
  EXPECT_EQ(transport_->push(model, "model.ubpm"), remote_dir_ + "/model.ubpm");
  EXPECT_EQ(testing::read_bytes(remote_dir_ + "/model.ubpm"), payload);
  EXPECT_TRUE(testing_util::is_executable(remote_dir_ + "/ubp-devbench"));
  EXPECT_FALSE(testing_util::is_executable(remote_dir_ + "/model.ubpm"));

  // The pushed runner runs in the remote directory; awkward arguments arrive intact.
  const CommandResult result = transport_->run(
      {"./ubp-devbench", "a b", "it's", "$HOME", "\"q\"", "x;y", "\\n", "*", ""}, 30);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "[a b][it's][$HOME][\"q\"][x;y][\\n][*][]" + remote_dir_ + "\n");
  EXPECT_EQ(result.err, "done\n");

  expect_transport_error([&] { transport_->push(dir_.file("local/missing"), "missing"); },
                         {"missing", "not a regular file"});
  expect_transport_error([&] { transport_->push(model, "../escape"); }, {"bad remote file name"});
}

TEST_F(SshTransportTest, RunReportsOutputExitCodeAndSignal) {
  transport_->connect();
  CommandResult result =
      transport_->run({"sh", "-c", "echo to-out; printf partial >&2; exit 7"}, 30);
  EXPECT_EQ(result.exit_code, 7);
  EXPECT_EQ(result.signal, 0);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.out, "to-out\n");
  EXPECT_EQ(result.err, "partial") << "stderr comes back exactly, markers removed";

  const std::string crasher = dir_.write("local/crasher", "#!/bin/sh\necho before\nkill -SEGV $$\n");
  chmod(crasher.c_str(), 0755);
  transport_->push(crasher, "crasher");
  result = transport_->run({"./crasher"}, 30);
  EXPECT_EQ(result.signal, SIGSEGV);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_EQ(result.out, "before\n");

  result = transport_->run({"no-such-program-here"}, 30);
  EXPECT_EQ(result.exit_code, 127) << "a missing program is the command's failure, not the link's";
}

// The transport kills the remote program after a timeout (the helper waits for a run that had
// started when the timeout fired, however slow the connection).
TEST_F(SshTransportTest, TimeoutKillsTheRemoteProcess) {
  transport_->connect();
  const long remote_pid = testing_util::run_sleeper_into_its_timeout(*transport_, remote_dir_);
  ASSERT_GT(remote_pid, 0);
  EXPECT_TRUE(testing_util::wait_until_gone(remote_pid, 5))
      << "the remote sleep " << remote_pid << " outlived the timeout";
}

TEST_F(SshTransportTest, ByDefaultTheRemoteDirectoryIsTheConnectingUsersOwn) {
  auto transport = make_transport(server_.device(""));
  EXPECT_NE(transport->describe().find("(per-user directory)"), std::string::npos) << transport->describe();
  transport->connect();
  const std::string expected = "/tmp/ubp-" + std::to_string(::getuid());
  EXPECT_NE(transport->describe().find(":" + expected), std::string::npos) << transport->describe();
  const std::string probe = "probe-" + std::to_string(::getpid());
  EXPECT_EQ(transport->push(dir_.write("local/probe", "x"), probe), expected + "/" + probe);
  struct stat info {};
  ASSERT_EQ(lstat(expected.c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  EXPECT_EQ(info.st_uid, ::getuid());
  EXPECT_EQ(info.st_mode & 022, 0u);
  fs::remove(expected + "/" + probe);
}

TEST_F(SshTransportTest, ARemoteDirectoryOthersCanWriteOrOwnIsRefused) {
  fs::create_directories(remote_dir_);
  chmod(remote_dir_.c_str(), 0777);
  expect_transport_error([&] { transport_->connect(); }, {"refusing the remote directory", "writable by other users"});
  chmod(remote_dir_.c_str(), 0700);
  const std::string linked = dir_.file("board/linked");
  fs::create_directory_symlink(remote_dir_, linked);
  expect_transport_error([&] { make_transport(server_.device(linked))->connect(); },
                         {"refusing the remote directory", "symbolic link"});
  // Another user's directory: a chown'ed one as root, else / (root's).
  std::string foreign = "/";
  if (::getuid() == 0) {
    foreign = dir_.file("board/foreign");
    fs::create_directories(foreign);
    ASSERT_EQ(chown(foreign.c_str(), 65534, 65534), 0);
    chmod(foreign.c_str(), 0700);
  }
  expect_transport_error([&] { make_transport(server_.device(foreign))->connect(); },
                         {"refusing the remote directory", "belongs to another user"});
}

TEST_F(SshTransportTest, PullFetchesAFileTheRunWrote) {
  transport_->connect();
  const CommandResult result =
      transport_->run({"sh", "-c", "printf 'output bytes' > out.bin"}, 30);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  transport_->pull("out.bin", dir_.file("fetched.bin"));
  EXPECT_EQ(testing::read_bytes(dir_.file("fetched.bin")), "output bytes");
  expect_transport_error([&] { transport_->pull("absent.bin", dir_.file("x")); },
                         {"scp", "absent.bin"});
}

TEST_F(SshTransportTest, ADroppedConnectionIsATransportError) {
  transport_->connect();
  auto running = std::async(std::launch::async, [&] {
    return transport_->run({"sh", "-c", "echo started > started.flag; sleep 30"}, 60);
  });
  // Wait for the command to run (a condition, not a time: the connection may be slow).
  const auto deadline = Clock::now() + std::chrono::duration<double>(testing_util::scaled_seconds(60));
  while (!fs::exists(remote_dir_ + "/started.flag")) {
    ASSERT_LT(Clock::now(), deadline) << "the remote command never started";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto killed_at = Clock::now();
  server_.stop();
  expect_transport_error([&] { running.get(); }, {"did not finish", "ssh exit 255"});
  EXPECT_LT(seconds_since(killed_at), testing_util::scaled_seconds(10.0));

  // The board is gone now: every operation fails the same, retryable way.
  const std::string file = dir_.write("local/f", "x");
  expect_transport_error([&] { transport_->connect(); }, {"cannot connect", "refused"});
  expect_transport_error([&] { transport_->push(file, "f"); }, {"scp", "failed"});
  expect_transport_error([&] { transport_->run({"true"}, 30); }, {"did not finish"});
}

TEST_F(SshTransportTest, AWrongKeyIsATransportError) {
  const auto made = testing::run_process(
      {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_.file("stranger_key")},
      dir_.path().string());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  DeviceConfig config = server_.device(remote_dir_);
  config.key = dir_.file("stranger_key");
  expect_transport_error([&] { make_transport(config)->connect(); },
                         {"cannot connect", "Permission denied"});
}

}  // namespace
}  // namespace ubp::device

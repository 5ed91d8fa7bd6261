#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

extern char** environ;

namespace ubp::device {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxCapture = size_t{64} << 20;
// After the program itself has exited, how long leftover processes of its group may keep its
// output pipes open before they are killed (a daemon it started must not hang the caller).
constexpr double kLingerAfterExitSeconds = 1.0;

class Pipe {
 public:
  Pipe() {
    if (pipe2(fds_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void close_read() { close_fd(fds_[0]); }
  void close_write() { close_fd(fds_[1]); }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  int fds_[2] = {-1, -1};
};

class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
};

void append_capped(std::string& text, const char* data, size_t size, bool& dropped) {
  const size_t room = text.size() < kMaxCapture ? kMaxCapture - text.size() : 0;
  text.append(data, std::min(size, room));
  if (size > room) dropped = true;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

CommandResult run_subprocess(const std::vector<std::string>& argv, double timeout_s) {
  if (argv.empty()) throw std::invalid_argument("run_subprocess: empty argv");
  Pipe out_pipe, err_pipe;
  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out_pipe.write_end(), 1);
  posix_spawn_file_actions_adddup2(&setup.actions, err_pipe.write_end(), 2);
  // A new process group so a timeout can kill the program and everything it started; default
  // signal handling and an empty mask so that a caller ignoring SIGPIPE or blocking SIGINT does
  // not pass that on (ignored signals survive exec).
  sigset_t empty_mask, all_signals;
  sigemptyset(&empty_mask);
  sigfillset(&all_signals);
  posix_spawnattr_setflags(&setup.attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&setup.attributes, 0);
  posix_spawnattr_setsigmask(&setup.attributes, &empty_mask);
  posix_spawnattr_setsigdefault(&setup.attributes, &all_signals);

  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_error =
      posix_spawnp(&pid, args[0], &setup.actions, &setup.attributes, args.data(), environ);
  if (spawn_error != 0) {
    throw SubprocessStartError("cannot start '" + argv[0] + "': " + std::strerror(spawn_error));
  }
  out_pipe.close_write();
  err_pipe.close_write();

  CommandResult result;
  bool out_dropped = false, err_dropped = false;
  bool out_open = true, err_open = true, reaped = false;
  int status = 0;
  const auto start = Clock::now();
  double exited_at = -1;  // seconds since start when the program was reaped
  const auto kill_group = [&] {
    // The group id is the child's pid. It stays in use (cannot be recycled) while any member
    // lives, so this reaches leftovers even after the child itself was reaped.
    kill(-pid, SIGKILL);
  };
  while (out_open || err_open || !reaped) {
    if (!reaped) {
      const pid_t done = waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        reaped = true;
        exited_at = seconds_since(start);
      }
    }
    const double elapsed = seconds_since(start);
    if (!reaped && timeout_s > 0 && elapsed >= timeout_s) {
      result.timed_out = true;
      kill_group();
      waitpid(pid, &status, 0);
      reaped = true;
      exited_at = elapsed;
    }
    if (reaped && elapsed - exited_at >= kLingerAfterExitSeconds) {
      kill_group();
      break;  // leftover processes hold the pipes; what they wrote so far is kept
    }
    if (!out_open && !err_open) {
      // Output closed but the program still runs: wait for it in short steps (timeout checks).
      usleep(10000);
      continue;
    }
    pollfd fds[2];
    int count = 0;
    if (out_open) fds[count++] = {out_pipe.read_end(), POLLIN, 0};
    if (err_open) fds[count++] = {err_pipe.read_end(), POLLIN, 0};
    // Short polls while the child is alive: waitpid above must notice its exit.
    const int ready = poll(fds, count, 20);
    if (ready < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    for (int i = 0; i < count && ready > 0; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[65536];
      const ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      const bool is_out = fds[i].fd == out_pipe.read_end();
      if (got <= 0) {
        (is_out ? out_open : err_open) = false;
      } else if (is_out) {
        append_capped(result.out, buffer, static_cast<size_t>(got), out_dropped);
      } else {
        append_capped(result.err, buffer, static_cast<size_t>(got), err_dropped);
      }
    }
  }
  if (out_dropped) result.out += "\n[ubp: output beyond 64 MiB dropped]\n";
  if (err_dropped) result.err += "\n[ubp: output beyond 64 MiB dropped]\n";
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  if (result.timed_out) result.exit_code = -1;
  return result;
}

}  // namespace ubp::device

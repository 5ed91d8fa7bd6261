#include "ubp/device/device_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

namespace ubp::device {
namespace {

using Clock = std::chrono::steady_clock;

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown-host";
  return name;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

std::string read_holder(int fd) {
  std::string text(512, '\0');
  const ssize_t got = pread(fd, text.data(), text.size(), 0);
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text.empty() ? "(holder not yet written)" : text;
}

// Opens the lock file, creating it when missing. An existing file is opened without O_CREAT:
// with fs.protected_regular (the default on many systems) O_CREAT on another user's file in
// sticky /tmp fails even when its mode allows access. flock works on a read-only descriptor, so
// a file another user created 0644 still locks; only the holder text is then not written.
int open_lock_file(const std::string& path) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT) return fd;
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      fchmod(fd, 0666);  // let other users of this host share the device; umask would narrow it
      return fd;
    }
    if (errno != EEXIST) return -1;  // else another process created it just now: open that
  }
  errno = EAGAIN;
  return -1;
}

}  // namespace

std::string device_lock_path(const std::string& key) {
  const char* configured = std::getenv("UBP_LOCK_DIR");
  const std::string dir = configured != nullptr && *configured != '\0' ? configured : "/tmp";
  // Distinct keys that sanitise alike share a lock: a needless wait, never a shared device.
  std::string sanitised;
  for (char c : key) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    sanitised += plain ? c : '_';
  }
  return dir + "/ubp-device-" + sanitised + ".lock";
}

DeviceLock::DeviceLock(const std::string& key, double timeout_s,
                       const std::function<void(const std::string&)>& on_wait)
    : path_(device_lock_path(key)) {
  fd_ = open_lock_file(path_);
  if (fd_ < 0) {
    throw DeviceLockError("device lock '" + key + "': cannot open " + path_ + ": " +
                          std::strerror(errno) + " (set UBP_LOCK_DIR to a writable directory)");
  }
  try {
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) {
        const int error = errno;
        throw DeviceLockError("device lock '" + key + "': flock on " + path_ + " failed: " +
                              std::strerror(error));
      }
      if (on_wait) on_wait(read_holder(fd_));
      if (timeout_s < 0) {
        while (flock(fd_, LOCK_EX) != 0) {
          if (errno != EINTR) {
            const int error = errno;
            throw DeviceLockError("device lock '" + key + "': flock on " + path_ + " failed: " +
                                  std::strerror(error));
          }
        }
      } else {
        // flock has no timeout; poll. Measurements last seconds, so 50 ms steps cost nothing.
        const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
        while (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
          if (Clock::now() >= deadline) {
            const std::string holder = read_holder(fd_);
            throw DeviceLockError("device '" + key + "' is busy: still held after " +
                                  format_seconds(timeout_s) + " s by " + holder + " (lock file " +
                                  path_ + ")");
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    }
  } catch (...) {
    close(fd_);  // on_wait may throw too
    fd_ = -1;
    throw;
  }
  const std::string holder = std::to_string(getpid()) + " " + host_name() + " " + utc_now() + "\n";
  if (ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = pwrite(fd_, holder.data(), holder.size(), 0);
  }
}

DeviceLock::~DeviceLock() {
  if (fd_ < 0) return;
  // Cleared before the unlock so a waiter never reads a finished holder's text. The file stays:
  // unlinking it would let a new process lock a fresh file while a waiter holds the old one.
  [[maybe_unused]] const int truncated = ftruncate(fd_, 0);
  close(fd_);
}

}  // namespace ubp::device

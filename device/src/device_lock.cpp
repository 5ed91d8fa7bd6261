#include "ubp/device/device_lock.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "ubp/support/file_lock.h"
#include "ubp/support/text.h"

namespace ubp::device {
namespace {

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

// The holder's record: "pid host start-time", padded with spaces to a fixed size and written
// in place at offset 0 (the file is never truncated: truncation would need O_TRUNC or
// ftruncate on a file another process may have planted or be reading). All spaces = no holder.
constexpr size_t kHolderRecordBytes = 256;

void write_holder_record(int fd, const std::string& text) {
  std::string record = text.substr(0, kHolderRecordBytes - 1);
  record.resize(kHolderRecordBytes - 1, ' ');
  record += '\n';
  [[maybe_unused]] const ssize_t written = pwrite(fd, record.data(), record.size(), 0);
}

std::string read_holder(int fd) {
  std::string text(kHolderRecordBytes, '\0');
  const ssize_t got = pread(fd, text.data(), text.size(), 0);
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0' || text.back() == ' ')) text.pop_back();
  // Another program may hold the lock and have written anything there.
  return text.empty() ? "a process that has not written its pid, host and start time (or another program)"
                      : support::excerpt(text, 200);
}

}  // namespace

std::string device_lock_directory() {
  const char* configured = std::getenv("UBP_LOCK_DIR");
  if (configured != nullptr && *configured != '\0') return configured;
  try {
    return support::user_private_directory("ubp-locks");
  } catch (const support::FileError& e) {
    throw DeviceLockError(std::string("device lock directory: ") + e.what() +
                          " (set UBP_LOCK_DIR to a directory of your own)");
  }
}

std::string device_lock_path(const std::string& key) {
  const std::string dir = device_lock_directory();
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
  try {
    lock_ = std::make_unique<support::FileLock>(path_, 0644);
    if (!lock_->try_lock()) {
      if (on_wait) on_wait(read_holder(lock_->fd()));
      if (!lock_->lock_within(timeout_s)) {
        throw DeviceLockError("device '" + key + "' is busy: still held after " + format_seconds(timeout_s) +
                              " s by " + read_holder(lock_->fd()) + " (lock file " + path_ +
                              "; the device file's lock_timeout_s sets how long to wait)");
      }
    }
  } catch (const support::FileError& e) {
    throw DeviceLockError("device lock '" + key + "': " + e.what() + " (set UBP_LOCK_DIR to a writable directory)");
  }
  if (lock_->writable()) {
    write_holder_record(lock_->fd(), std::to_string(getpid()) + " " + host_name() + " " + utc_now());
  }
}

DeviceLock::~DeviceLock() {
  // Cleared before the unlock so a waiter never reads a finished holder's text. The file stays:
  // unlinking it would let a new process lock a fresh file while a waiter holds the old one.
  if (lock_ && lock_->writable()) write_holder_record(lock_->fd(), "");
}

}  // namespace ubp::device

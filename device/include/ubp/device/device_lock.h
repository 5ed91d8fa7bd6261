// One measurement at a time per physical device, across processes and users of this host.
// Host only.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace ubp::device {

class DeviceLockError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exclusive flock on ${UBP_LOCK_DIR:-/tmp}/ubp-device-<sanitised key>.lock; after taking it the
// holder writes "pid host start-time" into the file. When it must wait, on_wait is called once
// with the current holder's text. timeout_s < 0: wait forever; else throws DeviceLockError
// after timeout_s seconds. The kernel drops the lock when the holder dies, however it dies.
class DeviceLock {
 public:
  DeviceLock(const std::string& key, double timeout_s,
             const std::function<void(const std::string&)>& on_wait);
  ~DeviceLock();
  DeviceLock(const DeviceLock&) = delete;
  DeviceLock& operator=(const DeviceLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// The lock file's path for `key` (UBP_LOCK_DIR read now).
std::string device_lock_path(const std::string& key);

}  // namespace ubp::device

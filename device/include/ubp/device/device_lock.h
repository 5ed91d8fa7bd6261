// One measurement at a time per physical device, across processes and users of this host.
// Host only.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace ubp::support {
class FileLock;
}

namespace ubp::device {

class DeviceLockError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exclusive flock (support::FileLock: O_NOFOLLOW, never truncated) on
// <lock directory>/ubp-device-<sanitised key>.lock, the lock directory being $UBP_LOCK_DIR or
// else this user's private directory (support::user_private_directory("ubp-locks"):
// $XDG_RUNTIME_DIR/ubp-locks or /tmp/ubp-locks-<uid>, mode 0700). After taking it the holder
// writes "pid host start-time" into the file. When it must wait, on_wait is called once with the
// current holder's text. timeout_s < 0: wait forever; else throws DeviceLockError naming the
// holder after timeout_s seconds. The kernel drops the lock when the holder dies, however it
// dies.
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
  std::unique_ptr<support::FileLock> lock_;
};

// The lock directory (UBP_LOCK_DIR read now; the private one created when missing) and the lock
// file's path for `key`. Throw DeviceLockError when the private directory is unusable (say
// another user's).
std::string device_lock_directory();
std::string device_lock_path(const std::string& key);

}  // namespace ubp::device

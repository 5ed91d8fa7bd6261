// Exclusive locks between processes (flock on a lock file) and the per-user directory that
// keeps such files out of other users' reach. Every lock of the project goes through FileLock.
//
// flock is released by the kernel when its holder dies, however it dies, so a killed process
// never leaves anything locked; lock files are therefore never deleted (that would let two
// processes lock two different files of one name) and never truncated on open.
#pragma once

#include <sys/types.h>

#include <string>

#include "ubp/support/atomic_file.h"

namespace ubp::support {

class FileLock {
 public:
  // Opens `path`, creating it with `mode` (narrowed by the umask) when missing. Refuses a
  // symbolic link (O_NOFOLLOW) and anything but a regular file; never truncates. A file of
  // another user that is not writable for us is opened read-only, which flock allows. Throws
  // FileError. Nothing is locked yet.
  explicit FileLock(const std::string& path, mode_t mode = 0644);
  ~FileLock();  // closes the descriptor, which releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // Takes the lock if nobody holds it; false when another process does.
  bool try_lock();
  // Waits for the lock up to `timeout_s` seconds (< 0: as long as it takes); false on timeout.
  // Throws FileError when flock itself fails.
  bool lock_within(double timeout_s);

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  bool writable() const { return writable_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool writable_ = false;
};

// A directory only this user can write to, for lock files and other per-user state:
// $XDG_RUNTIME_DIR/<name> when XDG_RUNTIME_DIR is set, else /tmp/<name>-<uid>. Created with mode
// 0700 when missing; an existing one must be a real directory (not a symbolic link) owned by
// this user and not writable by group or others, else FileError says what is wrong with it (a
// directory another user planted in /tmp is refused, never used).
std::string user_private_directory(const std::string& name);

// Checks that `dir` is a directory owned by this user and writable by nobody else (see above).
// Throws FileError naming the directory and what is wrong.
void check_private_directory(const std::string& dir);

}  // namespace ubp::support

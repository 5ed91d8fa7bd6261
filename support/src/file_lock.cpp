#include "ubp/support/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace ubp::support {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int error_number) {
  std::string message = path + ": " + what;
  if (error_number != 0) message += ": " + std::string(std::strerror(error_number));
  throw FileError(message, error_number);
}

// O_NONBLOCK: opening a FIFO planted under the lock's name must not hang; it is refused below.
constexpr int kOpenFlags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;

}  // namespace

FileLock::FileLock(const std::string& path, mode_t mode) : path_(path) {
  // An existing file is opened without O_CREAT: with fs.protected_regular (the default on many
  // systems) O_CREAT on another user's file in a sticky directory fails even where its mode
  // allows access.
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    fd_ = ::open(path.c_str(), O_RDWR | kOpenFlags);
    writable_ = fd_ >= 0;
    if (fd_ < 0 && errno == EACCES) fd_ = ::open(path.c_str(), O_RDONLY | kOpenFlags);
    if (fd_ >= 0) break;
    if (errno == ELOOP) fail(path, "is a symbolic link; a lock file must be a plain file", ELOOP);
    if (errno != ENOENT) {
      const int error = errno;
      fail(path, "cannot open the lock file", error);
    }
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | kOpenFlags, mode);
    writable_ = fd_ >= 0;
    if (fd_ < 0 && errno != EEXIST) {
      const int error = errno;
      fail(path, "cannot create the lock file", error);
    }
    // EEXIST: another process created it just now; open that one.
  }
  if (fd_ < 0) fail(path, "cannot open the lock file (it keeps appearing and vanishing)", EAGAIN);
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    fail(path, "is not a regular file; a lock file must be a plain file", 0);
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool FileLock::try_lock() {
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    const int error = errno;
    fail(path_, "flock failed", error);
  }
  return true;
}

bool FileLock::lock_within(double timeout_s) {
  if (timeout_s < 0) {
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      fail(path_, "flock failed", error);
    }
    return true;
  }
  // flock has no timeout: poll. Locks here guard work of seconds to hours, so 50 ms steps cost
  // nothing.
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (!try_lock()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void check_private_directory(const std::string& dir) {
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0) {
    const int error = errno;
    fail(dir, "cannot inspect the directory", error);
  }
  if (S_ISLNK(info.st_mode)) fail(dir, "is a symbolic link, not a directory of this user's own", 0);
  if (!S_ISDIR(info.st_mode)) fail(dir, "is not a directory", 0);
  if (info.st_uid != ::geteuid()) {
    fail(dir, "belongs to user id " + std::to_string(info.st_uid) + ", not to this user (" +
                  std::to_string(::geteuid()) + "); another user may have created it to watch or "
                  "block this one",
         0);
  }
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    fail(dir, std::string("is writable by other users (mode ") + mode + "); accepted: a directory only its "
              "owner can write to, such as mode 0700",
         0);
  }
}

std::string user_private_directory(const std::string& name) {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  const std::string dir = runtime != nullptr && *runtime == '/'
                              ? std::string(runtime) + "/" + name
                              : "/tmp/" + name + "-" + std::to_string(::geteuid());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int error = errno;
    fail(dir, "cannot create the directory", error);
  }
  check_private_directory(dir);
  return dir;
}

}  // namespace ubp::support

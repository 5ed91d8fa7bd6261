#include "ubp/support/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ubp::support {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int error_number) {
  std::string message = path + ": " + what;
  if (error_number != 0) message += ": " + std::string(std::strerror(error_number));
  throw FileError(message, error_number);
}

std::string directory_part(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A name no other writer uses now: pid and a per-process counter, created with O_EXCL anyway.
int create_temporary(const std::string& path, mode_t mode, std::string& temp) {
  static std::atomic<unsigned long> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0) return fd;
    if (errno != EEXIST) {
      const int error = errno;
      fail(path, "cannot create the temporary file " + temp, error);
    }
  }
  fail(path, "cannot find an unused temporary name beside it", EEXIST);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, mode_t mode) : path_(std::move(path)) {
  if (path_.empty()) fail("(empty path)", "cannot write a file without a name", EINVAL);
  if (path_.back() == '/') fail(path_, "is a directory name, not a file name", EISDIR);
  fd_ = create_temporary(path_, mode, temp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  if (fd_ < 0) fail(path_, "write after commit", EBADF);
  const char* at = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t put = ::write(fd_, at, size);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) {
      const int error = errno;
      fail(path_, "writing " + temp_ + " failed", error);
    }
    if (put == 0) fail(path_, "writing " + temp_ + " made no progress", EIO);
    at += put;
    size -= static_cast<size_t>(put);
  }
}

void AtomicFile::write_at(const void* data, size_t size, off_t offset) {
  if (fd_ < 0) fail(path_, "write after commit", EBADF);
  const char* at = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t put = ::pwrite(fd_, at, size, offset);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) {
      const int error = errno;
      fail(path_, "writing " + temp_ + " failed", error);
    }
    if (put == 0) fail(path_, "writing " + temp_ + " made no progress", EIO);
    at += put;
    offset += put;
    size -= static_cast<size_t>(put);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (fd_ < 0) fail(path_, "commit of a file already closed", EBADF);
  // A library that wrote temp_path() by name wrote through its own descriptor; ours sees the
  // same file, so this fsync covers its data too.
  if (::fsync(fd_) != 0) {
    const int error = errno;
    fail(path_, "cannot flush " + temp_ + " to disk", error);
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int error = errno;
    fail(path_, "cannot close " + temp_, error);
  }
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    fail(path_, "cannot rename " + temp_ + " over it", error);
  }
  committed_ = true;
  try {
    fsync_directory_of(path_);
  } catch (const FileError& e) {
    throw FileError(std::string(e.what()) + " (the new file is in place but may not survive a power cut)",
                    e.error_number());
  }
}

void write_file_atomically(const std::string& path, std::string_view contents, mode_t mode) {
  AtomicFile file(path, mode);
  file.write(contents);
  file.commit();
}

void fsync_directory_of(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const std::string dir = fd >= 0 ? path : directory_part(path);
  if (fd < 0) fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    fail(dir, "cannot open the directory to flush it", error);
  }
  // Some file systems (certain FUSE and network ones) cannot fsync a directory and say EINVAL:
  // there is nothing more to do there.
  const bool synced = ::fsync(fd) == 0 || errno == EINVAL || errno == ENOTSUP;
  const int error = errno;
  ::close(fd);
  if (!synced) fail(dir, "cannot flush the directory to disk", error);
}

}  // namespace ubp::support

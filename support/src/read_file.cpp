#include "ubp/support/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string byte_size_text(unsigned long long bytes) {
  char text[48];
  if (bytes < 1024 * 1024) {
    std::snprintf(text, sizeof text, "%llu bytes", bytes);
  } else if (bytes < 1024ull * 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  } else {
    std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  }
  return text;
}

std::string read_file_bounded(const std::string& path, size_t max_bytes, const std::string& what) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused right after.
  const Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const int error = errno;
    fail(path, "cannot open the " + what, error);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    const int error = errno;
    fail(path, "cannot inspect the " + what, error);
  }
  if (!S_ISREG(info.st_mode)) {
    fail(path, std::string("is ") + kind_of(info.st_mode) + ", not a regular file (a " + what + " is expected)", 0);
  }
  const auto too_large = [&](const std::string& size) {
    fail(path, "the " + what + " is " + size + ", more than the " + byte_size_text(max_bytes) + " accepted", 0);
  };
  if (static_cast<unsigned long long>(info.st_size) > max_bytes) {
    too_large(byte_size_text(static_cast<unsigned long long>(info.st_size)));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (true) {
    if (done == bytes.size()) {
      if (bytes.size() > max_bytes) too_large("larger than that (it grew while being read)");
      // The file may have grown since fstat: read on until the end, within the cap.
      bytes.resize(std::min(max_bytes + 1, bytes.size() + 65536));
    }
    const ssize_t got = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      fail(path, "cannot read the " + what, error);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace ubp::support

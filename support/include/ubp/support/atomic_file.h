// Publishing files so that a crash, a full disk or a second writer never leaves a half-written
// one: every writer of the project goes through AtomicFile (or write_file_atomically).
//
// The steps, each checked: a new temporary file beside the target (same directory, so the rename
// stays on one file system; a unique name created with O_EXCL, so two writers never share it),
// the contents written in full, fsync of the file, close, rename over the target, fsync of the
// directory (until then the rename itself may be lost in a power cut). Readers see the old file
// or the complete new one, never a mix; after commit() returns the new one is on disk. On any
// failure the temporary file is removed, the target is untouched and FileError says which step
// failed for which path, with the system's reason ("No space left on device", "File too large").
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ubp/support/error.h"

namespace ubp::support {

// A failed file operation. what(): "<path>: <what was done>: <strerror>". `error_number` is the
// errno (0 when the failure has none, e.g. a short write with no error). Its kind is kIo.
class FileError : public Error {
 public:
  FileError(const std::string& message, int error_number)
      : Error(ErrorKind::kIo, message), error_number_(error_number) {}
  int error_number() const { return error_number_; }

 private:
  int error_number_;
};

class AtomicFile {
 public:
  // Creates the temporary file for `path` with permissions `mode` (narrowed by the umask).
  // Throws FileError when the directory does not exist or is not writable.
  explicit AtomicFile(std::string path, mode_t mode = 0644);
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  // For a library that writes by name (torch::save, a zip writer): it must write to exactly
  // this path and close the file before commit().
  const std::string& temp_path() const { return temp_; }
  int fd() const { return fd_; }

  // Appends all of `data` (retrying short writes and EINTR). Throws FileError.
  void write(const void* data, size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Writes at `offset` without moving the append position (for a header patched in at the end).
  void write_at(const void* data, size_t size, off_t offset);

  // fsync, close, rename over path(), fsync of the directory. Throws FileError; the target is
  // then unchanged (or, when only the directory fsync failed, already replaced but perhaps not
  // yet durable: the message says so).
  void commit();

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole file in one call: AtomicFile(path, mode), write(contents), commit().
void write_file_atomically(const std::string& path, std::string_view contents, mode_t mode = 0644);

// fsync of the directory holding `path` (the directory itself when `path` names one): makes a
// rename, create or unlink in it durable. Throws FileError.
void fsync_directory_of(const std::string& path);

}  // namespace ubp::support

// The common base of the project's errors: what kind of problem it is, which decides the exit
// status of the command that met it (docs/design.md: 2 for bad input of any kind, 1 for a
// failure while working).
#pragma once

#include <stdexcept>
#include <string>

namespace ubp::support {

enum class ErrorKind {
  kUsage,     // a bad command line
  kConfig,    // a config that does not validate
  kInput,     // a file or value from outside that is not what it should be
  kIo,        // reading or writing failed (disk full, permissions, a vanished folder)
  kInternal,  // a broken invariant of the program itself
};

const char* to_string(ErrorKind kind);

// 2 for usage, config and input errors (nothing was done), 1 for I/O and internal ones.
int exit_code(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace ubp::support

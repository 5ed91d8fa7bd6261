#include "ubp/support/error.h"

namespace ubp::support {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage: return "usage";
    case ErrorKind::kConfig: return "config";
    case ErrorKind::kInput: return "input";
    case ErrorKind::kIo: return "I/O";
    case ErrorKind::kInternal: return "internal";
  }
  return "internal";
}

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
    case ErrorKind::kConfig:
    case ErrorKind::kInput: return 2;
    case ErrorKind::kIo:
    case ErrorKind::kInternal: return 1;
  }
  return 1;
}

}  // namespace ubp::support

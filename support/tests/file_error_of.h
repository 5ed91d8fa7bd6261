// What a call throws as a FileError, for tests that check the message.
#pragma once

#include <string>

#include "ubp/support/atomic_file.h"

namespace ubp::support::testing_helpers {

// The FileError message `f` throws, or "(no FileError)" when it throws none.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const FileError& e) {
    return e.what();
  }
  return "(no FileError)";
}

}  // namespace ubp::support::testing_helpers

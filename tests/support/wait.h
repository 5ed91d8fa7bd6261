// Waiting for a condition in tests, never for a fixed time: the check runs every few
// milliseconds until it holds or a generous limit (meant only to end a hung test) passes.
#pragma once

#include <chrono>
#include <thread>

namespace ubp::testing {

// True as soon as `ready()` is true; false if it is still false after `limit`.
template <typename Ready>
bool wait_until(Ready ready, std::chrono::milliseconds limit = std::chrono::minutes(5),
                std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

}  // namespace ubp::testing

// A one-line progress bar on stderr for work within an epoch, redrawn at most 5 times a second.
// Plain C++; disabled (every call a no-op) when stderr is not a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ubp::training {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled);
  ~ProgressBar();  // clears the line
  // `done` of `total` finished; `detail` is appended (e.g. "loss 0.53 acc 81.2%").
  void update(int64_t done, const std::string& detail);
  void clear();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "12.3 s", "1m05s", "2h03m" (also the runner's elapsed and remaining times)
std::string duration_text(double seconds);

}  // namespace ubp::training

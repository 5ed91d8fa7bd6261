// Learning rate per optimizer step: a linear warm-up, then cosine, multistep or constant.
//
// Steps count from 0 over one training phase of `total_steps` steps (`steps_per_epoch` each).
//   warm-up    for t < W: lr * (f + (1 - f) * t / W), f = warmup_start_factor (0.01)
//   cosine     for t >= W: lr * 0.5 * (1 + cos(pi * (t - W) / (T - W)))   (reaches 0 at T)
//   multistep  lr * gamma^(number of milestones <= epoch of t), epochs counted from 0
//   constant   lr
//   restart    with restart_step R > 0 (cosine only): from step R on, a second cosine from lr
//              that reaches 0 at T, lr * 0.5 * (1 + cos(pi * (t - R) / (T - R))); the phase
//              before R is one cosine over [W, R). A pruning run uses it to give fine-tuning
//              its own schedule after ADMM.
// Per step rather than per epoch, so a resumed run (which restarts at an epoch boundary) and
// an uninterrupted one follow the same curve.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ubp::training {

enum class LrDecay { kCosine, kMultistep, kConstant };
// "cosine" | "multistep" | "constant"; throws std::invalid_argument naming the accepted ones.
LrDecay lr_decay_from_string(const std::string& name);

struct LrScheduleParams {
  LrDecay decay = LrDecay::kCosine;
  double base_lr = 0.1;
  int64_t total_steps = 1;
  int64_t steps_per_epoch = 1;
  int64_t warmup_steps = 0;
  double warmup_start_factor = 0.01;
  std::vector<int64_t> milestones;  // epochs, multistep only
  double gamma = 0.1;
  int64_t restart_step = 0;  // 0: no restart
};

class LrSchedule {
 public:
  // Throws std::invalid_argument for non-positive step counts or a negative rate.
  explicit LrSchedule(LrScheduleParams params);
  double at(int64_t step) const;
  const LrScheduleParams& params() const { return p_; }

 private:
  LrScheduleParams p_;
};

}  // namespace ubp::training

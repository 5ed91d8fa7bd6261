#include "training/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ubp::training {

LrDecay lr_decay_from_string(const std::string& name) {
  if (name == "cosine") return LrDecay::kCosine;
  if (name == "multistep") return LrDecay::kMultistep;
  if (name == "constant") return LrDecay::kConstant;
  throw std::invalid_argument("unknown learning-rate schedule '" + name +
                              "'; accepted: cosine, multistep, constant");
}

LrSchedule::LrSchedule(LrScheduleParams params) : p_(std::move(params)) {
  if (p_.total_steps < 1 || p_.steps_per_epoch < 1) {
    throw std::invalid_argument("learning-rate schedule: total_steps and steps_per_epoch must be >= 1");
  }
  if (!(p_.base_lr >= 0) || p_.warmup_steps < 0) {
    throw std::invalid_argument("learning-rate schedule: lr and warm-up must be >= 0");
  }
  // A warm-up as long as the phase would leave the cosine nothing to decay over.
  p_.warmup_steps = std::min(p_.warmup_steps, p_.total_steps - 1);
  std::sort(p_.milestones.begin(), p_.milestones.end());
  if (p_.restart_step < 0 || p_.restart_step >= p_.total_steps) p_.restart_step = 0;
  if (p_.restart_step > 0 && p_.decay != LrDecay::kCosine) {
    throw std::invalid_argument("learning-rate schedule: a restart needs the cosine decay");
  }
  if (p_.restart_step > 0 && p_.restart_step <= p_.warmup_steps) {
    throw std::invalid_argument("learning-rate schedule: the restart must come after the warm-up");
  }
}

double LrSchedule::at(int64_t step) const {
  const int64_t t = std::clamp<int64_t>(step, 0, p_.total_steps);
  if (t < p_.warmup_steps) {
    const double x = static_cast<double>(t) / static_cast<double>(p_.warmup_steps);
    return p_.base_lr * (p_.warmup_start_factor + (1.0 - p_.warmup_start_factor) * x);
  }
  switch (p_.decay) {
    case LrDecay::kConstant:
      return p_.base_lr;
    case LrDecay::kMultistep: {
      const int64_t epoch = t / p_.steps_per_epoch;
      const auto passed = std::upper_bound(p_.milestones.begin(), p_.milestones.end(), epoch) -
                          p_.milestones.begin();
      return p_.base_lr * std::pow(p_.gamma, static_cast<double>(passed));
    }
    case LrDecay::kCosine: {
      // The cosine runs over [begin, end): the whole phase after the warm-up, or one of the two
      // halves a restart splits it into.
      int64_t begin = p_.warmup_steps, end = p_.total_steps;
      if (p_.restart_step > 0) {
        if (t < p_.restart_step) {
          end = p_.restart_step;
        } else {
          begin = p_.restart_step;
        }
      }
      const double x = static_cast<double>(t - begin) / static_cast<double>(end - begin);
      return p_.base_lr * 0.5 * (1.0 + std::cos(M_PI * x));
    }
  }
  return p_.base_lr;
}

}  // namespace ubp::training

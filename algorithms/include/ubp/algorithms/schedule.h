// Sparsity schedules for gradual pruning (docs/method.md section 5).
//
// Parameters: kind, initial sparsity s_0, final sparsity s_f, start step t_0, end step t_1,
// update period k ("every"), power p (cubic only) and a freeze step t_z. "Step" is whatever
// unit the caller counts (optimizer steps or epochs); steps are integers.
//
// Ramp, for t_0 <= t < t_1 (x = (t - t_0) / (t_1 - t_0)):
//   cubic    s(t) = s_f + (s_0 - s_f) * (1 - x)^p        (Zhu & Gupta 2017; p = 3 by default)
//   linear   s(t) = s_f + (s_0 - s_f) * (1 - x)           (the same with p = 1)
//   constant s(t) = s_f for every step (one-shot: the first mask already has the target;
//            s_0 and p are ignored)
// Outside the ramp: s(t) = s_0 for t < t_0 and s(t) = s_f for t >= t_1 (exactly s_f, no
// rounding). If t_0 == t_1 the schedule is a single jump from s_0 to s_f at t_0.
//
// Updates every k steps: the sparsity only changes at the update points
//   U = { t_0 + j*k : j >= 0 }  union  { t_1 },
// between two update points it is constant, equal to the ramp evaluated at the last update
// point <= t. t_1 is always an update point, so s_f is reached exactly at t_1 even when
// t_1 - t_0 is not a multiple of k. After t_1 the update points t_0 + j*k continue (the mask
// is re-selected at sparsity s_f) until the freeze step.
//
// Freeze: mask_update_due(t) is true iff t is an update point and t <= t_z; frozen(t) is true
// iff t > t_z (the mask chosen at the last update point <= t_z is kept from then on). t_z
// defaults to t_1 (ramp, then fine-tune with a fixed mask) and must be >= t_1, since the
// target would otherwise never be reached; use kNeverFreeze for "never frozen".
//
// If s_f >= s_0 the schedule is non-decreasing in t for every kind and power.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace ubp::algorithms {

enum class ScheduleKind { kConstant, kLinear, kCubic };
// "constant" | "linear" | "cubic"; throws std::invalid_argument naming the accepted values.
ScheduleKind schedule_kind_from_string(const std::string& name);
const char* to_string(ScheduleKind kind);

struct ScheduleParams {
  ScheduleKind kind = ScheduleKind::kCubic;
  double initial_sparsity = 0.0;  // s_0 in [0, 1]
  double final_sparsity = 0.8;    // s_f in [0, 1]
  int64_t start_step = 0;         // t_0 >= 0
  int64_t end_step = 0;           // t_1 >= t_0
  int64_t every = 1;              // k >= 1
  double power = 3.0;             // p > 0, finite; used by kCubic only
  std::optional<int64_t> freeze_step;  // t_z >= t_1; nullopt = t_1
};

class SparsitySchedule {
 public:
  static constexpr int64_t kNeverFreeze = std::numeric_limits<int64_t>::max();

  // Validates (std::invalid_argument naming the parameter, its value and what is accepted).
  explicit SparsitySchedule(const ScheduleParams& params);

  // Target sparsity in effect at `step` (any integer; steps before t_0 give s_0).
  double sparsity(int64_t step) const;
  // The un-quantised ramp at a real-valued time t (no every-k steps); sparsity(step) equals
  // ramp(last update point <= step). Exposed for tests and plots.
  double ramp(double t) const;

  bool is_update_point(int64_t step) const;  // step in U (freeze ignored)
  bool mask_update_due(int64_t step) const;  // is_update_point(step) && step <= freeze_step()
  bool frozen(int64_t step) const;           // step > freeze_step()
  // Last update point <= step, or nullopt when step < t_0.
  std::optional<int64_t> last_update_point(int64_t step) const;

  int64_t freeze_step() const { return freeze_; }
  const ScheduleParams& params() const { return p_; }

 private:
  ScheduleParams p_;
  int64_t freeze_ = 0;
};

}  // namespace ubp::algorithms

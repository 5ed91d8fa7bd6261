// Sparsity schedules: constant, linear and cubic (Zhu & Gupta) ramps, quantised to update points
// every k steps, with a freeze step (see schedule.h for the exact rules).
#include "ubp/algorithms/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ubp::algorithms {
namespace {

std::string fmt(double v) {
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument("sparsity schedule: " + what);
}

}  // namespace

ScheduleKind schedule_kind_from_string(const std::string& name) {
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "linear") return ScheduleKind::kLinear;
  if (name == "cubic") return ScheduleKind::kCubic;
  throw std::invalid_argument("unknown sparsity schedule '" + name +
                              "' (expected constant, linear or cubic)");
}

const char* to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant:
      return "constant";
    case ScheduleKind::kLinear:
      return "linear";
    case ScheduleKind::kCubic:
      return "cubic";
  }
  return "unknown";
}

SparsitySchedule::SparsitySchedule(const ScheduleParams& params) : p_(params) {
  if (p_.kind != ScheduleKind::kConstant && p_.kind != ScheduleKind::kLinear &&
      p_.kind != ScheduleKind::kCubic) {
    fail("unknown kind " + std::to_string(static_cast<int>(p_.kind)) +
         " (expected constant, linear or cubic)");
  }
  if (!(p_.initial_sparsity >= 0.0 && p_.initial_sparsity <= 1.0)) {
    fail("initial_sparsity must be in [0, 1], got " + fmt(p_.initial_sparsity));
  }
  if (!(p_.final_sparsity >= 0.0 && p_.final_sparsity <= 1.0)) {
    fail("final_sparsity must be in [0, 1], got " + fmt(p_.final_sparsity));
  }
  if (p_.start_step < 0) fail("start_step must be >= 0, got " + std::to_string(p_.start_step));
  if (p_.end_step < p_.start_step) {
    fail("end_step (" + std::to_string(p_.end_step) + ") must be >= start_step (" +
         std::to_string(p_.start_step) + ")");
  }
  if (p_.every < 1) fail("every must be >= 1, got " + std::to_string(p_.every));
  if (!(p_.power > 0.0) || !std::isfinite(p_.power)) {
    fail("power must be a finite number > 0, got " + fmt(p_.power));
  }
  freeze_ = p_.freeze_step.value_or(p_.end_step);
  if (freeze_ < p_.end_step) {
    fail("freeze_step (" + std::to_string(freeze_) + ") must be >= end_step (" +
         std::to_string(p_.end_step) + "), otherwise final_sparsity is never reached");
  }
}

double SparsitySchedule::ramp(double t) const {
  const double s0 = p_.initial_sparsity, sf = p_.final_sparsity;
  if (p_.kind == ScheduleKind::kConstant) return sf;
  const double t0 = static_cast<double>(p_.start_step), t1 = static_cast<double>(p_.end_step);
  if (t >= t1) return sf;  // checked first: with t_0 == t_1 the jump happens at t_0
  if (t <= t0) return s0;
  const double x = (t - t0) / (t1 - t0);  // in (0, 1)
  const double power = p_.kind == ScheduleKind::kLinear ? 1.0 : p_.power;
  const double s = sf + (s0 - sf) * std::pow(1.0 - x, power);
  // Stay between the endpoints whatever the rounding.
  return std::clamp(s, std::min(s0, sf), std::max(s0, sf));
}

std::optional<int64_t> SparsitySchedule::last_update_point(int64_t step) const {
  if (step < p_.start_step) return std::nullopt;
  // t_0 + floor((step - t_0) / k) * k, plus t_1 when it lies in between.
  const int64_t periodic = p_.start_step + ((step - p_.start_step) / p_.every) * p_.every;
  if (step >= p_.end_step && periodic < p_.end_step) return p_.end_step;
  return periodic;
}

bool SparsitySchedule::is_update_point(int64_t step) const {
  if (step < p_.start_step) return false;
  return step == p_.end_step || (step - p_.start_step) % p_.every == 0;
}

double SparsitySchedule::sparsity(int64_t step) const {
  if (p_.kind == ScheduleKind::kConstant) return p_.final_sparsity;
  const std::optional<int64_t> u = last_update_point(step);
  if (!u) return p_.initial_sparsity;
  return ramp(static_cast<double>(*u));
}

bool SparsitySchedule::mask_update_due(int64_t step) const {
  return is_update_point(step) && step <= freeze_;
}

bool SparsitySchedule::frozen(int64_t step) const { return step > freeze_; }

}  // namespace ubp::algorithms

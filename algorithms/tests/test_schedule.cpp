// Sparsity schedules (schedule.h): formulas, endpoints, every-k steps, freeze, validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "ubp/algorithms/schedule.h"

namespace ubp::algorithms {
namespace {

ScheduleParams params(ScheduleKind kind, double s0, double sf, int64_t t0, int64_t t1,
                      int64_t every = 1, double power = 3.0) {
  ScheduleParams p;
  p.kind = kind;
  p.initial_sparsity = s0;
  p.final_sparsity = sf;
  p.start_step = t0;
  p.end_step = t1;
  p.every = every;
  p.power = power;
  return p;
}

// Zhu & Gupta written out independently of the implementation, at integer time t.
double zhu_gupta(double s0, double sf, double t0, double t1, double t, double p) {
  if (t <= t0) return s0;
  if (t >= t1) return sf;
  return sf + (s0 - sf) * std::pow(1.0 - (t - t0) / (t1 - t0), p);
}

void expect_invalid(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Schedule, KindNamesRoundTrip) {
  for (ScheduleKind k : {ScheduleKind::kConstant, ScheduleKind::kLinear, ScheduleKind::kCubic}) {
    EXPECT_EQ(schedule_kind_from_string(to_string(k)), k);
  }
  expect_invalid([] { schedule_kind_from_string("exponential"); }, "constant, linear or cubic");
}

TEST(Schedule, CubicMatchesZhuGupta) {
  const SparsitySchedule s(params(ScheduleKind::kCubic, 0.0, 0.8, 0, 100));
  EXPECT_DOUBLE_EQ(s.sparsity(50), 0.7);  // 0.8 - 0.8 * 0.5^3
  for (int64_t t = -5; t <= 110; ++t) {
    EXPECT_DOUBLE_EQ(s.sparsity(t), zhu_gupta(0.0, 0.8, 0, 100, static_cast<double>(t), 3.0)) << t;
  }
  const SparsitySchedule offset(params(ScheduleKind::kCubic, 0.1, 0.9, 20, 220));
  for (int64_t t = 0; t <= 300; t += 7) {
    EXPECT_NEAR(offset.sparsity(t), zhu_gupta(0.1, 0.9, 20, 220, static_cast<double>(t), 3.0), 1e-15)
        << t;
  }
}

TEST(Schedule, LinearInterpolates) {
  const SparsitySchedule s(params(ScheduleKind::kLinear, 0.0, 0.8, 0, 100, 1, /*power ignored*/ 7.0));
  EXPECT_DOUBLE_EQ(s.sparsity(25), 0.2);
  EXPECT_DOUBLE_EQ(s.sparsity(50), 0.4);
  EXPECT_NEAR(s.sparsity(75), 0.6, 1e-15);
  // Linear == cubic with power 1.
  const SparsitySchedule p1(params(ScheduleKind::kCubic, 0.0, 0.8, 0, 100, 1, 1.0));
  for (int64_t t = 0; t <= 100; ++t) EXPECT_DOUBLE_EQ(s.sparsity(t), p1.sparsity(t)) << t;
}

TEST(Schedule, EndpointsAreExact) {
  for (ScheduleKind k : {ScheduleKind::kLinear, ScheduleKind::kCubic}) {
    for (int64_t every : {1, 3, 7, 1000}) {
      const SparsitySchedule s(params(k, 0.05, 0.9, 10, 110, every));
      for (int64_t t : {-100, 0, 5, 9, 10}) EXPECT_EQ(s.sparsity(t), 0.05) << to_string(k) << " " << t;
      for (int64_t t : {110, 111, 500, 1000000}) EXPECT_EQ(s.sparsity(t), 0.9) << to_string(k) << " " << t;
    }
  }
}

TEST(Schedule, NonDecreasingWhenFinalIsAtLeastInitial) {
  for (ScheduleKind k : {ScheduleKind::kConstant, ScheduleKind::kLinear, ScheduleKind::kCubic}) {
    for (int64_t every : {1, 4, 9}) {
      for (double power : {0.5, 1.0, 3.0, 6.0}) {
        const SparsitySchedule s(params(k, 0.2, 0.95, 3, 203, every, power));
        double prev = s.sparsity(-1);
        for (int64_t t = 0; t <= 260; ++t) {
          const double v = s.sparsity(t);
          EXPECT_GE(v, prev) << to_string(k) << " every=" << every << " p=" << power << " t=" << t;
          EXPECT_GE(v, 0.2);
          EXPECT_LE(v, 0.95);
          prev = v;
        }
      }
    }
  }
  // And non-increasing when s_f < s_0.
  const SparsitySchedule down(params(ScheduleKind::kCubic, 0.9, 0.3, 0, 50, 5));
  for (int64_t t = 1; t <= 60; ++t) EXPECT_LE(down.sparsity(t), down.sparsity(t - 1)) << t;
  EXPECT_EQ(down.sparsity(50), 0.3);
}

TEST(Schedule, ChangesOnlyAtUpdatePointsEveryK) {
  // t_1 - t_0 = 100 is not a multiple of k = 30: update points 10, 40, 70, 100, then 110 (= t_1).
  const SparsitySchedule s(params(ScheduleKind::kCubic, 0.0, 0.8, 10, 110, 30));
  for (int64_t t = 0; t <= 200; ++t) {
    const bool expected_point = t >= 10 && ((t - 10) % 30 == 0 || t == 110);
    EXPECT_EQ(s.is_update_point(t), expected_point) << t;
    if (t > 0 && !expected_point) {
      EXPECT_EQ(s.sparsity(t), s.sparsity(t - 1)) << "changed at " << t;
    }
    const auto u = s.last_update_point(t);
    if (t < 10) {
      EXPECT_FALSE(u.has_value());
    } else {
      ASSERT_TRUE(u.has_value());
      EXPECT_LE(*u, t);
      EXPECT_TRUE(s.is_update_point(*u));
      EXPECT_DOUBLE_EQ(s.sparsity(t), s.ramp(static_cast<double>(*u)));
    }
  }
  EXPECT_DOUBLE_EQ(s.sparsity(39), zhu_gupta(0, 0.8, 10, 110, 10, 3));
  EXPECT_DOUBLE_EQ(s.sparsity(40), zhu_gupta(0, 0.8, 10, 110, 40, 3));
  EXPECT_DOUBLE_EQ(s.sparsity(109), zhu_gupta(0, 0.8, 10, 110, 100, 3));
  EXPECT_LT(s.sparsity(109), 0.8);
  EXPECT_EQ(s.sparsity(110), 0.8);  // reached exactly at t_1 although 110 is not 10 + j*30
  EXPECT_EQ(*s.last_update_point(115), 110);
  EXPECT_EQ(*s.last_update_point(130), 130);
}

TEST(Schedule, FreezeDefaultsToTheEndStep) {
  const SparsitySchedule s(params(ScheduleKind::kCubic, 0.0, 0.8, 0, 100, 10));
  EXPECT_EQ(s.freeze_step(), 100);
  EXPECT_FALSE(s.mask_update_due(-1));
  EXPECT_TRUE(s.mask_update_due(0));
  EXPECT_FALSE(s.mask_update_due(5));
  EXPECT_TRUE(s.mask_update_due(90));
  EXPECT_TRUE(s.mask_update_due(100));  // the last update, at s_f
  EXPECT_FALSE(s.frozen(100));
  EXPECT_TRUE(s.frozen(101));
  EXPECT_FALSE(s.mask_update_due(110));
  EXPECT_TRUE(s.is_update_point(110));
  EXPECT_EQ(s.sparsity(1000), 0.8);
}

TEST(Schedule, LaterFreezeKeepsUpdatingAtTheFinalSparsity) {
  ScheduleParams p = params(ScheduleKind::kLinear, 0.0, 0.5, 0, 100, 25);
  p.freeze_step = 160;
  const SparsitySchedule s(p);
  int updates_after_end = 0;
  for (int64_t t = 101; t <= 300; ++t) {
    if (s.mask_update_due(t)) {
      ++updates_after_end;
      EXPECT_LE(t, 160);
      EXPECT_EQ(s.sparsity(t), 0.5);
    }
    EXPECT_EQ(s.frozen(t), t > 160) << t;
  }
  EXPECT_EQ(updates_after_end, 2);  // 125, 150

  p.freeze_step = SparsitySchedule::kNeverFreeze;
  const SparsitySchedule never(p);
  EXPECT_FALSE(never.frozen(std::numeric_limits<int64_t>::max() - 1));
  EXPECT_TRUE(never.mask_update_due(1000000));
}

TEST(Schedule, PowerControlsHowEarlyThePruningHappens) {
  // With s_f > s_0, a larger power prunes faster early on; every power meets the endpoints.
  const SparsitySchedule p1(params(ScheduleKind::kCubic, 0.0, 0.9, 0, 100, 1, 1.0));
  const SparsitySchedule p3(params(ScheduleKind::kCubic, 0.0, 0.9, 0, 100, 1, 3.0));
  const SparsitySchedule p5(params(ScheduleKind::kCubic, 0.0, 0.9, 0, 100, 1, 5.0));
  for (int64_t t = 1; t < 100; ++t) {
    EXPECT_LT(p1.sparsity(t), p3.sparsity(t)) << t;
    EXPECT_LT(p3.sparsity(t), p5.sparsity(t)) << t;
  }
  EXPECT_DOUBLE_EQ(p5.sparsity(50), 0.9 - 0.9 * std::pow(0.5, 5));
  const SparsitySchedule half(params(ScheduleKind::kCubic, 0.0, 0.9, 0, 100, 1, 0.5));
  EXPECT_DOUBLE_EQ(half.sparsity(75), 0.9 - 0.9 * 0.5);
  for (const auto* s : {&p1, &p3, &p5, &half}) {
    EXPECT_EQ(s->sparsity(0), 0.0);
    EXPECT_EQ(s->sparsity(100), 0.9);
  }
}

TEST(Schedule, DegenerateRampIsOneJump) {
  for (ScheduleKind k : {ScheduleKind::kLinear, ScheduleKind::kCubic}) {
    const SparsitySchedule s(params(k, 0.1, 0.8, 50, 50, 10));
    EXPECT_EQ(s.sparsity(49), 0.1);
    EXPECT_EQ(s.sparsity(50), 0.8);
    EXPECT_EQ(s.sparsity(51), 0.8);
    EXPECT_TRUE(s.mask_update_due(50));
    EXPECT_FALSE(s.mask_update_due(49));
    EXPECT_FALSE(s.mask_update_due(60));  // frozen after t_1 = 50 by default
    EXPECT_TRUE(s.frozen(51));
  }
  // From step 0: one-shot pruning at the start.
  const SparsitySchedule zero(params(ScheduleKind::kCubic, 0.0, 0.9, 0, 0));
  EXPECT_EQ(zero.sparsity(0), 0.9);
  EXPECT_TRUE(zero.mask_update_due(0));
  EXPECT_TRUE(zero.frozen(1));
}

TEST(Schedule, ConstantIsTheFinalSparsityThroughout) {
  ScheduleParams p = params(ScheduleKind::kConstant, 0.3, 0.75, 10, 40, 10);
  const SparsitySchedule s(p);
  for (int64_t t : {-1, 0, 10, 15, 40, 1000}) EXPECT_EQ(s.sparsity(t), 0.75) << t;
  EXPECT_FALSE(s.mask_update_due(0));  // masks start at t_0
  EXPECT_TRUE(s.mask_update_due(10));
  EXPECT_TRUE(s.mask_update_due(20));
  EXPECT_FALSE(s.mask_update_due(25));
  EXPECT_TRUE(s.mask_update_due(40));
  EXPECT_TRUE(s.frozen(41));
}

TEST(Schedule, RejectsBadParameters) {
  const auto bad = [](auto edit) {
    return [edit] {
      ScheduleParams p = params(ScheduleKind::kCubic, 0.0, 0.8, 10, 100, 5);
      edit(p);
      SparsitySchedule s(p);
    };
  };
  expect_invalid(bad([](ScheduleParams& p) { p.initial_sparsity = -0.1; }),
                 "initial_sparsity must be in [0, 1], got -0.1");
  expect_invalid(bad([](ScheduleParams& p) { p.final_sparsity = 1.2; }),
                 "final_sparsity must be in [0, 1], got 1.2");
  expect_invalid(bad([](ScheduleParams& p) { p.final_sparsity = std::nan(""); }), "final_sparsity");
  expect_invalid(bad([](ScheduleParams& p) { p.start_step = -3; }), "start_step must be >= 0, got -3");
  expect_invalid(bad([](ScheduleParams& p) { p.end_step = 9; }),
                 "end_step (9) must be >= start_step (10)");
  expect_invalid(bad([](ScheduleParams& p) { p.every = 0; }), "every must be >= 1, got 0");
  expect_invalid(bad([](ScheduleParams& p) { p.power = 0; }), "power must be a finite number > 0");
  expect_invalid(bad([](ScheduleParams& p) { p.power = std::numeric_limits<double>::infinity(); }),
                 "power");
  expect_invalid(bad([](ScheduleParams& p) { p.freeze_step = 99; }),
                 "freeze_step (99) must be >= end_step (100)");
}

}  // namespace
}  // namespace ubp::algorithms

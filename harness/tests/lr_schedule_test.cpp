// The learning-rate curves: warm-up endpoints, cosine endpoints and monotonicity, multistep
// drops at the milestones.
#include "training/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ubp::training {
namespace {

LrSchedule cosine(int64_t total, int64_t warmup) {
  LrScheduleParams p;
  p.base_lr = 0.4;
  p.total_steps = total;
  p.steps_per_epoch = 10;
  p.warmup_steps = warmup;
  return LrSchedule(p);
}

TEST(LrSchedule, CosineStartsAtTheBaseRateAndReachesZeroAtTheEnd) {
  const LrSchedule s = cosine(100, 0);
  EXPECT_DOUBLE_EQ(s.at(0), 0.4);
  EXPECT_NEAR(s.at(50), 0.2, 1e-12);
  EXPECT_NEAR(s.at(100), 0.0, 1e-12);
  for (int64_t t = 1; t <= 100; ++t) EXPECT_LE(s.at(t), s.at(t - 1)) << t;
}

TEST(LrSchedule, ARestartSplitsTheCosineIntoTwoThatEachStartAtTheBaseRate) {
  LrScheduleParams p;
  p.base_lr = 0.4;
  p.total_steps = 100;
  p.restart_step = 40;
  const LrSchedule s(p);
  EXPECT_DOUBLE_EQ(s.at(0), 0.4);
  EXPECT_NEAR(s.at(20), 0.2, 1e-12);  // half-way through the first cosine, over [0, 40)
  EXPECT_LT(s.at(39), 0.01);
  EXPECT_DOUBLE_EQ(s.at(40), 0.4);    // the second starts afresh ...
  EXPECT_NEAR(s.at(70), 0.2, 1e-12);  // ... and runs over [40, 100)
  EXPECT_NEAR(s.at(100), 0.0, 1e-12);
  p.decay = LrDecay::kConstant;
  EXPECT_THROW(LrSchedule{p}, std::invalid_argument);
  p.decay = LrDecay::kCosine;
  p.warmup_steps = 50;
  EXPECT_THROW(LrSchedule{p}, std::invalid_argument);
}

TEST(LrSchedule, WarmUpRisesLinearlyFromOnePercentToTheBaseRate) {
  const LrSchedule s = cosine(100, 10);
  EXPECT_NEAR(s.at(0), 0.004, 1e-12);
  EXPECT_NEAR(s.at(5), 0.4 * (0.01 + 0.99 * 0.5), 1e-12);
  EXPECT_DOUBLE_EQ(s.at(10), 0.4);  // the cosine begins where the warm-up ends
  for (int64_t t = 1; t <= 10; ++t) EXPECT_GT(s.at(t), s.at(t - 1)) << t;
  EXPECT_NEAR(s.at(100), 0.0, 1e-12);
}

TEST(LrSchedule, MultistepMultipliesByGammaAtEachMilestoneEpoch) {
  LrScheduleParams p;
  p.decay = LrDecay::kMultistep;
  p.base_lr = 1.0;
  p.total_steps = 100;
  p.steps_per_epoch = 10;
  p.milestones = {6, 3};  // any order
  p.gamma = 0.5;
  const LrSchedule s(p);
  EXPECT_DOUBLE_EQ(s.at(29), 1.0);
  EXPECT_DOUBLE_EQ(s.at(30), 0.5);
  EXPECT_DOUBLE_EQ(s.at(59), 0.5);
  EXPECT_DOUBLE_EQ(s.at(60), 0.25);
  EXPECT_DOUBLE_EQ(s.at(99), 0.25);
}

TEST(LrSchedule, ConstantStaysAndBadParametersAreRefused) {
  LrScheduleParams p;
  p.decay = lr_decay_from_string("constant");
  p.base_lr = 0.3;
  p.total_steps = 7;
  const LrSchedule s(p);
  EXPECT_DOUBLE_EQ(s.at(0), 0.3);
  EXPECT_DOUBLE_EQ(s.at(6), 0.3);
  EXPECT_THROW(lr_decay_from_string("step"), std::invalid_argument);
  p.total_steps = 0;
  EXPECT_THROW(LrSchedule{p}, std::invalid_argument);
}

}  // namespace
}  // namespace ubp::training

// Weight importance (importance.h).
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "ubp/algorithms/importance.h"

namespace ubp::algorithms {
namespace {

Matrix hand_made() {
  Matrix w(2, 3);
  w(0, 0) = -1.5f; w(0, 1) = 0.0f;  w(0, 2) = 2.0f;
  w(1, 0) = 0.25f; w(1, 1) = -3.0f; w(1, 2) = -0.5f;
  return w;
}

TEST(Importance, L1IsTheAbsoluteValue) {
  const Matrix imp = importance(hand_made().view(), Norm::kL1);
  ASSERT_EQ(imp.rows, 2);
  ASSERT_EQ(imp.cols, 3);
  const std::vector<float> expected = {1.5f, 0.0f, 2.0f, 0.25f, 3.0f, 0.5f};
  EXPECT_EQ(imp.values, expected);
}

TEST(Importance, L2IsTheSquare) {
  const Matrix imp = importance(hand_made().view(), Norm::kL2);
  const std::vector<float> expected = {2.25f, 0.0f, 4.0f, 0.0625f, 9.0f, 0.25f};
  EXPECT_EQ(imp.values, expected);
}

TEST(Importance, RespectsTheRowStrideOfAView) {
  // A 2x2 window of a 2x4 buffer, starting at column 1.
  const std::vector<float> buffer = {9, -1, 2, 9, 9, 3, -4, 9};
  const MatrixView view{buffer.data() + 1, 2, 2, 4};
  const Matrix imp = importance(view, Norm::kL1);
  const std::vector<float> expected = {1, 2, 3, 4};
  EXPECT_EQ(imp.values, expected);
}

TEST(Importance, RejectsAStrideShorterThanARow) {
  const std::vector<float> buffer(8, 1.0f);
  EXPECT_THROW(importance(MatrixView{buffer.data(), 2, 4, 3}, Norm::kL1), std::invalid_argument);
}

TEST(NormNames, RoundTripAndRejectUnknownNames) {
  EXPECT_EQ(norm_from_string("l1"), Norm::kL1);
  EXPECT_EQ(norm_from_string("l2"), Norm::kL2);
  EXPECT_EQ(norm_from_string(to_string(Norm::kL1)), Norm::kL1);
  EXPECT_EQ(norm_from_string(to_string(Norm::kL2)), Norm::kL2);
  EXPECT_THROW(norm_from_string("l3"), std::invalid_argument);
  EXPECT_THROW(norm_from_string(""), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::algorithms

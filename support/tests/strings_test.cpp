#include "ubp/support/strings.h"

#include <gtest/gtest.h>

#include "ubp/support/error.h"

namespace ubp::support {
namespace {

using Strings = std::vector<std::string>;

TEST(Join, PutsTheSeparatorBetweenEveryTwoItems) {
  EXPECT_EQ(join({"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(join({"", "b"}, "|"), "|b");
  EXPECT_EQ(join({}), "");
  EXPECT_EQ(join({"only"}, " and "), "only");
}

TEST(Split, KeepsEveryFieldAndJoinUndoesIt) {
  EXPECT_EQ(split("a,,b", ','), (Strings{"a", "", "b"}));
  EXPECT_EQ(split("", ','), (Strings{""}));
  EXPECT_EQ(split("a,", ','), (Strings{"a", ""}));
  EXPECT_EQ(join(split("x:y::z", ':'), ":"), "x:y::z");
}

TEST(SplitCommaList, TrimsAndDropsEmptyItems) {
  EXPECT_EQ(split_comma_list(" dense, aligned,,\tunaligned "), (Strings{"dense", "aligned", "unaligned"}));
  EXPECT_EQ(split_comma_list(" , "), Strings{});
  EXPECT_EQ(trim("  a b\t"), "a b");
  EXPECT_EQ(trim(" \t "), "");
}

TEST(BlockShape, ParsesRowsByColumnsAndRefusesAnythingElse) {
  EXPECT_EQ(parse_block_shape("4x1"), std::make_pair(int64_t{4}, int64_t{1}));
  EXPECT_EQ(parse_block_shape(" 16 X 2 "), std::make_pair(int64_t{16}, int64_t{2}));
  for (const char* bad : {"", "4", "x1", "4x", "4x1x2", "-4x1", "4 1", "4x1a", "99999999999x1", "2147483648x1"}) {
    EXPECT_FALSE(parse_block_shape(bad)) << bad;
  }
  EXPECT_TRUE(parse_block_shape("2147483647x1"));
  EXPECT_FALSE(parse_block_shape(std::string(1000000, '7') + "x1"));  // long input: no recursion, no overflow
}

TEST(Error, ItsKindDecidesTheExitStatus) {
  for (const ErrorKind kind : {ErrorKind::kUsage, ErrorKind::kConfig, ErrorKind::kInput}) {
    EXPECT_EQ(exit_code(kind), 2) << to_string(kind);
  }
  EXPECT_EQ(exit_code(ErrorKind::kIo), 1);
  EXPECT_EQ(exit_code(ErrorKind::kInternal), 1);
  try {
    throw Error(ErrorKind::kInput, "file x.npy: not an npy file");
  } catch (const std::runtime_error& e) {  // callers that know only runtime_error still catch it
    const auto* error = dynamic_cast<const Error*>(&e);
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->kind(), ErrorKind::kInput);
    EXPECT_STREQ(e.what(), "file x.npy: not an npy file");
  }
}

}  // namespace
}  // namespace ubp::support

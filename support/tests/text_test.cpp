#include "ubp/support/text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "support/process.h"
#include "support/temp_dir.h"

namespace ubp::support {
namespace {

TEST(Excerpt, IsBoundedAndShowsControlCharacters) {
  EXPECT_EQ(excerpt("plain"), "plain");
  EXPECT_EQ(excerpt("a\nb\tc\x01"), "a\\nb\\tc\\x01");
  const std::string huge(1000000, '7');
  const std::string shown = excerpt(huge, 20);
  EXPECT_EQ(shown, std::string(20, '7') + "... (1000000 bytes)");
  EXPECT_LE(excerpt(std::string(1000000, '\x01'), 20).size(), 4 * 20 + 30u);
}

TEST(Utf8, AcceptsWellFormedTextAndFindsTheFirstBadByte) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  size_t at = 0;
  EXPECT_FALSE(is_valid_utf8("ok\xff", &at));
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // cut short
}

TEST(ParseInt64, ReadsDecimalAndSaysWhenItDoesNotFit) {
  int64_t v = 0;
  EXPECT_EQ(parse_int64("-12", v), ParseStatus::kOk);
  EXPECT_EQ(v, -12);
  EXPECT_EQ(parse_int64("+7", v), ParseStatus::kOk);
  EXPECT_EQ(v, 7);
  EXPECT_EQ(parse_int64("9223372036854775807", v), ParseStatus::kOk);
  EXPECT_EQ(parse_int64("9223372036854775808", v), ParseStatus::kOutOfRange);
  EXPECT_EQ(parse_int64(std::string(400, '9'), v), ParseStatus::kOutOfRange);
  EXPECT_EQ(parse_int64(std::string(100000, '1'), v), ParseStatus::kOutOfRange);
  for (const char* bad : {"", "+", "-", "+-1", "1.0", "12a", " 1", "0x10"}) {
    EXPECT_EQ(parse_int64(bad, v), ParseStatus::kSyntax) << bad;
  }
  EXPECT_EQ(parse_hex_int64("ff", v), ParseStatus::kOk);
  EXPECT_EQ(v, 255);
  EXPECT_EQ(parse_hex_int64(std::string(17, 'f'), v), ParseStatus::kOutOfRange);
  EXPECT_EQ(parse_hex_int64("fg", v), ParseStatus::kSyntax);
}

TEST(ParseDouble, ReadsDecimalNumbersAndRefusesWhatDoesNotFit) {
  double v = 0;
  for (const auto& [text, value] : std::vector<std::pair<std::string, double>>{
           {"0.5", 0.5}, {"-3", -3}, {"+2.", 2}, {".25", 0.25}, {"1e-3", 1e-3}, {"2E+2", 200}, {"0", 0},
           {"-0.0", -0.0}, {"1.7976931348623157e308", 1.7976931348623157e308}}) {
    EXPECT_EQ(parse_double(text, v), ParseStatus::kOk) << text;
    EXPECT_EQ(v, value) << text;
  }
  EXPECT_EQ(parse_double("1e999", v), ParseStatus::kOutOfRange);
  EXPECT_EQ(parse_double("-1e999", v), ParseStatus::kOutOfRange);
  EXPECT_EQ(parse_double("1e-400", v), ParseStatus::kOutOfRange);
  EXPECT_EQ(parse_double(std::string(100000, '9'), v), ParseStatus::kOutOfRange);
  EXPECT_EQ(parse_double("0." + std::string(100000, '0') + "1", v), ParseStatus::kOutOfRange);
  for (const char* bad : {"", ".", "e5", "1e", "1e+", "inf", "nan", "0x1p3", "1.2.3", "--1", "1 "}) {
    EXPECT_EQ(parse_double(bad, v), ParseStatus::kSyntax) << bad;
  }
}

// The quoted words go through a real bash and must come out byte for byte.
TEST(ShellQuote, EveryByteButNulSurvivesBash) {
  testing::TempDir dir;
  std::string every;
  for (int c = 1; c < 256; ++c) every += static_cast<char>(c);
  const std::vector<std::string> words = {"plain", "", "it's", "$HOME `id` $(id)", "a\nb", "tab\there",
                                          "#comment", "back\\slash", every};
  std::string script = "set -eu\n";
  for (size_t i = 0; i < words.size(); ++i) {
    script += "printf '%s' " + shell_quote(words[i]) + " > " + dir.file("sh" + std::to_string(i)) + "\n";
    script += "printf '%s' " + bash_quote(words[i]) + " > " + dir.file("bash" + std::to_string(i)) + "\n";
    EXPECT_FALSE(bash_quote(words[i]).find('\n') != std::string::npos) << "bash_quote keeps one line";
  }
  const std::string path = dir.write("quote.sh", script);
  const auto result = testing::run_process({"bash", path}, dir.path().string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (size_t i = 0; i < words.size(); ++i) {
    EXPECT_EQ(testing::read_bytes(dir.file("sh" + std::to_string(i))), words[i]) << i;
    EXPECT_EQ(testing::read_bytes(dir.file("bash" + std::to_string(i))), words[i]) << i;
  }
  EXPECT_EQ(shell_quote("prune.block=[4,1]"), "'prune.block=[4,1]'");
  EXPECT_EQ(shell_quote("/abs/path-1.yaml"), "/abs/path-1.yaml");
  EXPECT_EQ(bash_quote("a\nb"), "$'a\\nb'");
}

}  // namespace
}  // namespace ubp::support

#include "config/schema.h"

#include <gtest/gtest.h>

#include "config/plan.h"
#include "support/temp_dir.h"
#include "ubp/support/strings.h"

namespace ubp::config {
namespace {

using ubp::testing::TempDir;

std::vector<ConfigIssue> issues_of(const std::string& yaml) {
  const ConfigDocument doc = load_config_text(yaml, "test.yaml");
  Json tree = doc.tree;
  tree.erase("sweep");
  return ubp_schema().validate(tree, doc);
}

const ConfigIssue* issue_for(const std::vector<ConfigIssue>& issues, const std::string& key) {
  for (const auto& issue : issues) {
    if (issue.key == key) return &issue;
  }
  return nullptr;
}

TEST(ConfigSchema, AcceptsAMinimalValidConfig) {
  EXPECT_TRUE(issues_of("experiment:\n  kind: selection\n").empty());
}

TEST(ConfigSchema, AnUnknownKeySuggestsTheClosestKnownKey) {
  const auto issues = issues_of("experiment:\n  kind: selection\nprune:\n  sparsty: 0.5\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "prune.sparsty");
  EXPECT_EQ(issues[0].where.describe(), "test.yaml:4:3");
  EXPECT_NE(issues[0].message.find("did you mean 'prune.sparsity'?"), std::string::npos) << issues[0].message;
  EXPECT_NE(issues[0].message.find("(accepted keys of 'prune': admm_epochs, allocation, block, "), std::string::npos) << "lists the section's keys";
}

TEST(ConfigSchema, AnUnknownSectionIsReportedOnce) {
  const auto issues = issues_of("experiment:\n  kind: selection\nprunning:\n  sparsity: 0.5\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "prunning");
  EXPECT_NE(issues[0].message.find("did you mean 'prune'?"), std::string::npos);
}

TEST(ConfigSchema, AWrongTypeNamesTheValueAndWhatIsAccepted) {
  const auto issues = issues_of("experiment:\n  kind: selection\nprune:\n  sparsity: high\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].where.describe(), "test.yaml:4:13");
  EXPECT_NE(issues[0].message.find("\"high\" is not a number"), std::string::npos);
  EXPECT_NE(issues[0].message.find("accepted: a number in [0, 1]"), std::string::npos);
}

// The pruner compiles prune.layer_regex with std::regex, whose libstdc++ compiler recurses once
// per character: a pattern of 100 000 characters used to reach it and overflow the stack.
TEST(ConfigSchema, ARegexLongerThanTheLimitIsRefusedBeforeAnythingCompilesIt) {
  const auto issues = issues_of("experiment:\n  kind: training\nprune:\n  layer_regex: \"" +
                                std::string(100000, '(') + "\"\n");
  const ConfigIssue* issue = issue_for(issues, "prune.layer_regex");
  ASSERT_NE(issue, nullptr) << "a 100000-character regex passed validation";
  EXPECT_EQ(issue->where.describe(), "test.yaml:4:16");
  EXPECT_NE(issue->message.find("is 100000 characters long"), std::string::npos) << issue->message;
  EXPECT_NE(issue->message.find("accepted: a string of at most 1000 characters"), std::string::npos) << issue->message;
  EXPECT_LT(issue->message.size(), 400u) << "the message quotes an excerpt, not the value";
  EXPECT_EQ(issue_for(issues_of("experiment:\n  kind: training\nprune:\n  layer_regex: \"" + std::string(1000, 'a') +
                                "\"\n"),
                      "prune.layer_regex"),
            nullptr);
}

TEST(ConfigSchema, AValueOutOfRangeIsRejected) {
  const auto issues = issues_of("experiment:\n  kind: selection\nprune:\n  sparsity: 1.5\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("1.5 is out of range"), std::string::npos);
}

TEST(ConfigSchema, AValueNotAmongTheAllowedOnesListsThem) {
  const auto issues = issues_of("experiment:\n  kind: selection\nprune:\n  method: alignd\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("not allowed (did you mean 'aligned'?)"), std::string::npos)
      << issues[0].message;
  EXPECT_NE(issues[0].message.find("one of: "), std::string::npos);
}

TEST(ConfigSchema, AMissingRequiredKeyIsReported) {
  const auto issues = issues_of("prune:\n  sparsity: 0.5\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key, "experiment.kind");
  EXPECT_NE(issues[0].message.find("required key is missing"), std::string::npos);
  EXPECT_NE(issues[0].message.find("selection"), std::string::npos);
}

TEST(ConfigSchema, ReportsEveryProblemTogether) {
  const auto issues = issues_of(
      "prune:\n  sparsity: 2\n  block: [0, 1]\n  norm: l3\n  colour: red\nselection:\n  rows: 1.5\n");
  EXPECT_NE(issue_for(issues, "experiment.kind"), nullptr);
  EXPECT_NE(issue_for(issues, "prune.sparsity"), nullptr);
  EXPECT_NE(issue_for(issues, "prune.block"), nullptr);
  EXPECT_NE(issue_for(issues, "prune.norm"), nullptr);
  EXPECT_NE(issue_for(issues, "prune.colour"), nullptr);
  EXPECT_NE(issue_for(issues, "selection.rows"), nullptr);
  EXPECT_EQ(issues.size(), 6u);
}

TEST(ConfigSchema, ASectionGivenAsAScalarIsAWrongType) {
  const auto issues = issues_of("experiment:\n  kind: selection\nprune: 0.5\n");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("is not a section"), std::string::npos);
}

TEST(ConfigSchema, BlockShapesAcceptAListOrAText) {
  EXPECT_TRUE(issues_of("experiment: {kind: selection}\nprune: {block: 2x1}\n").empty());
  EXPECT_TRUE(issues_of("experiment: {kind: selection}\nprune: {block: [8, 2]}\n").empty());
  EXPECT_FALSE(issues_of("experiment: {kind: selection}\nprune: {block: [4]}\n").empty());
  EXPECT_FALSE(issues_of("experiment: {kind: selection}\nprune: {block: 4x}\n").empty());
  EXPECT_FALSE(issues_of("experiment: {kind: selection}\nprune: {block: [4, 1.5]}\n").empty());
}

TEST(ConfigSchema, IntegersAreNotAcceptedWhereAStringIsExpectedAndViceVersa) {
  EXPECT_FALSE(issues_of("experiment: {kind: 3}\n").empty());
  EXPECT_FALSE(issues_of("experiment: {kind: selection, seed: \"3\"}\n").empty());
  EXPECT_FALSE(issues_of("experiment: {kind: selection, seed: -1}\n").empty());
}

TEST(ConfigSchema, ResolveFillsDefaultsAndCanonicalisesTypes) {
  const ConfigDocument doc =
      load_config_text("experiment: {kind: selection}\nprune: {sparsity: 1, block: 2x1}\n", "t.yaml");
  const nlohmann::json resolved = ubp_schema().resolve(doc.tree, "selection");
  EXPECT_TRUE(resolved["prune"]["sparsity"].is_number_float()) << "an int for a float key becomes a float";
  EXPECT_EQ(resolved["prune"]["block"], nlohmann::json::parse("[2,1]"));
  EXPECT_EQ(resolved["prune"]["method"], "aligned");
  EXPECT_EQ(resolved["selection"]["rows"], 512);
  EXPECT_EQ(resolved["experiment"]["seed"], 0);
}

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("sparsity", "sparsty"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

}  // namespace
}  // namespace ubp::config

namespace ubp::config {
namespace {

TEST(ConfigSchema, BlockShapeTextIsScannedWithoutRegex) {
  EXPECT_EQ(support::parse_block_shape("4x1"), std::make_pair(int64_t{4}, int64_t{1}));
  EXPECT_EQ(support::parse_block_shape(" 8 X 2 "), std::make_pair(int64_t{8}, int64_t{2}));
  for (const std::string bad : {"", "x", "4x", "x1", "4x1x", "4*1", "-4x1", "4.0x1", "99999999999x1"}) {
    EXPECT_FALSE(support::parse_block_shape(bad)) << bad;
  }
  EXPECT_FALSE(support::parse_block_shape(std::string(100000, '4') + "x1"));
  EXPECT_FALSE(support::parse_block_shape("4x" + std::string(100000, ' ') + "y"));
  const auto issues = issues_of("prune:\n  block: " + std::string(100000, '4') + "x1\n");
  const ConfigIssue* issue = issue_for(issues, "prune.block");
  ASSERT_NE(issue, nullptr);
  EXPECT_NE(issue->message.find("is not a block shape"), std::string::npos);
  EXPECT_LT(issue->message.size(), 400u) << "the value is quoted as an excerpt";
}

// A config of 200 000 unknown keys: every one is a problem, but only the first ones get a
// did-you-mean search and are listed; the rest are counted.
TEST(ConfigSchema, AFloodOfUnknownKeysIsListedBriefly) {
  std::string yaml = "experiment:\n  kind: selection\n";
  for (int i = 0; i < 90000; ++i) yaml += "unknown_key_" + std::to_string(i) + ": 1\n";
  try {
    load_config_text(yaml, "flood.yaml");
    const auto issues = issues_of(yaml);
    ASSERT_EQ(issues.size(), 51u);
    EXPECT_NE(issues.back().message.find("and 89950 more problems"), std::string::npos) << issues.back().message;
    EXPECT_THROW(throw ConfigError(issues), ConfigError);
  } catch (const ConfigError& e) {
    ADD_FAILURE() << "loading failed: " << e.what();
  }
}

}  // namespace
}  // namespace ubp::config

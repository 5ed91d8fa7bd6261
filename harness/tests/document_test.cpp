#include "config/document.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace ubp::config {
namespace {

using ubp::testing::TempDir;

ConfigIssue only_issue(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.issues().size(), 1u) << e.what();
    return e.issues().front();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return {};
}

TEST(ConfigDocument, ReadsScalarsWithYamlCoreTypes) {
  TempDir dir;
  const auto path = dir.write("a.yaml",
                              "a:\n  int: 3\n  float: 0.5\n  exp: 1e-3\n  yes: true\n  text: hello\n"
                              "  quoted: \"3\"\n  list: [4, 1]\n  empty:\n");
  const ConfigDocument doc = load_config(path);
  const Json& a = doc.tree["a"];
  EXPECT_TRUE(a["int"].is_number_integer());
  EXPECT_EQ(a["int"], 3);
  EXPECT_TRUE(a["float"].is_number_float());
  EXPECT_DOUBLE_EQ(a["exp"].get<double>(), 1e-3);
  EXPECT_EQ(a["yes"], true);
  EXPECT_EQ(a["text"], "hello");
  EXPECT_TRUE(a["quoted"].is_string()) << "a quoted scalar stays a string";
  EXPECT_EQ(a["list"], Json::parse("[4,1]"));
  EXPECT_TRUE(a["empty"].is_null());
}

TEST(ConfigDocument, RemembersTheLineAndColumnOfEveryKeyAndValue) {
  TempDir dir;
  const auto path = dir.write("a.yaml", "prune:\n  sparsity: 0.9\n  block: [4, 1]\n");
  const ConfigDocument doc = load_config(path);
  EXPECT_EQ(doc.key_location("prune.sparsity").describe(), path + ":2:3");
  EXPECT_EQ(doc.value_location("prune.sparsity").describe(), path + ":2:13");
  EXPECT_EQ(doc.value_location("prune.block").line, 3);
  // An unknown path falls back to its nearest known parent.
  EXPECT_EQ(doc.key_location("prune.nothing").describe(), path + ":1:1");
}

TEST(ConfigDocument, IncludesMergeInOrderAndTheIncludingFileWins) {
  TempDir dir;
  dir.write("base/one.yaml", "prune:\n  sparsity: 0.5\n  method: aligned\nlist: [1, 2, 3]\n");
  dir.write("base/two.yaml", "prune:\n  sparsity: 0.6\n  norm: l2\n");
  const auto top = dir.write("top.yaml",
                             "include: [base/one.yaml, base/two.yaml]\nprune:\n  norm: l1\nlist: [9]\n");
  const ConfigDocument doc = load_config(top);
  EXPECT_EQ(doc.tree["prune"]["sparsity"], 0.6) << "the later include overrides the earlier one";
  EXPECT_EQ(doc.tree["prune"]["method"], "aligned") << "maps merge key by key";
  EXPECT_EQ(doc.tree["prune"]["norm"], "l1") << "the including file overrides its includes";
  EXPECT_EQ(doc.tree["list"], Json::parse("[9]")) << "lists are replaced, not concatenated";
  EXPECT_FALSE(doc.tree.contains("include"));
  EXPECT_NE(doc.value_location("prune.sparsity").file.find("two.yaml"), std::string::npos);
}

TEST(ConfigDocument, IncludePathsAreRelativeToTheIncludingFile) {
  TempDir dir;
  dir.write("a/b/leaf.yaml", "x: 1\n");
  dir.write("a/mid.yaml", "include: b/leaf.yaml\ny: 2\n");
  const auto top = dir.write("top.yaml", "include: a/mid.yaml\n");
  const ConfigDocument doc = load_config(top);
  EXPECT_EQ(doc.tree["x"], 1);
  EXPECT_EQ(doc.tree["y"], 2);
}

TEST(ConfigDocument, AMissingIncludeNamesTheIncludingFileLineAndTheLookedUpPath) {
  TempDir dir;
  const auto top = dir.write("top.yaml", "prune:\n  sparsity: 0.5\ninclude: nowhere.yaml\n");
  const ConfigIssue issue = only_issue([&] { load_config(top); });
  EXPECT_EQ(issue.where.file, top);
  EXPECT_EQ(issue.where.line, 3);
  EXPECT_NE(issue.message.find("nowhere.yaml"), std::string::npos);
  EXPECT_NE(issue.message.find("not found"), std::string::npos);
}

TEST(ConfigDocument, AnIncludeCycleIsAnError) {
  TempDir dir;
  dir.write("a.yaml", "include: b.yaml\n");
  dir.write("b.yaml", "include: a.yaml\n");
  const ConfigIssue issue = only_issue([&] { load_config(dir.file("a.yaml")); });
  EXPECT_NE(issue.message.find("include cycle: a.yaml -> b.yaml -> a.yaml"), std::string::npos)
      << issue.message;
}

TEST(ConfigDocument, ASelfIncludeIsACycle) {
  TempDir dir;
  dir.write("a.yaml", "include: ./a.yaml\n");
  EXPECT_NE(only_issue([&] { load_config(dir.file("a.yaml")); }).message.find("cycle"), std::string::npos);
}

TEST(ConfigDocument, MalformedYamlGivesFileLineAndColumn) {
  TempDir dir;
  const auto path = dir.write("bad.yaml", "prune:\n  sparsity: [0.5, 0.7\n  block: 4\n");
  const ConfigIssue issue = only_issue([&] { load_config(path); });
  EXPECT_EQ(issue.where.file, path);
  EXPECT_GT(issue.where.line, 0);
  EXPECT_GT(issue.where.column, 0);
  EXPECT_NE(issue.message.find("malformed YAML"), std::string::npos);
}

TEST(ConfigDocument, MalformedYamlInAnIncludedFileNamesThatFile) {
  TempDir dir;
  const auto inner = dir.write("inner.yaml", "a: : b\n  - c\n");
  const auto top = dir.write("top.yaml", "include: inner.yaml\n");
  const ConfigIssue issue = only_issue([&] { load_config(top); });
  EXPECT_NE(issue.where.file.find("inner.yaml"), std::string::npos) << issue.format();
}

TEST(ConfigDocument, ATopLevelListIsRejected) {
  TempDir dir;
  const auto path = dir.write("list.yaml", "- a\n- b\n");
  EXPECT_NE(only_issue([&] { load_config(path); }).message.find("must be a mapping"), std::string::npos);
}

TEST(ConfigDocument, DuplicateKeysAreRejected) {
  TempDir dir;
  const auto path = dir.write("dup.yaml", "a: 1\nb: 2\na: 3\n");
  const ConfigIssue issue = only_issue([&] { load_config(path); });
  EXPECT_EQ(issue.where.line, 3);
  EXPECT_NE(issue.message.find("twice"), std::string::npos);
}

TEST(ConfigDocument, AMissingFileSaysSo) {
  TempDir dir;
  const ConfigIssue issue = only_issue([&] { load_config(dir.file("absent.yaml")); });
  EXPECT_NE(issue.message.find("not found"), std::string::npos);
}

TEST(ConfigOverrides, ParseValuesAsYaml) {
  EXPECT_EQ(parse_override("prune.sparsity=0.9", 0).value, 0.9);
  EXPECT_EQ(parse_override("prune.block=[4,1]", 0).value, Json::parse("[4,1]"));
  EXPECT_EQ(parse_override("prune.method=bed", 0).value, "bed");
  EXPECT_EQ(parse_override("flag=true", 0).value, true);
  const Override sweep = parse_override("sweep.prune.sparsity=[0.5,0.9]", 0);
  EXPECT_EQ(sweep.path, (std::vector<std::string>{"sweep", "prune.sparsity"}));
}

TEST(ConfigOverrides, RejectMalformedArguments) {
  for (const std::string bad : {"prune.sparsity", "=3", "prune..x=1", "9a=1", "prune.block=[4,"}) {
    EXPECT_THROW(parse_override(bad, 0), ConfigError) << bad;
  }
}

TEST(ConfigOverrides, ReplaceTheValueAndPointAtTheCommandLine) {
  ConfigDocument doc = load_config_text("prune:\n  sparsity: 0.5\n  block: [2, 1]\n", "x.yaml");
  apply_override(doc, parse_override("prune.sparsity=0.9", 0));
  apply_override(doc, parse_override("new.section.key=1", 1));
  EXPECT_EQ(doc.tree["prune"]["sparsity"], 0.9);
  EXPECT_EQ(doc.tree["prune"]["block"], Json::parse("[2,1]"));
  EXPECT_EQ(doc.tree["new"]["section"]["key"], 1);
  EXPECT_NE(doc.value_location("prune.sparsity").file.find("command line"), std::string::npos);
}

}  // namespace
}  // namespace ubp::config

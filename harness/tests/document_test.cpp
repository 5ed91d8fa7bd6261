#include "config/document.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>

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

std::vector<ConfigIssue> issues_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.issues();
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

namespace ubp::config {
namespace {

// Scalars of 100 000 characters crashed the regex-based scalar typing (SIGSEGV); numbers that do
// not fit threw a bare "stod". Each is now typed by a scanner, and a number that does not fit
// is an error naming file, line, column and key.
TEST(ConfigDocument, LongScalarsAreTypedWithoutCrashing) {
  TempDir dir;
  const std::string digits(100000, '7');
  const auto path = dir.write("long.yaml", "a:\n  text: " + std::string(100000, 'x') + "\n  real: 0." + digits +
                                               "\n  word: 4x" + digits + "\n");
  const ConfigDocument doc = load_config(path);
  EXPECT_EQ(doc.tree["a"]["text"].get<std::string>().size(), 100000u);
  EXPECT_TRUE(doc.tree["a"]["real"].is_number_float());
  EXPECT_TRUE(doc.tree["a"]["word"].is_string());
}

TEST(ConfigDocument, NumbersThatDoNotFitNameFileLineColumnAndKey) {
  TempDir dir;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"overflow", "1e999"}, {"underflow", "1e-400"}, {"digits", std::string(400, '9') + "e999"},
           {"integer", std::string(100000, '9') + "e9"}, {"hex", "0x" + std::string(100000, 'f')}}) {
    const auto path = dir.write(name + ".yaml", "prune:\n  sparsity: " + value + "\n");
    const ConfigIssue issue = only_issue([&] { load_config(path); });
    EXPECT_EQ(issue.where.describe(), path + ":2:13") << name;
    EXPECT_EQ(issue.key, "prune.sparsity") << name;
    EXPECT_NE(issue.message.find("does not fit"), std::string::npos) << name << ": " << issue.message;
    EXPECT_LT(issue.format().size(), 600u) << name;
  }
  // An integer too large for 64 bits that a double holds becomes that double, as in YAML.
  const auto big = dir.write("big.yaml", "a: " + std::string(30, '9') + "\n");
  EXPECT_DOUBLE_EQ(load_config(big).tree["a"].get<double>(), 1e30);
}

TEST(ConfigDocument, TextThatIsNotUtf8IsAnErrorAtItsPlace) {
  TempDir dir;
  const auto path = dir.write("latin1.yaml", "experiment:\n  name: caf\xe9\n");
  const ConfigIssue issue = only_issue([&] { load_config(path); });
  EXPECT_EQ(issue.where.describe(), path + ":2:9");
  EXPECT_EQ(issue.key, "experiment.name");
  EXPECT_NE(issue.message.find("not UTF-8"), std::string::npos) << issue.message;
}

// "Billion laughs": nine levels of aliases, each naming the previous list nine times, are 9^9
// values once expanded. The expansion stops at the value cap with an error.
TEST(ConfigDocument, AliasExpansionIsBounded) {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    const std::string previous = "*a" + std::to_string(level - 1);
    yaml += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [" + previous;
    for (int i = 1; i < 9; ++i) yaml += ", " + previous;
    yaml += "]\n";
  }
  const ConfigIssue issue = only_issue([&] { load_config_text(yaml, "laughs.yaml"); });
  EXPECT_NE(issue.message.find("more than 100000 values once YAML aliases are expanded"), std::string::npos)
      << issue.message;
}

TEST(ConfigDocument, DeepNestingIsRefused) {
  const ConfigIssue deep = only_issue([] { load_config_text("a: " + std::string(100, '[') + std::string(100, ']') + "\n", "deep.yaml"); });
  EXPECT_NE(deep.message.find("nested deeper than 64 levels"), std::string::npos) << deep.message;
  // Deeper than yaml-cpp itself allows: its own limit, reported as malformed YAML.
  const ConfigIssue deeper = only_issue([] { load_config_text("a: " + std::string(100000, '[') + "\n", "deeper.yaml"); });
  EXPECT_EQ(deeper.where.file, "deeper.yaml");
  EXPECT_NE(deeper.message.find("YAML"), std::string::npos) << deeper.message;
}

TEST(ConfigDocument, IncludesOfDevicesFifosAndHugeFilesAreRefusedUnread) {
  TempDir dir;
  const ConfigIssue zero = only_issue([&] { load_config(dir.write("zero.yaml", "include: /dev/zero\n")); });
  EXPECT_EQ(zero.where.describe(), dir.file("zero.yaml") + ":1:10");
  EXPECT_NE(zero.message.find("character device"), std::string::npos) << zero.message;
  ASSERT_EQ(mkfifo(dir.file("pipe.yaml").c_str(), 0600), 0);
  const ConfigIssue fifo = only_issue([&] { load_config(dir.write("fifo.yaml", "include: pipe.yaml\n")); });
  EXPECT_NE(fifo.message.find("a FIFO"), std::string::npos) << fifo.message;
  dir.write("huge.yaml", "# " + std::string(5 << 20, 'x') + "\n");
  const ConfigIssue huge = only_issue([&] { load_config(dir.write("top.yaml", "include: huge.yaml\n")); });
  EXPECT_NE(huge.message.find("more than the 4.0 MiB accepted"), std::string::npos) << huge.message;
}

// Each file includes the next one ten times: 10^6 loads without a bound.
TEST(ConfigDocument, IncludeFanOutIsBounded) {
  TempDir dir;
  dir.write("f6.yaml", "a: 1\n");
  for (int level = 5; level >= 0; --level) {
    std::string list = "include: [";
    for (int i = 0; i < 10; ++i) list += std::string(i ? ", " : "") + "f" + std::to_string(level + 1) + ".yaml";
    dir.write("f" + std::to_string(level) + ".yaml", list + "]\n");
  }
  const ConfigIssue issue = only_issue([&] { load_config(dir.file("f0.yaml")); });
  EXPECT_NE(issue.message.find("more than 256 files loaded through include:"), std::string::npos) << issue.message;
}

TEST(ConfigOverrides, LongKeysAndValuesGiveErrorsNotCrashes) {
  const ConfigIssue key = only_issue([] { parse_override(std::string(100000, 'a') + "=1", 0); });
  EXPECT_NE(key.message.find("expected key=value with a dotted key"), std::string::npos);
  EXPECT_LT(key.where.file.size(), 200u) << "the override is quoted as an excerpt";
  const ConfigIssue value = only_issue([] { parse_override("prune.sparsity=" + std::string(100000, '9') + "e9", 0); });
  EXPECT_NE(value.message.find("does not fit"), std::string::npos) << value.message;
  EXPECT_EQ(parse_override("prune.block=" + std::string(100000, '4') + "x1", 0).value.get<std::string>().size(), 100002u);
  for (const char* bad : {"a..b=1", ".a=1", "a.=1", "1a=2", "a-b=1", "=1"}) {
    EXPECT_THROW(parse_override(bad, 0), ConfigError) << bad;
  }
  EXPECT_EQ(parse_override("sweep.prune.sparsity=[0.5]", 0).path, (std::vector<std::string>{"sweep", "prune.sparsity"}));
}

}  // namespace
}  // namespace ubp::config

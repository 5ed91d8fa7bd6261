// The code version stamped on runs: what the build recorded, and the script that records it
// for a git tree, a dirty tree and a tree without git metadata.
#include <cstdlib>

#include "test_support.h"

namespace ubp::results::testing {
namespace {

// Runs a shell command; true when it exits 0.
bool shell(const std::string& command) { return std::system(command.c_str()) == 0; }

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

// Runs results/cmake/build_info.cmake on `source` and returns the header it writes.
std::string build_info_for(const fs::path& source, const fs::path& header) {
  const std::string command = std::string("'") + UBP_CMAKE_COMMAND + "' -DSOURCE_DIR=" + quoted(source) +
                              " -DOUTPUT=" + quoted(header) + " -DVERSION=9.8.7 -DBUILD_TYPE=Debug -P '" +
                              UBP_BUILD_INFO_SCRIPT + "'";
  if (!shell(command)) {
    ADD_FAILURE() << "failed: " << command;
    return "";
  }
  return read_bytes(header.string());
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class BuildInfoScript : public StoreTest {
 protected:
  void SetUp() override {
    if (!shell("git --version > /dev/null 2>&1")) GTEST_SKIP() << "git is not installed";
  }
  fs::path make_repository(const std::string& name) {
    const fs::path repo = dir_path() / name;
    fs::create_directories(repo);
    write_bytes((repo / "a.txt").string(), "one\n");
    const bool made = shell("cd " + quoted(repo) +
                            " && git init -q && git add a.txt && git -c user.name=t -c user.email=t@t "
                            "commit -qm first");
    if (!made) ADD_FAILURE() << "cannot make a git repository in " << repo;
    return repo;
  }
  static std::string head_of(const fs::path& repo) {
    const std::string out = (repo.parent_path() / "head.txt").string();
    shell("git -C " + quoted(repo) + " rev-parse HEAD > '" + out + "'");
    std::string head = read_bytes(out);
    while (!head.empty() && head.back() == '\n') head.pop_back();
    return head;
  }
};

TEST_F(BuildInfoScript, RecordsTheCommitOfACleanTree) {
  const fs::path repo = make_repository("clean");
  const std::string header = build_info_for(repo, dir_path() / "build_info.h");
  EXPECT_TRUE(has(header, "#define UBP_BUILD_GIT_COMMIT \"" + head_of(repo) + "\"")) << header;
  EXPECT_TRUE(has(header, "#define UBP_BUILD_GIT_DIRTY 0")) << header;
  EXPECT_TRUE(has(header, "#define UBP_BUILD_VERSION \"9.8.7\"")) << header;
  EXPECT_TRUE(has(header, "#define UBP_BUILD_TYPE \"Debug\"")) << header;
}

TEST_F(BuildInfoScript, CallsATreeWithAChangedOrNewFileDirty) {
  const fs::path repo = make_repository("changed");
  write_bytes((repo / "a.txt").string(), "two\n");
  EXPECT_TRUE(has(build_info_for(repo, dir_path() / "changed.h"), "#define UBP_BUILD_GIT_DIRTY 1"));
  const fs::path fresh = make_repository("untracked");
  write_bytes((fresh / "new.cpp").string(), "int x;\n");
  EXPECT_TRUE(has(build_info_for(fresh, dir_path() / "untracked.h"), "#define UBP_BUILD_GIT_DIRTY 1"));
}

TEST_F(BuildInfoScript, SaysUnknownForATreeWithoutGitMetadataEvenInsideAnotherRepository) {
  const fs::path outer = make_repository("outer");
  const fs::path copy = outer / "unpacked";  // a release tarball unpacked inside someone's repository
  fs::create_directories(copy);
  write_bytes((copy / "CMakeLists.txt").string(), "\n");
  const std::string header = build_info_for(copy, dir_path() / "copy.h");
  EXPECT_TRUE(has(header, "#define UBP_BUILD_GIT_COMMIT \"unknown\"")) << header;
  EXPECT_TRUE(has(header, "#define UBP_BUILD_GIT_DIRTY -1")) << header;
  EXPECT_TRUE(has(header, "#define UBP_BUILD_VERSION \"9.8.7\"")) << header;
}

TEST_F(BuildInfoScript, LeavesAnUnchangedHeaderUntouchedSoNothingRecompiles) {
  const fs::path repo = make_repository("same");
  const fs::path header = dir_path() / "same.h";
  build_info_for(repo, header);
  const auto written = fs::last_write_time(header);
  fs::last_write_time(header, written - std::chrono::hours(1));
  build_info_for(repo, header);
  EXPECT_EQ(fs::last_write_time(header), written - std::chrono::hours(1));
}

TEST(ThisBuild, NamesAVersionABuildTypeAndACommitOrUnknown) {
  const CodeVersion& code = this_build();
  EXPECT_TRUE(code.recorded());
  EXPECT_FALSE(code.build_type.empty());
  if (code.git_commit == "unknown") {
    EXPECT_FALSE(code.git_dirty.has_value());
  } else {
    EXPECT_EQ(code.git_commit.size(), 40u) << code.git_commit;
    EXPECT_EQ(code.git_commit.find_first_not_of("0123456789abcdef"), std::string::npos) << code.git_commit;
    EXPECT_TRUE(code.git_dirty.has_value());
  }
}

TEST(CodeVersionText, NamesTheVersionAShortCommitItsStateAndTheBuildType) {
  CodeVersion code{"0.1.0", "619b98c4360c8d96645350ac3e6cffd22f0b5cb8", true, "Release"};
  EXPECT_EQ(code.describe(), "ubp 0.1.0, commit 619b98c4360c (dirty), Release build");
  code.git_dirty = false;
  EXPECT_EQ(code.describe(), "ubp 0.1.0, commit 619b98c4360c, Release build");
  EXPECT_EQ((CodeVersion{"0.1.0", "unknown", std::nullopt, "Debug"}).describe(),
            "ubp 0.1.0, commit unknown, Debug build");
  EXPECT_NE(code, (CodeVersion{"0.1.0", code.git_commit, true, "Release"}));
  EXPECT_EQ(code, (CodeVersion{"0.1.0", code.git_commit, false, "Release"}));
}

using RunCode = StoreTest;

TEST_F(RunCode, IsStampedWithThisBuildWhenARunStartsFinishesOrFails) {
  Store store = Store::open(db());
  for (const char* id : {"a", "b"}) store.register_run(id, "selection", "{}", {});
  EXPECT_FALSE(store.find_run("a")->code.recorded()) << "a pending run ran no code yet";
  store.mark_running("a", "h");
  exec(store, "UPDATE runs SET git_commit = 'older'");
  store.finish_done("a", sample_result());
  EXPECT_EQ(store.find_run("a")->code, this_build()) << "the code that finished the run";
  store.claim_run("b", lease_owner_for("h"), 60);
  EXPECT_EQ(store.find_run("b")->code, this_build());
  exec(store, "UPDATE runs SET git_commit = 'older' WHERE run_id = 'b'");
  store.mark_failed("b", "boom");
  EXPECT_EQ(store.find_run("b")->code, this_build());
}

}  // namespace
}  // namespace ubp::results::testing

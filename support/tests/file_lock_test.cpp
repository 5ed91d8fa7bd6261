#include "ubp/support/file_lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>

#include "file_error_of.h"
#include "support/temp_dir.h"

namespace ubp::support {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using testing_helpers::error_of;

// flock belongs to an open file description, so two FileLocks in one process exclude each other
// just as two processes would.
TEST(FileLock, ASecondHolderWaitsUntilTheFirstLetsGo) {
  TempDir dir;
  const std::string path = dir.file("a.lock");
  auto first = std::make_unique<FileLock>(path);
  ASSERT_TRUE(first->try_lock());
  FileLock second(path);
  EXPECT_FALSE(second.try_lock());
  EXPECT_FALSE(second.lock_within(0.1));
  auto waiting = std::async(std::launch::async, [&] { return second.lock_within(-1); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  first.reset();
  EXPECT_TRUE(waiting.get());
}

TEST(FileLock, NeverTruncatesTheFile) {
  TempDir dir;
  const std::string path = dir.write("held.lock", "1234 host 2024-01-01T00:00:00Z\n");
  FileLock lock(path);
  ASSERT_TRUE(lock.try_lock());
  EXPECT_TRUE(lock.writable());
  EXPECT_EQ(testing::read_bytes(path), "1234 host 2024-01-01T00:00:00Z\n");
}

TEST(FileLock, RefusesASymbolicLinkAndAFifo) {
  TempDir dir;
  const std::string target = dir.write("victim", "precious");
  fs::create_symlink(target, dir.file("link.lock"));
  EXPECT_NE(error_of([&] { FileLock lock(dir.file("link.lock")); }).find("symbolic link"), std::string::npos);
  EXPECT_EQ(testing::read_bytes(target), "precious");
  ASSERT_EQ(::mkfifo(dir.file("fifo.lock").c_str(), 0600), 0);
  EXPECT_NE(error_of([&] { FileLock lock(dir.file("fifo.lock")); }).find("not a regular file"), std::string::npos);
}

TEST(FileLock, CreatesAMissingFileWithTheGivenMode) {
  TempDir dir;
  const mode_t old = ::umask(0);
  { FileLock lock(dir.file("new.lock"), 0600); }
  ::umask(old);
  struct stat info {};
  ASSERT_EQ(::stat(dir.file("new.lock").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

class ScopedRuntimeDir {
 public:
  explicit ScopedRuntimeDir(const std::string& value) {
    const char* old = std::getenv("XDG_RUNTIME_DIR");
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv("XDG_RUNTIME_DIR", value.c_str(), 1);
  }
  ~ScopedRuntimeDir() {
    if (had_) {
      ::setenv("XDG_RUNTIME_DIR", old_.c_str(), 1);
    } else {
      ::unsetenv("XDG_RUNTIME_DIR");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

TEST(UserPrivateDirectory, IsCreatedOnlyForThisUser) {
  TempDir dir;
  ScopedRuntimeDir runtime(dir.path().string());
  const std::string made = user_private_directory("ubp-test");
  EXPECT_EQ(made, dir.file("ubp-test"));
  struct stat info {};
  ASSERT_EQ(::lstat(made.c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  EXPECT_EQ(user_private_directory("ubp-test"), made) << "an existing one of ours is used again";
}

TEST(UserPrivateDirectory, RefusesADirectoryOthersCanWriteOrALink) {
  TempDir dir;
  ScopedRuntimeDir runtime(dir.path().string());
  fs::create_directories(dir.path() / "open");
  ASSERT_EQ(::chmod(dir.file("open").c_str(), 0777), 0);
  const std::string open = error_of([&] { user_private_directory("open"); });
  EXPECT_NE(open.find("writable by other users (mode 0777)"), std::string::npos) << open;
  fs::create_directories(dir.path() / "real");
  fs::create_directory_symlink(dir.path() / "real", dir.path() / "linked");
  EXPECT_NE(error_of([&] { user_private_directory("linked"); }).find("symbolic link"), std::string::npos);
}

TEST(UserPrivateDirectory, RefusesADirectoryOfAnotherUser) {
  TempDir dir;
  std::string foreign = "/";  // root's: another user's unless the test runs as root
  if (::geteuid() == 0) {
    foreign = dir.file("planted");
    fs::create_directories(foreign);
    ASSERT_EQ(::chown(foreign.c_str(), 65534, 65534), 0);
  }
  const std::string message = error_of([&] { check_private_directory(foreign); });
  EXPECT_NE(message.find("not to this user"), std::string::npos) << message;
}

}  // namespace
}  // namespace ubp::support

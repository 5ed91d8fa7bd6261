#include "ubp/support/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "file_error_of.h"
#include "support/temp_dir.h"

namespace ubp::support {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

using testing_helpers::error_of;

TEST(AtomicFile, WritesTheWholeFileAndLeavesNothingElse) {
  TempDir dir;
  const std::string path = dir.file("out.txt");
  write_file_atomically(path, "first");
  EXPECT_EQ(testing::read_bytes(path), "first");
  write_file_atomically(path, std::string(100000, 'x'));
  EXPECT_EQ(testing::read_bytes(path), std::string(100000, 'x'));
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.txt"});
}

TEST(AtomicFile, GivesTheRequestedModeNarrowedByTheUmask) {
  TempDir dir;
  const mode_t old = ::umask(022);
  write_file_atomically(dir.file("script.sh"), "#!/bin/sh\n", 0755);
  write_file_atomically(dir.file("data"), "x", 0666);
  ::umask(old);
  struct stat info {};
  ASSERT_EQ(::stat(dir.file("script.sh").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0755u);
  ASSERT_EQ(::stat(dir.file("data").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
}

TEST(AtomicFile, AnUncommittedFileLeavesTheTargetAsItWas) {
  TempDir dir;
  const std::string path = dir.write("kept.txt", "old contents");
  {
    AtomicFile file(path);
    file.write("new contents that never land");
    EXPECT_TRUE(fs::exists(file.temp_path()));
  }
  EXPECT_EQ(testing::read_bytes(path), "old contents");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"kept.txt"});
}

TEST(AtomicFile, ADirectoryInTheWayIsAnErrorAndNoTemporaryStays) {
  TempDir dir;
  fs::create_directories(dir.path() / "taken" / "inside");
  const std::string message = error_of([&] { write_file_atomically(dir.file("taken"), "x"); });
  EXPECT_NE(message.find(dir.file("taken")), std::string::npos) << message;
  EXPECT_NE(message.find("rename"), std::string::npos) << message;
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"taken"});
  EXPECT_NE(error_of([&] { write_file_atomically(dir.file("taken") + "/", "x"); }).find("directory"),
            std::string::npos);
}

TEST(AtomicFile, AMissingFolderNamesThePathAndTheReason) {
  TempDir dir;
  const std::string message = error_of([&] { write_file_atomically(dir.file("no/such/out.txt"), "x"); });
  EXPECT_NE(message.find(dir.file("no/such/out.txt")), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

// What `ulimit -f` does to a writer that ignores SIGXFSZ (as Python-started processes do): every
// write past the limit fails with EFBIG. The write must fail loudly and leave the old file.
TEST(AtomicFile, AFileSizeLimitIsAnErrorAndTheOldFileStays) {
  TempDir dir;
  const std::string path = dir.write("limited.txt", "old");
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    const std::string message = error_of([&] { write_file_atomically(path, std::string(100000, 'y')); });
    [[maybe_unused]] const ssize_t put = ::write(pipe_fds[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buffer[512];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) message.append(buffer, got);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_EQ(testing::read_bytes(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"limited.txt"});
}

TEST(AtomicFile, WriteAtPatchesWithoutMovingTheEnd) {
  TempDir dir;
  AtomicFile file(dir.file("patched"));
  file.write("....body");
  file.write_at("HEAD", 4, 0);
  file.write("!");
  file.commit();
  EXPECT_EQ(testing::read_bytes(dir.file("patched")), "HEADbody!");
}

TEST(AtomicFile, FsyncOfAMissingDirectoryIsAnError) {
  TempDir dir;
  EXPECT_NE(error_of([&] { fsync_directory_of(dir.file("gone/file")); }).find("No such file"), std::string::npos);
  fsync_directory_of(dir.path().string());
  fsync_directory_of(dir.write("present", "x"));
}

}  // namespace
}  // namespace ubp::support

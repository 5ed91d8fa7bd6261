#include "ubp/support/read_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "file_error_of.h"
#include "support/temp_dir.h"

namespace ubp::support {
namespace {

using testing::TempDir;

using testing_helpers::error_of;

TEST(ReadFileBounded, ReadsARegularFileWhole) {
  TempDir dir;
  std::string bytes(200000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 % 256);
  EXPECT_EQ(read_file_bounded(dir.write("f", bytes), 200000), bytes);
  EXPECT_EQ(read_file_bounded(dir.write("empty", ""), 10), "");
}

TEST(ReadFileBounded, RefusesAFileOverTheCapNamingBoth) {
  TempDir dir;
  const std::string path = dir.write("big.yaml", std::string(5000, 'a'));
  const std::string message = error_of([&] { read_file_bounded(path, 4096, "config file"); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("5000 bytes, more than the 4096 bytes accepted"), std::string::npos) << message;
}

TEST(ReadFileBounded, NeverReadsADeviceAFifoOrADirectory) {
  TempDir dir;
  EXPECT_NE(error_of([] { read_file_bounded("/dev/zero", 1 << 20); }).find("character device"), std::string::npos);
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  EXPECT_NE(error_of([&] { read_file_bounded(dir.file("fifo"), 1 << 20); }).find("a FIFO"), std::string::npos);
  EXPECT_NE(error_of([&] { read_file_bounded(dir.path().string(), 1 << 20); }).find("a directory"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_file_bounded(dir.file("absent"), 1 << 20); }).find("No such file"),
            std::string::npos);
}

TEST(ByteSizeText, ReadsNaturally) {
  EXPECT_EQ(byte_size_text(512), "512 bytes");
  EXPECT_EQ(byte_size_text(4u << 20), "4.0 MiB");
  EXPECT_EQ(byte_size_text(3ull << 30), "3.0 GiB");
}

}  // namespace
}  // namespace ubp::support

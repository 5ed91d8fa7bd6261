// The zip container check that runs before LibTorch opens a weights file or a checkpoint. The
// archives are written byte by byte (tests/zip_builder.h) and damaged one field at a time; the
// LibTorch-written archives are checked in weights_import_test.cpp and checkpoint_test.cpp.
#include "io/zip_archive.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"
#include "tests/zip_builder.h"

namespace ubp::io {
namespace {

using ubp::testing::build_zip;
using ubp::testing::put_le;
using ubp::testing::TempDir;
using ubp::testing::ZipBytes;
using ubp::testing::ZipMember;

// Offsets of central directory entry fields.
constexpr size_t kFlags = 8, kMethod = 10, kCompressed = 20, kUncompressed = 24, kLocalOffset = 42;

std::vector<ZipMember> three_members() {
  return {{"archive/data.pkl", std::string(40, 'p')}, {"archive/data/0", std::string(64, '\x01')},
          {"archive/version", "3\n"}};
}

// The check's message for `bytes` written to a file, which must name that file.
std::string error_of(const std::string& bytes, const ZipLimits& limits = {}) {
  TempDir dir;
  const std::string path = dir.write("model.pretrained", bytes);
  try {
    check_zip_archive(path, limits);
  } catch (const ZipArchiveError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'" + path + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(e.problem()), std::string::npos) << message;
    return e.problem();
  }
  return "<no error>";
}

TEST(ZipArchive, ListsTheEntriesOfASoundArchiveWhereTheirDataLie) {
  TempDir dir;
  const std::vector<ZipMember> members = three_members();
  for (const bool zip64 : {false, true}) {
    const ZipBytes zip = build_zip(members, zip64);
    const std::string path = dir.write(zip64 ? "zip64.pth" : "plain.pth", zip.bytes);
    const std::vector<ZipEntry> entries = check_zip_archive(path);
    ASSERT_EQ(entries.size(), 3u) << zip64;
    for (size_t i = 0; i < entries.size(); ++i) {
      const ZipMember& member = members[i];
      EXPECT_EQ(entries[i].name, member.name);
      EXPECT_EQ(entries[i].method, 0);
      EXPECT_EQ(entries[i].local_header_offset, zip.local_headers[i]);
      EXPECT_EQ(entries[i].compressed_size, member.data.size());
      EXPECT_EQ(entries[i].uncompressed_size, member.data.size());
      EXPECT_EQ(entries[i].data_offset % 64, 0u);
      EXPECT_EQ(zip.bytes.substr(entries[i].data_offset, member.data.size()), member.data);
    }
  }
  EXPECT_TRUE(check_zip_archive(dir.write("empty.zip", build_zip({}).bytes)).empty());
}

TEST(ZipArchive, EveryTruncationIsRefused) {
  const ZipBytes zip = build_zip(three_members());
  for (size_t length = 0; length < zip.bytes.size(); ++length) {
    const std::string error = error_of(zip.bytes.substr(0, length));
    EXPECT_TRUE(error.find("no end-of-central-directory record") != std::string::npos ||
                error.find("shorter than a zip archive's end record") != std::string::npos)
        << length << ": " << error;
  }
}

TEST(ZipArchive, OffsetsAndSizesPastTheEndAreRefused) {
  ZipBytes zip = build_zip(three_members());
  std::string bytes = zip.bytes;
  put_le(bytes, zip.end_record + 16, zip.bytes.size(), 4);  // the central directory's offset
  EXPECT_NE(error_of(bytes).find("past its end record"), std::string::npos) << error_of(bytes);

  bytes = zip.bytes;
  put_le(bytes, zip.end_record + 12, 0x7fffffff, 4);  // the central directory's size
  EXPECT_NE(error_of(bytes).find("past its end record"), std::string::npos) << error_of(bytes);

  bytes = zip.bytes;
  put_le(bytes, zip.central_entries[1] + kLocalOffset, 0xfffffff0, 4);
  EXPECT_NE(error_of(bytes).find("entry 2 'archive/data/0' has its local header at offset 4294967280, past the "
                                 "central directory"),
            std::string::npos)
      << error_of(bytes);

  bytes = zip.bytes;  // a stored size reaching past the directory: a truncated data record
  put_le(bytes, zip.central_entries[2] + kCompressed, 1 << 20, 4);
  put_le(bytes, zip.central_entries[2] + kUncompressed, 1 << 20, 4);
  EXPECT_NE(error_of(bytes).find("entry 3 'archive/version' has 1048576 bytes (1.0 MiB) of data at offset"),
            std::string::npos)
      << error_of(bytes);

  bytes = zip.bytes;  // the zip64 record's offset past the file
  ZipBytes zip64 = build_zip(three_members(), true);
  bytes = zip64.bytes;
  put_le(bytes, zip64.end_record - 12, uint64_t{1} << 60, 8);
  EXPECT_NE(error_of(bytes).find("zip64 end record offset"), std::string::npos) << error_of(bytes);
}

TEST(ZipArchive, HugeDeclaredSizesAreRefusedBeforeAnythingIsAllocated) {
  // A deflated entry declaring 2^60 bytes from its 64: a 500-byte file asking for an exabyte.
  ZipBytes zip = build_zip({{"archive/data.pkl", "p"}, {"archive/data/0", std::string(64, 'x'), 8}}, true);
  std::string bytes = zip.bytes;
  const size_t extra = zip.central_entries[1] + 46 + std::string("archive/data/0").size();
  put_le(bytes, extra + 4, uint64_t{1} << 60, 8);  // the zip64 uncompressed size
  EXPECT_NE(error_of(bytes).find("entry 2 'archive/data/0' declares 1152921504606846976 bytes"), std::string::npos)
      << error_of(bytes);
  EXPECT_NE(error_of(bytes).find("more than deflate can expand (1032:1)"), std::string::npos);

  // Within deflate's ratio but over the cap on the total: 64 KiB from 64 bytes, capped at 100 KiB.
  std::vector<ZipMember> members;
  for (int i = 0; i < 3; ++i) members.push_back({"archive/data/" + std::to_string(i), std::string(64, 'x'), 8});
  zip = build_zip(members);
  bytes = zip.bytes;
  for (size_t at : zip.central_entries) put_le(bytes, at + kUncompressed, 64 << 10, 4);
  ZipLimits limits;
  limits.max_total_uncompressed_bytes = 100 << 10;
  EXPECT_NE(error_of(bytes, limits).find("entry 2 'archive/data/1' brings the declared uncompressed size to more "
                                         "than the 102400 bytes accepted"),
            std::string::npos)
      << error_of(bytes, limits);
  limits.max_total_uncompressed_bytes = 200 << 10;
  EXPECT_EQ(error_of(bytes, limits), "<no error>");

  // A stored entry whose two sizes differ would make the reader allocate the larger.
  zip = build_zip(three_members());
  bytes = zip.bytes;
  put_le(bytes, zip.central_entries[0] + kUncompressed, 0xfffffff0, 4);
  EXPECT_NE(error_of(bytes).find("is stored uncompressed but declares"), std::string::npos) << error_of(bytes);
}

TEST(ZipArchive, TooManyEntriesAreRefused) {
  ZipBytes zip = build_zip(three_members());
  std::string bytes = zip.bytes;
  put_le(bytes, zip.end_record + 8, 60000, 2);
  put_le(bytes, zip.end_record + 10, 60000, 2);
  EXPECT_NE(error_of(bytes).find("declares 60000 entries in a central directory of"), std::string::npos)
      << error_of(bytes);

  ZipLimits limits;
  limits.max_entries = 2;
  EXPECT_NE(error_of(zip.bytes, limits).find("declares 3 entries; at most 2 are accepted"), std::string::npos);

  // Fewer declared than present, and more declared than present.
  bytes = zip.bytes;
  put_le(bytes, zip.end_record + 8, 2, 2);
  put_le(bytes, zip.end_record + 10, 2, 2);
  EXPECT_NE(error_of(bytes).find("bytes in its central directory after its 2 declared entries"), std::string::npos)
      << error_of(bytes);
  ZipBytes zip64 = build_zip(three_members(), true);
  bytes = zip64.bytes;
  put_le(bytes, zip64.zip64_end_record + 24, uint64_t{1} << 40, 8);
  put_le(bytes, zip64.zip64_end_record + 32, uint64_t{1} << 40, 8);
  EXPECT_NE(error_of(bytes).find("declares 1099511627776 entries; at most 100000"), std::string::npos)
      << error_of(bytes);
}

TEST(ZipArchive, NamesThatEscapeOrAreAmbiguousAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"../etc/passwd", "has a '..' component in its name"},
      {"archive/../../x", "has a '..' component in its name"},
      {"archive/./data.pkl", "has a '.' component in its name"},
      {"/etc/passwd", "has an absolute name"},
      {"C:evil", "has a name starting with a drive letter"},
      {"archive\\data.pkl", "has a backslash in its name"},
      {"archive//data.pkl", "has an empty folder name"},
      {"archive/", "has an empty folder name"},
      {std::string("arch\nive/data.pkl"), "has a control character in its name"},
      {std::string("archive/data.pkl\0x", 18), "has a control character in its name"},
      {"", "has an empty name"},
  };
  for (const auto& [name, problem] : cases) {
    const std::string error = error_of(build_zip({{"archive/version", "3"}, {name, "x"}}).bytes);
    EXPECT_NE(error.find("entry 2 '"), std::string::npos) << error;
    EXPECT_NE(error.find(problem), std::string::npos) << name << ": " << error;
  }
  const std::string twice = error_of(build_zip({{"archive/data.pkl", "a"}, {"archive/data.pkl", "b"}}).bytes);
  EXPECT_NE(twice.find("entry 2 'archive/data.pkl' appears twice"), std::string::npos) << twice;
}

TEST(ZipArchive, EncryptionOtherMethodsAndMultiPartArchivesAreRefused) {
  ZipBytes zip = build_zip(three_members());
  std::string bytes = zip.bytes;
  put_le(bytes, zip.central_entries[1] + kMethod, 12, 2);  // bzip2
  EXPECT_NE(error_of(bytes).find("entry 2 'archive/data/0' uses compression method 12; accepted: 0 (stored) and 8 "
                                 "(deflate)"),
            std::string::npos)
      << error_of(bytes);

  bytes = zip.bytes;
  put_le(bytes, zip.central_entries[0] + kFlags, 1, 2);
  EXPECT_NE(error_of(bytes).find("entry 1 'archive/data.pkl' is encrypted"), std::string::npos) << error_of(bytes);

  bytes = zip.bytes;
  put_le(bytes, zip.end_record + 4, 1, 2);  // this disk's number
  EXPECT_NE(error_of(bytes).find("is split over several disks"), std::string::npos) << error_of(bytes);
}

TEST(ZipArchive, LocalHeadersMustMatchTheirEntriesAndNotOverlap) {
  ZipBytes zip = build_zip(three_members());
  std::string bytes = zip.bytes;
  bytes[zip.local_headers[0] + 30] = 'X';  // the local name's first letter
  EXPECT_NE(error_of(bytes).find("entry 1 'archive/data.pkl' has a local header naming another file"),
            std::string::npos)
      << error_of(bytes);

  bytes = zip.bytes;  // two entries sharing one record, as zip bombs do
  put_le(bytes, zip.central_entries[2] + kLocalOffset, zip.local_headers[1], 4);
  EXPECT_NE(error_of(bytes).find("has a local header naming another file"), std::string::npos) << error_of(bytes);

  bytes = zip.bytes;  // the first entry's data reaching over the second's header
  const uint64_t reach = zip.local_headers[2] - zip.local_headers[0];
  put_le(bytes, zip.central_entries[0] + kCompressed, reach, 4);
  put_le(bytes, zip.central_entries[0] + kUncompressed, reach, 4);
  EXPECT_NE(error_of(bytes).find("entries 'archive/data.pkl' and 'archive/data/0' overlap in the file"),
            std::string::npos)
      << error_of(bytes);

  bytes = zip.bytes;
  put_le(bytes, zip.local_headers[1], 0x12345678, 4);
  EXPECT_NE(error_of(bytes).find("entry 2 'archive/data/0' has no local header at offset"), std::string::npos)
      << error_of(bytes);
}

TEST(ZipArchive, OnlyRegularFilesAreRead) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("folder.pth"));
  for (const std::string& path : {dir.file("folder.pth"), std::string("/dev/zero")}) {
    try {
      check_zip_archive(path);
      ADD_FAILURE() << path;
    } catch (const ZipArchiveError& e) {
      EXPECT_EQ(std::string(e.what()), "zip archive '" + path + "': is not a regular file");
    }
  }
  try {
    check_zip_archive(dir.file("missing.pth"));
    ADD_FAILURE();
  } catch (const ZipArchiveError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be opened: No such file or directory"), std::string::npos);
  }
}

}  // namespace
}  // namespace ubp::io

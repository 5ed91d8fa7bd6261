#include "io/zip_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "ubp/support/read_file.h"
#include "ubp/support/text.h"

namespace ubp::io {

ZipArchiveError::ZipArchiveError(const std::string& path, const std::string& problem)
    : std::runtime_error("zip archive '" + path + "': " + problem), problem_(problem) {}

namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr size_t kEndBytes = 22;
constexpr size_t kZip64EndBytes = 56;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kCentralHeaderBytes = 46;
constexpr size_t kLocalHeaderBytes = 30;
constexpr size_t kMaxCommentBytes = 65535;
// Deflate emits at least one bit per 258 bytes of output plus block overhead: no stream
// expands beyond about 1032 times its size (zlib's technical notes).
constexpr uint64_t kMaxDeflateRatio = 1032;

// Little-endian fields of a byte buffer whose length the caller checked.
uint64_t field(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class File {
 public:
  explicit File(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) fail(std::string("cannot be opened: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(std::string("cannot be examined: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("is not a regular file");
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  uint64_t size() const { return size_; }

  // Exactly `length` bytes at `offset`; the caller checked that they lie inside the file.
  std::string read(uint64_t offset, uint64_t length, const char* what) const {
    std::string out(static_cast<size_t>(length), '\0');
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t got = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail(std::string("cannot read ") + what + ": " + std::strerror(errno));
      if (got == 0) fail(std::string("ends while reading ") + what + " (did the file shrink?)");
      done += static_cast<size_t>(got);
    }
    return out;
  }

  [[noreturn]] void fail(const std::string& problem) const { throw ZipArchiveError(path_, problem); }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

std::string bytes_text(uint64_t bytes) {
  const std::string exact = std::to_string(bytes) + " bytes";
  return bytes < (uint64_t{1} << 20) ? exact : exact + " (" + support::byte_size_text(bytes) + ")";
}

// Why `name` may not be extracted or looked up as it stands, or "" when it is fine.
std::string name_problem(const std::string& name) {
  if (name.empty()) return "has an empty name";
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "has a control character in its name";
    if (c == '\\') return "has a backslash in its name (zip names separate folders with '/')";
  }
  if (name.front() == '/') return "has an absolute name";
  if (name.size() >= 2 && name[1] == ':') return "has a name starting with a drive letter";
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    const std::string_view part(name.data() + start, (slash == std::string::npos ? name.size() : slash) - start);
    if (part.empty()) return "has an empty folder name in its name (a '//' or a trailing '/')";
    if (part == "." || part == "..") return "has a '" + std::string(part) + "' component in its name";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return "";
}

struct Directory {
  uint64_t entries = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t end = 0;  // where the directory must end: the (zip64) end record's offset
};

// The end-of-central-directory record, and the zip64 one when its fields overflowed.
Directory find_directory(const File& file) {
  const uint64_t size = file.size();
  if (size < kEndBytes) {
    file.fail("is " + std::to_string(size) + " bytes long, shorter than a zip archive's end record (" +
              std::to_string(kEndBytes) + " bytes): truncated, or not a zip archive");
  }
  const uint64_t tail_length = std::min<uint64_t>(size, kEndBytes + kMaxCommentBytes);
  const std::string tail = file.read(size - tail_length, tail_length, "the end of the file");
  const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
  // The record is followed only by its comment, whose length it gives: the last candidate
  // whose comment ends the file exactly is the record.
  int64_t found = -1;
  for (int64_t at = static_cast<int64_t>(tail_length - kEndBytes); at >= 0; --at) {
    if (field(t + at, 4) == kEndSignature &&
        static_cast<uint64_t>(at) + kEndBytes + field(t + at + 20, 2) == tail_length) {
      found = at;
      break;
    }
  }
  if (found < 0) file.fail("has no end-of-central-directory record: truncated, or not a zip archive");
  const unsigned char* end = t + found;
  const uint64_t end_offset = size - tail_length + static_cast<uint64_t>(found);

  Directory dir;
  const uint64_t disk = field(end + 4, 2), directory_disk = field(end + 6, 2);
  const uint64_t disk_entries = field(end + 8, 2);
  dir.entries = field(end + 10, 2);
  dir.size = field(end + 12, 4);
  dir.offset = field(end + 16, 4);
  dir.end = end_offset;
  const bool zip64 = disk == 0xffff || directory_disk == 0xffff || disk_entries == 0xffff ||
                     dir.entries == 0xffff || dir.size == 0xffffffff || dir.offset == 0xffffffff;
  if (!zip64) {
    if (disk != 0 || directory_disk != 0 || disk_entries != dir.entries) {
      file.fail("is split over several disks (multi-part archives are not read)");
    }
    return dir;
  }

  if (end_offset < kZip64LocatorBytes) file.fail("declares zip64 sizes but has no zip64 locator before its end record");
  const std::string locator = file.read(end_offset - kZip64LocatorBytes, kZip64LocatorBytes, "the zip64 locator");
  const auto* l = reinterpret_cast<const unsigned char*>(locator.data());
  if (field(l, 4) != kZip64LocatorSignature) {
    file.fail("declares zip64 sizes but has no zip64 locator before its end record");
  }
  const uint64_t record_offset = field(l + 8, 8);
  const uint64_t locator_offset = end_offset - kZip64LocatorBytes;
  if (field(l + 4, 4) != 0 || field(l + 16, 4) > 1) file.fail("is split over several disks (multi-part archives are not read)");
  if (record_offset > locator_offset || locator_offset - record_offset < kZip64EndBytes) {
    file.fail("has a zip64 end record offset (" + std::to_string(record_offset) + ") that does not leave room for it "
              "before the locator at " + std::to_string(locator_offset));
  }
  const std::string record = file.read(record_offset, kZip64EndBytes, "the zip64 end record");
  const auto* r = reinterpret_cast<const unsigned char*>(record.data());
  if (field(r, 4) != kZip64EndSignature) {
    file.fail("has no zip64 end record at offset " + std::to_string(record_offset) + ", where its locator points");
  }
  if (field(r + 16, 4) != 0 || field(r + 20, 4) != 0 || field(r + 24, 8) != field(r + 32, 8)) {
    file.fail("is split over several disks (multi-part archives are not read)");
  }
  dir.entries = field(r + 32, 8);
  dir.size = field(r + 40, 8);
  dir.offset = field(r + 48, 8);
  dir.end = record_offset;
  return dir;
}

// The zip64 extra field (id 1) holds, in this order, each of the four values whose 32-bit (or
// 16-bit) field in the directory entry is all ones.
void apply_zip64_extra(const File& file, const std::string& entry, std::string_view extra, uint64_t& uncompressed,
                       uint64_t& compressed, uint64_t& local_offset, uint64_t& disk) {
  const bool need[4] = {uncompressed == 0xffffffff, compressed == 0xffffffff, local_offset == 0xffffffff,
                        disk == 0xffff};
  if (!need[0] && !need[1] && !need[2] && !need[3]) return;
  size_t at = 0;
  while (at + 4 <= extra.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(extra.data() + at);
    const uint64_t id = field(p, 2), length = field(p + 2, 2);
    if (length > extra.size() - at - 4) break;
    if (id == 1) {
      uint64_t* values[4] = {&uncompressed, &compressed, &local_offset, &disk};
      const int widths[4] = {8, 8, 8, 4};
      size_t used = 0;
      for (int i = 0; i < 4; ++i) {
        if (!need[i]) continue;
        if (used + static_cast<size_t>(widths[i]) > length) {
          file.fail(entry + " has a zip64 extra field too short for the sizes it must hold");
        }
        *values[i] = field(p + 4 + used, widths[i]);
        used += static_cast<size_t>(widths[i]);
      }
      return;
    }
    at += 4 + length;
  }
  file.fail(entry + " declares zip64 sizes but has no zip64 extra field holding them");
}

}  // namespace

std::vector<ZipEntry> check_zip_archive(const std::string& path, const ZipLimits& limits) {
  const File file(path);
  const Directory dir = find_directory(file);

  if (dir.offset > dir.end || dir.size > dir.end - dir.offset) {
    file.fail("declares a central directory of " + bytes_text(dir.size) + " at offset " + std::to_string(dir.offset) +
              ", past its end record at " + std::to_string(dir.end) + " (truncated or damaged file)");
  }
  if (dir.entries > limits.max_entries) {
    file.fail("declares " + std::to_string(dir.entries) + " entries; at most " + std::to_string(limits.max_entries) +
              " are accepted");
  }
  if (dir.entries > dir.size / kCentralHeaderBytes) {
    file.fail("declares " + std::to_string(dir.entries) + " entries in a central directory of " +
              bytes_text(dir.size) + ", too small to hold them (" + std::to_string(kCentralHeaderBytes) +
              " bytes each at least)");
  }
  if (dir.size > limits.max_central_directory_bytes) {
    file.fail("declares a central directory of " + bytes_text(dir.size) + "; at most " +
              bytes_text(limits.max_central_directory_bytes) + " are accepted");
  }
  const std::string directory = file.read(dir.offset, dir.size, "the central directory");
  const auto* d = reinterpret_cast<const unsigned char*>(directory.data());

  std::vector<ZipEntry> entries;
  entries.reserve(static_cast<size_t>(dir.entries));
  std::unordered_set<std::string> names;
  uint64_t total_uncompressed = 0;
  size_t at = 0;
  for (uint64_t index = 0; index < dir.entries; ++index) {
    const std::string number = "entry " + std::to_string(index + 1);
    if (directory.size() - at < kCentralHeaderBytes || field(d + at, 4) != kCentralHeaderSignature) {
      file.fail(number + " of " + std::to_string(dir.entries) + " is not a central directory entry (offset " +
                std::to_string(dir.offset + at) + "): damaged file");
    }
    const unsigned char* h = d + at;
    const uint64_t flags = field(h + 8, 2);
    ZipEntry entry;
    entry.method = static_cast<uint16_t>(field(h + 10, 2));
    entry.compressed_size = field(h + 20, 4);
    entry.uncompressed_size = field(h + 24, 4);
    const size_t name_length = field(h + 28, 2), extra_length = field(h + 30, 2), comment_length = field(h + 32, 2);
    uint64_t disk = field(h + 34, 2);
    entry.local_header_offset = field(h + 42, 4);
    if (name_length + extra_length + comment_length > directory.size() - at - kCentralHeaderBytes) {
      file.fail(number + "'s name and fields run past the end of the central directory: damaged file");
    }
    entry.name.assign(directory, at + kCentralHeaderBytes, name_length);
    const std::string_view extra(directory.data() + at + kCentralHeaderBytes + name_length, extra_length);
    at += kCentralHeaderBytes + name_length + extra_length + comment_length;
    const std::string label = number + " '" + support::excerpt(entry.name, 80) + "'";

    if (const std::string problem = name_problem(entry.name); !problem.empty()) file.fail(label + " " + problem);
    if (!names.insert(entry.name).second) file.fail(label + " appears twice");
    apply_zip64_extra(file, label, extra, entry.uncompressed_size, entry.compressed_size, entry.local_header_offset,
                      disk);
    if (disk != 0) file.fail(label + " lies on another disk (multi-part archives are not read)");
    if ((flags & 0x41) != 0) file.fail(label + " is encrypted");
    if (entry.method != 0 && entry.method != 8) {
      file.fail(label + " uses compression method " + std::to_string(entry.method) +
                "; accepted: 0 (stored) and 8 (deflate)");
    }
    if (entry.method == 0 && entry.compressed_size != entry.uncompressed_size) {
      file.fail(label + " is stored uncompressed but declares " + bytes_text(entry.uncompressed_size) + " from " +
                bytes_text(entry.compressed_size));
    }
    if (entry.method == 8 && entry.uncompressed_size / kMaxDeflateRatio > entry.compressed_size) {
      file.fail(label + " declares " + bytes_text(entry.uncompressed_size) + " inflated from " +
                bytes_text(entry.compressed_size) + ", more than deflate can expand (" +
                std::to_string(kMaxDeflateRatio) + ":1)");
    }
    if (entry.uncompressed_size > limits.max_total_uncompressed_bytes - total_uncompressed) {
      file.fail(label + " brings the declared uncompressed size to more than the " +
                bytes_text(limits.max_total_uncompressed_bytes) + " accepted (it declares " +
                bytes_text(entry.uncompressed_size) + ")");
    }
    total_uncompressed += entry.uncompressed_size;

    // The local header and the data must lie before the central directory.
    if (entry.local_header_offset > dir.offset || dir.offset - entry.local_header_offset < kLocalHeaderBytes) {
      file.fail(label + " has its local header at offset " + std::to_string(entry.local_header_offset) +
                ", past the central directory at " + std::to_string(dir.offset));
    }
    const std::string local = file.read(entry.local_header_offset, kLocalHeaderBytes, "a local header");
    const auto* lh = reinterpret_cast<const unsigned char*>(local.data());
    if (field(lh, 4) != kLocalHeaderSignature) {
      file.fail(label + " has no local header at offset " + std::to_string(entry.local_header_offset));
    }
    const uint64_t local_name_length = field(lh + 26, 2), local_extra_length = field(lh + 28, 2);
    const uint64_t header_end = entry.local_header_offset + kLocalHeaderBytes + local_name_length + local_extra_length;
    if (header_end > dir.offset || entry.compressed_size > dir.offset - header_end) {
      file.fail(label + " has " + bytes_text(entry.compressed_size) + " of data at offset " +
                std::to_string(header_end) + ", past the central directory at " + std::to_string(dir.offset) +
                " (truncated or damaged file)");
    }
    if (local_name_length != name_length ||
        file.read(entry.local_header_offset + kLocalHeaderBytes, name_length, "a local header's name") != entry.name) {
      file.fail(label + " has a local header naming another file");
    }
    entry.data_offset = header_end;
    entries.push_back(std::move(entry));
  }
  if (at != directory.size()) {
    file.fail("has " + std::to_string(directory.size() - at) + " bytes in its central directory after its " +
              std::to_string(dir.entries) + " declared entries: damaged file");
  }

  // Entries sharing bytes are how zip bombs multiply a small file; no writer makes them.
  std::vector<const ZipEntry*> by_offset;
  by_offset.reserve(entries.size());
  for (const ZipEntry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const ZipEntry* a, const ZipEntry* b) { return a->local_header_offset < b->local_header_offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const ZipEntry& before = *by_offset[i - 1];
    const ZipEntry& after = *by_offset[i];
    if (after.local_header_offset < before.data_offset + before.compressed_size) {
      file.fail("entries '" + support::excerpt(before.name, 80) + "' and '" + support::excerpt(after.name, 80) +
                "' overlap in the file");
    }
  }
  return entries;
}

}  // namespace ubp::io

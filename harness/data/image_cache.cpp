#include "data/image_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "data/image_transforms.h"
#include "ubp/support/atomic_file.h"
#include "ubp/support/file_lock.h"

namespace ubp::data {
namespace {

constexpr char kMagic[8] = {'U', 'B', 'P', 'I', 'M', 'G', 'C', '\0'};
// Bump whenever what a record holds changes (decoder settings, resampling), so old caches
// are rebuilt instead of silently feeding different pixels.
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kByteOrderMark = 0x01020304;

struct Prefix {
  char magic[8];
  uint32_t version;
  uint32_t byte_order;
  uint64_t header_offset;
  uint64_t header_size;
  uint32_t header_crc;
  uint32_t reserved;
};
static_assert(sizeof(Prefix) == 40, "the prefix is 40 bytes on disk");

[[noreturn]] void fail(const std::string& message) { throw ImageFolderError(message); }

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  fail("image cache '" + path + "' is corrupt (" + what + "); delete it and it will be rebuilt");
}

uint32_t crc32_of(const void* data, size_t size) {
  return static_cast<uint32_t>(crc32_z(0, static_cast<const Bytef*>(data), size));
}

class ByteWriter {
 public:
  template <typename T>
  void put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void put_string(const std::string& text) {
    put<uint64_t>(text.size());
    bytes_ += text;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Reads what ByteWriter wrote; running past the end throws std::out_of_range (a header that
// passed its checksum but does not parse is reported as corrupt by the caller).
class ByteReader {
 public:
  explicit ByteReader(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof value), sizeof value);
    return value;
  }
  std::string get_string() {
    const auto size = get<uint64_t>();
    return std::string(take(size), size);
  }
  // A count of items of at least `item_bytes` each: bounded by what is left, so a bad count
  // cannot make the caller reserve gigabytes.
  size_t get_count(size_t item_bytes) {
    const auto count = get<uint64_t>();
    if (count > (bytes_.size() - position_) / item_bytes) throw std::out_of_range("count beyond the header");
    return static_cast<size_t>(count);
  }
  bool at_end() const { return position_ == bytes_.size(); }

 private:
  const char* take(uint64_t size) {
    if (size > bytes_.size() - position_) throw std::out_of_range("read beyond the header");
    const char* at = bytes_.data() + position_;
    position_ += static_cast<size_t>(size);
    return at;
  }
  const std::string& bytes_;
  size_t position_ = 0;
};

struct Header {
  std::string split;
  std::string split_directory;
  uint32_t short_side = 0;
  std::vector<std::string> class_names;
  std::vector<ImageFile> sources;
  std::vector<ImageCache::Record> records;
  std::vector<ImageCache::Skipped> skipped;
};

std::string serialize(const Header& h) {
  ByteWriter w;
  w.put_string(h.split);
  w.put_string(h.split_directory);
  w.put<uint32_t>(h.short_side);
  w.put<uint64_t>(h.class_names.size());
  for (const std::string& name : h.class_names) w.put_string(name);
  w.put<uint64_t>(h.sources.size());
  for (const ImageFile& f : h.sources) {
    w.put_string(f.relative_path);
    w.put<uint64_t>(f.size);
    w.put<int64_t>(f.mtime_ns);
    w.put<int64_t>(f.label);
  }
  w.put<uint64_t>(h.records.size());
  for (const ImageCache::Record& r : h.records) {
    w.put<uint32_t>(r.source);
    w.put<uint32_t>(r.width);
    w.put<uint32_t>(r.height);
    w.put<uint64_t>(r.offset);
    w.put<uint32_t>(r.crc);
  }
  w.put<uint64_t>(h.skipped.size());
  for (const ImageCache::Skipped& s : h.skipped) {
    w.put<uint64_t>(s.source);
    w.put_string(s.error);
  }
  return w.bytes();
}

Header parse(const std::string& bytes) {
  ByteReader r(bytes);
  Header h;
  h.split = r.get_string();
  h.split_directory = r.get_string();
  h.short_side = r.get<uint32_t>();
  h.class_names.resize(r.get_count(8));
  for (std::string& name : h.class_names) name = r.get_string();
  h.sources.resize(r.get_count(32));
  for (ImageFile& f : h.sources) {
    f.relative_path = r.get_string();
    f.size = r.get<uint64_t>();
    f.mtime_ns = r.get<int64_t>();
    f.label = r.get<int64_t>();
  }
  h.records.resize(r.get_count(24));
  for (ImageCache::Record& rec : h.records) {
    rec.source = r.get<uint32_t>();
    rec.width = r.get<uint32_t>();
    rec.height = r.get<uint32_t>();
    rec.offset = r.get<uint64_t>();
    rec.crc = r.get<uint32_t>();
  }
  h.skipped.resize(r.get_count(16));
  for (ImageCache::Skipped& s : h.skipped) {
    s.source = static_cast<size_t>(r.get<uint64_t>());
    s.error = r.get_string();
  }
  if (!r.at_end()) throw std::out_of_range("bytes after the header's last field");
  return h;
}

// Why the cache does not hold what `subset` at `short_side` needs; empty when it does.
std::string stale_because(const Header& h, const ImageSubset& subset, int short_side) {
  if (h.short_side != static_cast<uint32_t>(short_side)) {
    return "it stores short side " + std::to_string(h.short_side) + ", the loader wants " + std::to_string(short_side);
  }
  if (h.class_names != subset.class_names) return "its classes differ from the subset's";
  if (h.sources.size() != subset.files.size()) {
    return "it holds " + std::to_string(h.sources.size()) + " source images, the subset " +
           std::to_string(subset.files.size());
  }
  for (size_t i = 0; i < h.sources.size(); ++i) {
    const ImageFile& a = h.sources[i];
    const ImageFile& b = subset.files[i];
    if (a.relative_path != b.relative_path || a.label != b.label) {
      return "the subset's image " + std::to_string(i) + " is '" + b.relative_path + "', the cache's '" +
             a.relative_path + "'";
    }
    if (a.size != b.size || a.mtime_ns != b.mtime_ns) return "image '" + b.relative_path + "' changed on disk";
  }
  return "";
}

void read_exactly(int fd, void* out, size_t size, uint64_t offset, const std::string& path, const std::string& what) {
  auto* at = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t got = ::pread(fd, at, size, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail("cannot read image cache '" + path + "': " + std::strerror(errno));
    if (got == 0) corrupt(path, "the file ends inside " + what);
    at += got;
    size -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

// Holds an exclusive flock on "<cache path>.lock" while a cache is opened or built. The ranks of
// a data-parallel run open the same cache path at once: the first builds it while the others
// wait here, and they then load the file it renamed into place instead of building their own.
// Where the lock file cannot be created (a read-only folder) nobody can build there either, so
// opening goes on without it.
class BuildLock {
 public:
  explicit BuildLock(const std::string& cache_path) {
    std::error_code ignored;
    const std::filesystem::path parent = std::filesystem::path(cache_path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
    try {
      lock_ = std::make_unique<support::FileLock>(cache_path + ".lock");
      lock_->lock_within(-1);
    } catch (const support::FileError&) {
      lock_.reset();
    }
  }

 private:
  std::unique_ptr<support::FileLock> lock_;  // closing it releases the lock
};

// Records tile the data region exactly, in source order, each image at most `short_side` on its
// short side; every source is either a record or skipped. A header that passed its checksum but
// breaks this was not written by this code (or its bytes were rewritten with a new checksum).
std::string invalid_records(const Header& h, uint64_t data_begin, uint64_t data_end) {
  uint64_t offset = data_begin;
  size_t next_source = 0, skipped = 0;
  for (size_t i = 0; i < h.records.size(); ++i) {
    const ImageCache::Record& r = h.records[i];
    while (skipped < h.skipped.size() && h.skipped[skipped].source == next_source) ++skipped, ++next_source;
    if (r.source != next_source) return "record " + std::to_string(i) + " is of source " + std::to_string(r.source) +
                                        ", expected " + std::to_string(next_source);
    ++next_source;
    if (r.width == 0 || r.height == 0 || std::min(r.width, r.height) > h.short_side) {
      return "record " + std::to_string(i) + " is " + std::to_string(r.width) + "x" + std::to_string(r.height) +
             " pixels, not an image shrunk to short side " + std::to_string(h.short_side);
    }
    const uint64_t bytes = uint64_t{r.width} * r.height * 3;
    if (r.offset != offset || bytes > data_end - offset) {
      return "record " + std::to_string(i) + " lies at byte " + std::to_string(r.offset) + ", not where the previous "
             "one ends (" + std::to_string(offset) + ") inside the image data";
    }
    offset += bytes;
  }
  while (skipped < h.skipped.size() && h.skipped[skipped].source == next_source) ++skipped, ++next_source;
  if (offset != data_end) return "the records end at byte " + std::to_string(offset) + ", the image data at " +
                                 std::to_string(data_end);
  if (skipped != h.skipped.size() || next_source != h.sources.size()) {
    return "records and skipped images cover " + std::to_string(next_source) + " of " +
           std::to_string(h.sources.size()) + " sources, not each once in order";
  }
  return "";
}

// body(i) for i in [0, count) on `threads` threads; body must not throw.
void parallel_for(int threads, size_t count, const std::function<void(size_t)>& body) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < count; i = next++) body(i);
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace

const char* cache_state_name(CacheState state) {
  switch (state) {
    case CacheState::kNotUsed: return "not used";
    case CacheState::kLoaded: return "loaded";
    case CacheState::kBuilt: return "built";
    case CacheState::kRebuilt: return "rebuilt";
  }
  return "?";
}

ImageCache::~ImageCache() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<ImageCache> ImageCache::open_or_build(const std::string& path, const ImageSubset& subset,
                                                      const ImageCacheSettings& settings) {
  if (path.empty()) fail("image cache path is empty");
  if (settings.short_side <= 0) {
    fail("image cache '" + path + "': the short side must be positive, got " + std::to_string(settings.short_side));
  }
  const std::string split = split_directory_name(subset.split);
  const BuildLock lock(path);
  std::unique_ptr<ImageCache> cache(new ImageCache());
  cache->path_ = path;
  for (const ImageFile& f : subset.files) cache->source_paths_.push_back(f.relative_path);

  // Both paths end with `header` describing the file at `path` and fd_ open on it.
  Header header;
  cache->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  bool build = false;
  if (cache->fd_ < 0) {
    if (errno != ENOENT) fail("cannot open image cache '" + path + "': " + std::strerror(errno));
    build = true;
    cache->state_ = CacheState::kBuilt;
  } else {
    struct stat info {};
    if (::fstat(cache->fd_, &info) != 0) fail("cannot stat image cache '" + path + "': " + std::strerror(errno));
    const auto file_size = static_cast<uint64_t>(info.st_size);
    Prefix prefix{};
    if (file_size < sizeof prefix) corrupt(path, "only " + std::to_string(file_size) + " bytes long");
    read_exactly(cache->fd_, &prefix, sizeof prefix, 0, path, "the prefix");
    if (std::memcmp(prefix.magic, kMagic, sizeof kMagic) != 0) {
      fail("'" + path + "' is not an image cache (its first bytes are not \"UBPIMGC\"); it is left alone: "
           "delete it or choose another cache path");
    }
    if (prefix.version != kFormatVersion || prefix.byte_order != kByteOrderMark) {
      cache->stale_reason_ = prefix.byte_order != kByteOrderMark
                                 ? "it was written on a machine of the other byte order"
                                 : "it has format version " + std::to_string(prefix.version) + ", this build writes " +
                                       std::to_string(kFormatVersion);
    } else {
      if (prefix.header_offset < sizeof prefix || prefix.header_offset > file_size ||
          prefix.header_size != file_size - prefix.header_offset) {
        corrupt(path, "truncated or extended: " + std::to_string(file_size) + " bytes, the prefix says " +
                          std::to_string(prefix.header_offset + prefix.header_size));
      }
      std::string bytes(static_cast<size_t>(prefix.header_size), '\0');
      read_exactly(cache->fd_, bytes.data(), bytes.size(), prefix.header_offset, path, "the header");
      if (crc32_of(bytes.data(), bytes.size()) != prefix.header_crc) corrupt(path, "the header checksum does not match");
      try {
        header = parse(bytes);
      } catch (const std::out_of_range& e) {
        corrupt(path, std::string("the header does not parse: ") + e.what());
      }
      if (header.split != split) {
        fail("image cache '" + path + "' holds the '" + header.split + "' split but this loader reads '" + split +
             "'; give each split its own cache path");
      }
      cache->stale_reason_ = stale_because(header, subset, settings.short_side);
      const std::string invalid = invalid_records(header, sizeof prefix, prefix.header_offset);
      if (!invalid.empty()) corrupt(path, invalid);
    }
    if (!cache->stale_reason_.empty()) {
      ::close(cache->fd_);
      cache->fd_ = -1;
      build = true;
      cache->state_ = CacheState::kRebuilt;
    } else {
      cache->state_ = CacheState::kLoaded;
    }
  }

  if (build) {
    header = Header{};
    header.split = split;
    header.split_directory = subset.split_directory;
    header.short_side = static_cast<uint32_t>(settings.short_side);
    header.class_names = subset.class_names;
    header.sources = subset.files;

    std::error_code ec;
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    // Every write goes through the atomic-write helper; its errors (a full disk) become ours.
    std::optional<support::AtomicFile> file;
    const auto put = [&](const void* data, size_t size, uint64_t at) {
      try {
        if (!file) file.emplace(path);
        file->write_at(data, size, static_cast<off_t>(at));
      } catch (const support::FileError& e) {
        fail(std::string("cannot write image cache: ") + e.what());
      }
    };
    uint64_t offset = sizeof(Prefix);
    const int threads = std::max(1, settings.threads);
    // Decode a chunk in parallel, then append it in order: the file does not depend on the
    // thread count, and memory stays at one chunk of images.
    const size_t chunk = static_cast<size_t>(threads) * 16;
    std::vector<RgbImage> images;
    std::vector<std::string> errors;
    for (size_t begin = 0; begin < subset.files.size(); begin += chunk) {
      const size_t count = std::min(chunk, subset.files.size() - begin);
      images.assign(count, RgbImage());
      errors.assign(count, std::string());
      parallel_for(threads, count, [&](size_t i) {
        try {
          images[i] = decode_and_shrink(subset.path(begin + i), settings.short_side, settings.short_side);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
      for (size_t i = 0; i < count; ++i) {
        const size_t source = begin + i;
        if (!errors[i].empty()) {
          if (!settings.skip_bad_images) fail(errors[i]);
          header.skipped.push_back({source, errors[i]});
          continue;
        }
        const RgbImage& image = images[i];
        Record r;
        r.source = static_cast<uint32_t>(source);
        r.width = static_cast<uint32_t>(image.width);
        r.height = static_cast<uint32_t>(image.height);
        r.offset = offset;
        r.crc = crc32_of(image.pixels.data(), image.pixels.size());
        put(image.pixels.data(), image.pixels.size(), offset);
        offset += image.pixels.size();
        header.records.push_back(r);
      }
    }
    if (header.records.empty()) {
      fail("no image of the subset of '" + subset.split_directory + "' could be decoded; not writing cache '" +
           path + "'");
    }
    const std::string bytes = serialize(header);
    put(bytes.data(), bytes.size(), offset);
    Prefix prefix{};
    std::memcpy(prefix.magic, kMagic, sizeof kMagic);
    prefix.version = kFormatVersion;
    prefix.byte_order = kByteOrderMark;
    prefix.header_offset = offset;
    prefix.header_size = bytes.size();
    prefix.header_crc = crc32_of(bytes.data(), bytes.size());
    put(&prefix, sizeof prefix, 0);
    try {
      file->commit();
    } catch (const support::FileError& e) {
      fail(std::string("cannot write image cache: ") + e.what());
    }
    cache->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (cache->fd_ < 0) fail("cannot open image cache '" + path + "' just written: " + std::strerror(errno));
  }

  if (!header.skipped.empty() && !settings.skip_bad_images) {
    fail("image cache '" + path + "' was built with skip_bad_images and left out " +
         std::to_string(header.skipped.size()) + " image(s), the first: " + header.skipped.front().error +
         "; set skip_bad_images, or fix the image and delete the cache");
  }
  cache->records_ = std::move(header.records);
  cache->skipped_ = std::move(header.skipped);
  return cache;
}

void ImageCache::read(size_t record, RgbImage& out) const {
  const Record& r = records_.at(record);
  out.width = static_cast<int>(r.width);
  out.height = static_cast<int>(r.height);
  out.pixels.resize(size_t{r.width} * r.height * 3);
  const std::string& name = source_paths_[r.source];
  read_exactly(fd_, out.pixels.data(), out.pixels.size(), r.offset, path_, "image '" + name + "'");
  if (crc32_of(out.pixels.data(), out.pixels.size()) != r.crc) {
    corrupt(path_, "the checksum of image '" + name + "' does not match");
  }
}

}  // namespace ubp::data

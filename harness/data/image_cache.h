// The optional preprocessed cache of an image-folder subset: every chosen image decoded once,
// shrunk so its short side is at most `short_side`, and stored as raw 8-bit RGB in one binary
// file, so later epochs and runs skip JPEG decoding. Plain C++ (POSIX file I/O, zlib CRC-32).
//
// File layout (native byte order; a file from a machine of the other order reads as stale):
//   prefix (40 bytes): magic "UBPIMGC\0", u32 format version, u32 byte-order mark 0x01020304,
//                      u64 header offset, u64 header size, u32 CRC-32 of the header, u32 0
//   image data: the records' pixels, back to back
//   header: split, split directory, short side, class names, the source files (relative
//           path, size, mtime, label), the records (source index, width, height, offset,
//           CRC-32 of the pixels), the files that could not be decoded (with the error)
// The header is checked when the file is opened; each record's checksum when it is read (a
// whole-file checksum at every start would cost a minute on a 30 GB cache).
//
// Staleness versus corruption: a cache written by another format version, or for other
// files, sizes, modification times, classes or short side, is stale and rebuilt on the spot
// (state() says so). A cache whose checksums or sizes do not add up is corrupt: an error that
// names the file and says to delete it; so is a file that is not a cache at all (never
// overwritten) and a cache of the other split (train and val need a cache path each).
// The file is written to a temporary name beside it and renamed into place, so a crash never
// leaves a half-written cache under the real name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/image_codec.h"
#include "data/image_subset.h"

namespace ubp::data {

enum class CacheState {
  kNotUsed,  // no cache path configured
  kLoaded,   // an up-to-date cache was opened
  kBuilt,    // there was none: built now
  kRebuilt,  // the one there was stale (see stale_reason): built anew
};
const char* cache_state_name(CacheState state);

struct ImageCacheSettings {
  int short_side = 256;          // images are shrunk (never enlarged) to this short side
  int threads = 2;               // decoding threads while building
  bool skip_bad_images = false;  // leave undecodable images out (else: error naming the file)
};

class ImageCache {
 public:
  // Opens `path` if it holds `subset` as `settings` would store it, else builds it. A cache
  // built with skip_bad_images that left images out is an error when opened without it.
  // Processes opening one path at once (the ranks of a data-parallel run) take turns through an
  // flock on "<path>.lock": one builds, the others then load what it built.
  static std::unique_ptr<ImageCache> open_or_build(const std::string& path, const ImageSubset& subset,
                                                   const ImageCacheSettings& settings);
  ~ImageCache();
  ImageCache(const ImageCache&) = delete;
  ImageCache& operator=(const ImageCache&) = delete;

  CacheState state() const { return state_; }
  const std::string& stale_reason() const { return stale_reason_; }  // set for kRebuilt
  const std::string& path() const { return path_; }

  size_t size() const { return records_.size(); }  // images stored
  size_t source_index(size_t record) const { return records_[record].source; }  // into subset.files

  struct Skipped {
    size_t source = 0;
    std::string error;
  };
  const std::vector<Skipped>& skipped() const { return skipped_; }  // undecodable at build time

  // Reads one image; safe to call from several threads at once. Throws ImageFolderError
  // naming the cache and the image when its checksum does not match.
  void read(size_t record, RgbImage& out) const;

  struct Record {
    uint32_t source = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    uint64_t offset = 0;
    uint32_t crc = 0;
  };

 private:
  ImageCache() = default;

  std::string path_;
  int fd_ = -1;
  CacheState state_ = CacheState::kNotUsed;
  std::string stale_reason_;
  std::vector<Record> records_;
  std::vector<Skipped> skipped_;
  std::vector<std::string> source_paths_;  // relative paths of the subset's files, for error messages
};

}  // namespace ubp::data

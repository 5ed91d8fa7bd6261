// The preprocessed image cache (data/image_cache.h) opened against the subset it was built for
// (image_tree.h). The header's CRC-32 is made to match first, so mutations reach the header
// parser and the record checks instead of stopping at the checksum.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "data/image_cache.h"
#include "data/image_subset.h"
#include "fuzz_input.h"
#include "image_tree.h"

#include <zlib.h>

namespace {

const ubp::data::ImageSubset& subset() {
  static const ubp::data::ImageSubset s = [] {
    const auto root = ubp::fuzz::scratch_dir() / "images";
    ubp::fuzz::make_image_tree(root);
    return ubp::fuzz::image_tree_subset(root);
  }();
  return s;
}

uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);  // the cache is in native byte order
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(data, data + size);
  if (size >= 40) {
    const uint64_t offset = get_u64(data + 16), header_size = get_u64(data + 24);
    if (offset <= size && header_size <= size - offset) {
      const auto crc = static_cast<uint32_t>(crc32_z(0, data + offset, header_size));
      std::memcpy(file.data() + 32, &crc, sizeof crc);
    }
  }
  const std::string path = ubp::fuzz::write_scratch("cache.bin", file.data(), file.size());
  try {
    const auto cache = ubp::data::ImageCache::open_or_build(path, subset(), ubp::fuzz::image_tree_cache_settings());
    ubp::data::RgbImage image;
    for (size_t r = 0; r < cache->size(); ++r) {
      try {
        cache->read(r, image);
      } catch (const ubp::data::ImageFolderError&) {
      }
    }
  } catch (const ubp::data::ImageFolderError&) {
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("ImageCache::open_or_build", e);
  }
  return 0;
}

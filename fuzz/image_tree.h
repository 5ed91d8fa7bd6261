// The image-folder tree behind the image-cache fuzz target and its seed: two classes of two
// small PNGs each, with fixed contents and modification times, so a cache built from it by
// ubp_fuzz_seeds is up to date (not stale) when the fuzz target opens it against its own copy.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/image_cache.h"
#include "data/image_codec.h"
#include "data/image_subset.h"

namespace ubp::fuzz {

inline void make_image_tree(const std::filesystem::path& root) {
  for (int c = 0; c < 2; ++c) {
    const std::filesystem::path dir = root / "train" / ("class" + std::to_string(c));
    std::filesystem::create_directories(dir);
    for (int i = 0; i < 2; ++i) {
      data::RgbImage image(12 + 4 * i, 9 + 3 * c);
      for (size_t p = 0; p < image.pixels.size(); ++p) image.pixels[p] = static_cast<uint8_t>(p * 7 + c * 31 + i);
      const std::string path = (dir / ("img" + std::to_string(i) + ".png")).string();
      std::ofstream(path, std::ios::binary) << data::encode_png(image);
      const struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
      if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
        std::perror(path.c_str());
        std::abort();
      }
    }
  }
}

inline data::ImageSubset image_tree_subset(const std::filesystem::path& root) {
  data::ImageSubsetOptions options;
  options.root = root.string();
  options.split = data::ImageSplit::kTrain;
  return data::select_image_subset(options);
}

inline data::ImageCacheSettings image_tree_cache_settings() {
  data::ImageCacheSettings settings;
  settings.short_side = 8;
  settings.threads = 1;
  return settings;
}

}  // namespace ubp::fuzz

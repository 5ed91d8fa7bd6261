// Decodes PNG files (libpng's simplified API) so that tests can look at what was drawn.
#pragma once

#include <png.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace ubp::testing {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel, alpha composed over white

  const uint8_t* at(int x, int y) const { return &rgb[(static_cast<size_t>(y) * width + x) * 3]; }
};

inline bool has_png_signature(const std::string& bytes) {
  return bytes.size() >= 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

inline RgbImage decode_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    throw std::runtime_error("cannot decode " + path + ": " + image.message);
  }
  image.format = PNG_FORMAT_RGB;
  RgbImage out;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.rgb.resize(PNG_IMAGE_SIZE(image));
  png_color white{255, 255, 255};
  if (!png_image_finish_read(&image, &white, out.rgb.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw std::runtime_error("cannot decode " + path + ": " + message);
  }
  return out;
}

inline size_t distinct_colours(const RgbImage& image) {
  std::set<uint32_t> colours;
  for (size_t i = 0; i + 2 < image.rgb.size(); i += 3) {
    colours.insert((uint32_t{image.rgb[i]} << 16) | (uint32_t{image.rgb[i + 1]} << 8) |
                   image.rgb[i + 2]);
  }
  return colours.size();
}

inline bool near_colour(const uint8_t* pixel, uint32_t rgb, int tolerance) {
  const int want[3] = {static_cast<int>((rgb >> 16) & 255), static_cast<int>((rgb >> 8) & 255),
                       static_cast<int>(rgb & 255)};
  for (int c = 0; c < 3; ++c) {
    if (std::abs(pixel[c] - want[c]) > tolerance) return false;
  }
  return true;
}

// The pixels within `tolerance` of `rgb` in rows [row_begin, row_end) (all rows by default): how
// many, and the first and last row holding one (-1 when none).
struct ColourHits {
  size_t count = 0;
  int first_row = -1;
  int last_row = -1;
};

inline ColourHits find_colour(const RgbImage& image, uint32_t rgb, int tolerance,
                              int row_begin = 0, int row_end = -1) {
  ColourHits hits;
  if (row_end < 0 || row_end > image.height) row_end = image.height;
  for (int y = std::max(row_begin, 0); y < row_end; ++y) {
    for (int x = 0; x < image.width; ++x) {
      if (!near_colour(image.at(x, y), rgb, tolerance)) continue;
      ++hits.count;
      if (hits.first_row < 0) hits.first_row = y;
      hits.last_row = y;
    }
  }
  return hits;
}

}  // namespace ubp::testing

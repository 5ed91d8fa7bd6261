// Decoding JPEG (libjpeg-turbo) and PNG (libpng) files into 8-bit RGB pixels, and encoding them
// (for tests, benchmarks and tools). Plain C++ without LibTorch, so it compiles fast and the
// loader's worker threads never touch torch.
//
// Every image comes out as 3-channel RGB: grayscale and CMYK/YCCK JPEGs are converted, and so
// are palette, grayscale, 16-bit and alpha PNGs (alpha is dropped, not composited, as PIL's
// convert("RGB") does). The format is told from the file's first bytes, not its name:
// ImageNet's train set has a PNG and CMYK JPEGs all named .JPEG.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ubp::data {

// 8-bit RGB, rows top to bottom, the three channels interleaved (HWC).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3) {}
  uint8_t* pixel(int x, int y) { return pixels.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* pixel(int x, int y) const {
    return pixels.data() + (static_cast<size_t>(y) * width + x) * 3;
  }
};

// A file that cannot be read or decoded; the message names the file and what is wrong with it.
class ImageDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads and decodes `path`. With min_short_side > 0 a JPEG larger than needed is decoded at a
// reduced scale n/8 (libjpeg's DCT scaling: much faster than decoding at full size and
// shrinking), the smallest scale whose short side is still >= min_short_side; PNGs and
// min_short_side = 0 decode at full size. Throws ImageDecodeError for a missing, empty,
// truncated or corrupt file and for a file that is neither JPEG nor PNG.
RgbImage decode_image_file(const std::string& path, int min_short_side = 0);

// The same on bytes already in memory; `name` is used in error messages.
RgbImage decode_image_bytes(const uint8_t* data, size_t size, const std::string& name,
                            int min_short_side = 0);

// The DCT scale (numerator over 8, 1..8) decode_image_file uses for a width x height JPEG.
int jpeg_scale_eighths(int width, int height, int min_short_side);

// How a test or benchmark image is stored.
enum class JpegColor {
  kRgb,           // YCbCr JPEG, the usual photo
  kGray,          // one luminance channel
  kCmykInverted,  // 4-channel CMYK with an Adobe marker, stored inverted as Photoshop does
};
enum class PngColor { kRgb, kRgba, kGray, kGrayAlpha, kPalette, kRgb16 };

// Encodes `image` (gray and CMYK: converted from its RGB values). Throws ImageDecodeError if
// the library fails. kPalette needs at most 256 distinct colours.
std::string encode_jpeg(const RgbImage& image, int quality = 95, JpegColor color = JpegColor::kRgb);
std::string encode_png(const RgbImage& image, PngColor color = PngColor::kRgb);

// The luminance a gray encoding stores for an RGB pixel (ITU-R BT.601 weights, rounded).
uint8_t luminance(const uint8_t* rgb);

}  // namespace ubp::data

// Image operations of the ImageNet input pipeline on 8-bit RGB (HWC) buffers, in plain C++:
// one resampling routine for every resize and crop, torchvision's RandomResizedCrop box, the
// evaluation centre crop, normalisation into a CHW float batch row, and the seeded random
// stream of a sample. No LibTorch: the loader's worker threads run these.
#pragma once

#include <cstdint>
#include <string>

#include "data/image_codec.h"

namespace ubp::data {

// A rectangle of a source image in pixel units (the pixel (x, y) covers [x, x+1) x [y, y+1)).
// Fractional so that "resize, then crop" can be done as one resampling of the source.
struct CropBox {
  double left = 0, top = 0, width = 0, height = 0;
};

// Resamples `box` of `source` to a width x height image, mirrored left-right when `mirror`.
// Triangle (bilinear) filter whose support widens by the shrink factor, as PIL's bilinear
// resize does, so shrinking averages instead of aliasing; enlarging is plain bilinear. Pixels
// just outside the box contribute at its border (clamped to the image).
void resize_crop(const RgbImage& source, const CropBox& box, int width, int height, bool mirror,
                 RgbImage& out);

// The image shrunk (never enlarged) so that its short side is `short_side`; the long side
// becomes floor(short_side * long / short), as torchvision's Resize(int) does. An image whose
// short side is already <= short_side, or short_side <= 0, is returned unchanged.
RgbImage shrink_short_side(RgbImage image, int short_side);

// decode_image_file at a DCT scale that keeps the short side >= min_short_side, then
// shrink_short_side(shrink_to); the one way the loader and the cache builder read a file.
RgbImage decode_and_shrink(const std::string& path, int min_short_side, int shrink_to);

// A small, fast generator (splitmix64) whose draws are defined here bit for bit, so crops
// are identical across platforms and standard libraries (std:: distributions are not).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform(double low, double high);      // [low, high)
  int64_t uniform_int(int64_t low, int64_t high);  // [low, high], unbiased
  bool coin() { return (next() >> 63) != 0; }

 private:
  uint64_t state_;
};

// splitmix64's output function: nearby inputs give unrelated outputs.
uint64_t mix64(uint64_t value);

// The random stream of one sample's augmentation: a function of (seed, epoch, index) only, so
// any number of loader threads, in any order, draws the same crops.
SplitMix64 sample_random(uint64_t seed, int64_t epoch, int64_t index);

// torchvision's RandomResizedCrop.get_params: up to `attempts` draws of an area fraction in
// [min_scale, max_scale] and a log-uniform aspect ratio in [min_ratio, max_ratio]; the first
// box that fits is placed uniformly; if none fits, the largest centred box whose ratio is
// clamped into the range. Integer boxes, as torchvision's.
struct RandomResizedCropParams {
  double min_scale = 0.08, max_scale = 1.0;
  double min_ratio = 3.0 / 4.0, max_ratio = 4.0 / 3.0;
  int attempts = 10;
};
CropBox random_resized_crop_box(int width, int height, SplitMix64& random,
                                const RandomResizedCropParams& params = {});

// Evaluation: resize the short side to round(size / 0.875) (256 for 224) and take the centred
// size x size crop, as torchvision's Resize + CenterCrop compute them (integer resized sides,
// centre offset rounded half to even) but returned as the box of the original image that
// becomes the crop, so the two steps are one resampling.
inline constexpr double kEvalCropFraction = 0.875;
int eval_resize_short_side(int size);  // round(size / kEvalCropFraction)
CropBox center_crop_box(int width, int height, int size);

// Per-channel normalisation (x / 255 - mean) / std.
struct Normalization {
  float mean[3];
  float std[3];
};
inline constexpr Normalization kImageNetNormalization{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};

// Writes `image` normalised as 3 planes (CHW) of width * height floats to `out`.
void normalize_to_chw(const RgbImage& image, const Normalization& normalization, float* out);

}  // namespace ubp::data

#include "data/image_transforms.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace ubp::data {
namespace {

// For each output pixel along one axis: the first source pixel it reads and its weights
// (`taps` slots per output pixel, unused ones zero).
struct AxisWeights {
  std::vector<int> first;
  std::vector<float> weights;
  int taps = 0;
};

AxisWeights axis_weights(int source_size, double box_start, double box_size, int out_size) {
  const double scale = box_size / out_size;
  // Shrinking by s widens the triangle by s, so every source pixel contributes (antialiasing).
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;
  AxisWeights axis;
  axis.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  axis.first.resize(static_cast<size_t>(out_size));
  axis.weights.assign(static_cast<size_t>(out_size) * axis.taps, 0.0f);
  for (int i = 0; i < out_size; ++i) {
    const double centre = box_start + (i + 0.5) * scale;
    const int low = std::clamp(static_cast<int>(std::floor(centre - support + 0.5)), 0, source_size - 1);
    const int high = std::clamp(static_cast<int>(std::floor(centre + support + 0.5)), low + 1, source_size);
    float* w = &axis.weights[static_cast<size_t>(i) * axis.taps];
    double total = 0;
    const int count = std::min(high - low, axis.taps);
    for (int t = 0; t < count; ++t) {
      const double distance = std::abs(low + t + 0.5 - centre) / filter_scale;
      const double weight = std::max(0.0, 1.0 - distance);
      w[t] = static_cast<float>(weight);
      total += weight;
    }
    if (total <= 0) {  // the centre lies outside the image (a box at its very edge): nearest pixel
      w[0] = 1.0f;
      total = 1.0;
    }
    for (int t = 0; t < count; ++t) w[t] = static_cast<float>(w[t] / total);
    axis.first[static_cast<size_t>(i)] = low;
  }
  return axis;
}

// Round to nearest and saturate; without lround's library call, so the row loop vectorises.
uint8_t to_byte(float value) {
  const float clamped = std::min(std::max(value, 0.0f), 255.0f);
  return static_cast<uint8_t>(clamped + 0.5f);
}

}  // namespace

void resize_crop(const RgbImage& source, const CropBox& box, int width, int height, bool mirror, RgbImage& out) {
  if (source.width <= 0 || source.height <= 0) throw std::invalid_argument("resize_crop: empty source image");
  if (width <= 0 || height <= 0) {
    throw std::invalid_argument("resize_crop: output size must be positive, got " + std::to_string(width) + "x" +
                                std::to_string(height));
  }
  if (!(box.width > 0 && box.height > 0)) throw std::invalid_argument("resize_crop: empty crop box");
  const AxisWeights xs = axis_weights(source.width, box.left, box.width, width);
  const AxisWeights ys = axis_weights(source.height, box.top, box.height, height);

  // Horizontal pass over the source rows the vertical pass will read, into floats.
  const int row_low = ys.first.front();
  const int row_high = std::min(source.height, ys.first.back() + ys.taps);
  const size_t out_row = static_cast<size_t>(width) * 3;
  std::vector<float> rows(static_cast<size_t>(row_high - row_low) * out_row);
  for (int y = row_low; y < row_high; ++y) {
    const uint8_t* src = source.pixel(0, y);
    float* dst = &rows[static_cast<size_t>(y - row_low) * out_row];
    for (int x = 0; x < width; ++x) {
      const float* w = &xs.weights[static_cast<size_t>(x) * xs.taps];
      const int first = xs.first[static_cast<size_t>(x)];
      const int count = std::min(xs.taps, source.width - first);
      float r = 0, g = 0, b = 0;
      for (int t = 0; t < count; ++t) {
        const uint8_t* p = src + static_cast<size_t>(first + t) * 3;
        r += w[t] * p[0];
        g += w[t] * p[1];
        b += w[t] * p[2];
      }
      float* o = dst + static_cast<size_t>(mirror ? width - 1 - x : x) * 3;
      o[0] = r;
      o[1] = g;
      o[2] = b;
    }
  }

  // Vertical pass, a whole output row at a time (contiguous, so the compiler vectorises it).
  out.width = width;
  out.height = height;
  out.pixels.resize(out_row * height);
  std::vector<float> accumulator(out_row);
  for (int y = 0; y < height; ++y) {
    std::fill(accumulator.begin(), accumulator.end(), 0.0f);
    const float* w = &ys.weights[static_cast<size_t>(y) * ys.taps];
    const int first = ys.first[static_cast<size_t>(y)];
    const int count = std::min(ys.taps, row_high - first);
    for (int t = 0; t < count; ++t) {
      const float weight = w[t];
      if (weight == 0.0f) continue;
      const float* src = &rows[static_cast<size_t>(first + t - row_low) * out_row];
      for (size_t k = 0; k < out_row; ++k) accumulator[k] += weight * src[k];
    }
    uint8_t* dst = out.pixel(0, y);
    for (size_t k = 0; k < out_row; ++k) dst[k] = to_byte(accumulator[k]);
  }
}

RgbImage shrink_short_side(RgbImage image, int short_side) {
  const int current = std::min(image.width, image.height);
  if (short_side <= 0 || current <= short_side) return image;
  const int long_side = static_cast<int>(static_cast<int64_t>(short_side) * std::max(image.width, image.height) / current);
  const int width = image.width <= image.height ? short_side : long_side;
  const int height = image.width <= image.height ? long_side : short_side;
  RgbImage out;
  resize_crop(image, CropBox{0, 0, double(image.width), double(image.height)}, width, height, false, out);
  return out;
}

RgbImage decode_and_shrink(const std::string& path, int min_short_side, int shrink_to) {
  return shrink_short_side(decode_image_file(path, min_short_side), shrink_to);
}

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::next() {
  state_ += 0x9e3779b97f4a7c15ULL;
  return mix64(state_);
}

double SplitMix64::uniform(double low, double high) {
  const double unit = static_cast<double>(next() >> 11) * 0x1.0p-53;  // 53 random bits in [0, 1)
  return low + (high - low) * unit;
}

int64_t SplitMix64::uniform_int(int64_t low, int64_t high) {
  if (high < low) throw std::invalid_argument("uniform_int: empty range");
  const uint64_t bound = static_cast<uint64_t>(high - low) + 1;
  if (bound == 0) return static_cast<int64_t>(next());  // the whole 64-bit range
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
  uint64_t r;
  do {
    r = next();
  } while (r >= limit);
  return low + static_cast<int64_t>(r % bound);
}

SplitMix64 sample_random(uint64_t seed, int64_t epoch, int64_t index) {
  uint64_t z = mix64(seed ^ 0x5ca1ab1e0ddba11ULL);
  z = mix64(z + static_cast<uint64_t>(epoch));
  z = mix64(z + static_cast<uint64_t>(index));
  return SplitMix64(z);
}

CropBox random_resized_crop_box(int width, int height, SplitMix64& random, const RandomResizedCropParams& p) {
  const double area = static_cast<double>(width) * height;
  const double log_min_ratio = std::log(p.min_ratio), log_max_ratio = std::log(p.max_ratio);
  for (int attempt = 0; attempt < p.attempts; ++attempt) {
    const double target_area = area * random.uniform(p.min_scale, p.max_scale);
    const double ratio = std::exp(random.uniform(log_min_ratio, log_max_ratio));
    // Python's round() rounds half to even, as nearbyint does in the default rounding mode.
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area * ratio)));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area / ratio)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int64_t top = random.uniform_int(0, height - h);
      const int64_t left = random.uniform_int(0, width - w);
      return CropBox{double(left), double(top), double(w), double(h)};
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < p.min_ratio) {
    h = static_cast<int>(std::nearbyint(w / p.min_ratio));
  } else if (in_ratio > p.max_ratio) {
    w = static_cast<int>(std::nearbyint(h * p.max_ratio));
  }
  return CropBox{double((width - w) / 2), double((height - h) / 2), double(w), double(h)};
}

int eval_resize_short_side(int size) { return static_cast<int>(std::nearbyint(size / kEvalCropFraction)); }

CropBox center_crop_box(int width, int height, int size) {
  const int64_t short_side = eval_resize_short_side(size);
  const int64_t resized_width = width <= height ? short_side : short_side * width / height;
  const int64_t resized_height = width <= height ? short_side * height / width : short_side;
  const double top = std::nearbyint((resized_height - size) / 2.0);
  const double left = std::nearbyint((resized_width - size) / 2.0);
  const double scale_x = static_cast<double>(width) / resized_width;
  const double scale_y = static_cast<double>(height) / resized_height;
  return CropBox{left * scale_x, top * scale_y, size * scale_x, size * scale_y};
}

void normalize_to_chw(const RgbImage& image, const Normalization& n, float* out) {
  float table[3][256];  // a lookup per channel beats a divide per value
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) table[c][v] = (v / 255.0f - n.mean[c]) / n.std[c];
  }
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  const uint8_t* p = image.pixels.data();
  for (size_t i = 0; i < plane; ++i, p += 3) {
    out[i] = table[0][p[0]];
    out[plane + i] = table[1][p[1]];
    out[2 * plane + i] = table[2][p[2]];
  }
}

}  // namespace ubp::data

// Small image-folder trees of real JPEG and PNG files (encoded with libjpeg and libpng) for the
// image loader's tests. Every class's images have a solid red channel that marks the class,
// green rising left to right and blue rising top to bottom, so a test can tell from the pixels
// which class and which part of an image a batch row came from.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/image_codec.h"

namespace ubp::testing {

inline uint8_t class_red(int class_index) { return static_cast<uint8_t>(20 + 35 * class_index); }

inline data::RgbImage class_image(int class_index, int width, int height) {
  data::RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.pixel(x, y);
      p[0] = class_red(class_index);
      p[1] = static_cast<uint8_t>(40 + 160 * x / (width - 1));
      p[2] = static_cast<uint8_t>(40 + 160 * y / (height - 1));
    }
  }
  return image;
}

inline data::RgbImage solid_image(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  data::RgbImage image(width, height);
  for (size_t i = 0; i < image.pixels.size(); i += 3) {
    image.pixels[i] = r;
    image.pixels[i + 1] = g;
    image.pixels[i + 2] = b;
  }
  return image;
}

// A photo-like image (gradients and a pattern), big enough that its JPEG has a long scan.
inline data::RgbImage busy_image(int width, int height) {
  data::RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = image.pixel(x, y);
      p[0] = static_cast<uint8_t>(x * 255 / width);
      p[1] = static_cast<uint8_t>((x * 7 + y * 13) % 256);
      p[2] = static_cast<uint8_t>(y * 255 / height);
    }
  }
  return image;
}

// A JPEG cut off in the middle of its compressed data (libjpeg itself only warns about it).
inline std::string truncated_jpeg() {
  const std::string jpeg = data::encode_jpeg(busy_image(128, 96), 90);
  return jpeg.substr(0, jpeg.size() * 7 / 10);
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string tree_class_name(int class_index) { return "class" + std::to_string(class_index); }

// The file name of image k of a class: every third a PNG, the others JPEGs named .JPEG or .jpg.
inline std::string tree_file_name(int k) {
  const char* extension = k % 3 == 2 ? ".png" : (k % 3 == 0 ? ".JPEG" : ".jpg");
  return "img" + std::to_string(10 + k) + extension;
}

// root/train/<class>/ with train_per_class images and root/val/<class>/ with val_per_class.
inline void make_image_tree(const std::filesystem::path& root, int num_classes, int train_per_class,
                            int val_per_class, int width = 48, int height = 40) {
  for (int c = 0; c < num_classes; ++c) {
    const data::RgbImage image = class_image(c, width, height);
    const std::string jpeg = data::encode_jpeg(image, 95);
    const std::string png = data::encode_png(image);
    for (const auto& [split, count] : {std::pair<std::string, int>{"train", train_per_class}, {"val", val_per_class}}) {
      for (int k = 0; k < count; ++k) {
        const std::string name = tree_file_name(k);
        write_bytes(root / split / tree_class_name(c) / name, name.substr(name.size() - 4) == ".png" ? png : jpeg);
      }
    }
  }
}

}  // namespace ubp::testing

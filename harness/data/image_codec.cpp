#include "data/image_codec.h"

// clang-format off: jpeglib.h needs <cstdio> (FILE) before it.
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <png.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <map>

#include "ubp/support/read_file.h"

namespace ubp::data {
namespace {

// A corrupt header can claim up to 65500 x 65500 pixels (12 GB of RGB); refuse before
// allocating. 2^28 pixels is far beyond any photo a classification dataset holds.
constexpr uint64_t kMaxPixels = uint64_t{1} << 28;

constexpr size_t kMessageSize = 512;

// What libjpeg may allocate for one image. A progressive JPEG keeps the coefficients of the
// whole image at full resolution (2 bytes per sample) whatever the output scale, so its header
// alone can ask for gigabytes; baseline JPEGs stream and need a few rows.
constexpr uint64_t kMaxJpegMemory = uint64_t{512} << 20;
// An image file larger than this is not read (ImageNet's largest JPEG is about 15 MB).
constexpr size_t kMaxImageFileBytes = size_t{256} << 20;

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw ImageDecodeError("image file '" + name + "': " + what);
}

// ---------------------------------------------------------------------------------------
// libjpeg. Its default error handler prints and calls exit(); ours longjmps back to the
// function that started the decode, which cleans up and reports. The functions that call
// setjmp hold no C++ object with a destructor, so the jump skips no destructor.

struct JpegErrorManager {
  jpeg_error_mgr base;  // first member: libjpeg only knows a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr info) {
  auto* manager = reinterpret_cast<JpegErrorManager*>(info->err);
  (*info->err->format_message)(info, manager->message);
  std::longjmp(manager->jump, 1);
}

// libjpeg only warns about a truncated file (it pads the missing data with grey and goes on),
// so that one warning is an error here. Other warnings stay quiet: ImageNet holds files with
// "extraneous bytes before marker" that decode to the right picture.
void jpeg_on_message(j_common_ptr info, int level) {
  if (level >= 0) return;  // trace output
  if (info->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(info);
  info->err->num_warnings++;
}

void install_jpeg_errors(JpegErrorManager& manager) {
  jpeg_std_error(&manager.base);
  manager.base.error_exit = jpeg_fail;
  manager.base.emit_message = jpeg_on_message;
  manager.message[0] = '\0';
}

// CMYK is "ink"; Adobe's (Photoshop's) files store it inverted (255 = no ink), which is what
// libjpeg reports through saw_Adobe_marker.
void cmyk_row_to_rgb(const uint8_t* cmyk, uint8_t* rgb, int width, bool stored_inverted) {
  for (int x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    const int k = stored_inverted ? cmyk[3] : 255 - cmyk[3];
    for (int c = 0; c < 3; ++c) {
      const int paper = stored_inverted ? cmyk[c] : 255 - cmyk[c];
      rgb[c] = static_cast<uint8_t>((paper * k + 127) / 255);
    }
  }
}

bool run_jpeg_decode(const uint8_t* data, size_t size, int min_short_side, RgbImage& out,
                     std::vector<uint8_t>& cmyk_row, char* message) {
  jpeg_decompress_struct info;
  JpegErrorManager errors;
  install_jpeg_errors(errors);
  info.err = &errors.base;
  if (setjmp(errors.jump)) {
    std::snprintf(message, kMessageSize, "corrupt or truncated JPEG (libjpeg: %s)", errors.message);
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_create_decompress(&info);
  // The memory manager refuses (an error, not an allocation) what passes this.
  info.mem->max_memory_to_use = static_cast<long>(kMaxJpegMemory);
  jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&info, TRUE);
  const uint64_t coefficient_bytes = uint64_t{info.image_width} * info.image_height * info.num_components * 2;
  if (jpeg_has_multiple_scans(&info) && coefficient_bytes > kMaxJpegMemory) {
    std::snprintf(message, kMessageSize,
                  "a progressive JPEG of %ux%u pixels needs %llu MiB to decode, more than the %llu MiB this "
                  "loader accepts",
                  info.image_width, info.image_height, static_cast<unsigned long long>(coefficient_bytes >> 20),
                  static_cast<unsigned long long>(kMaxJpegMemory >> 20));
    jpeg_destroy_decompress(&info);
    return false;
  }
  const bool cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
  // libjpeg-turbo converts grayscale and YCbCr to RGB itself; YCCK only as far as CMYK.
  info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  info.scale_num = static_cast<unsigned>(
      jpeg_scale_eighths(static_cast<int>(info.image_width), static_cast<int>(info.image_height),
                         min_short_side));
  info.scale_denom = 8;
  jpeg_calc_output_dimensions(&info);
  if (uint64_t{info.output_width} * info.output_height > kMaxPixels) {
    std::snprintf(message, kMessageSize, "%ux%u pixels is more than the %llu this loader accepts",
                  info.output_width, info.output_height, static_cast<unsigned long long>(kMaxPixels));
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_start_decompress(&info);
  out.width = static_cast<int>(info.output_width);
  out.height = static_cast<int>(info.output_height);
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  if (cmyk) cmyk_row.resize(static_cast<size_t>(out.width) * 4);
  while (info.output_scanline < info.output_height) {
    uint8_t* target = out.pixel(0, static_cast<int>(info.output_scanline));
    JSAMPROW row = cmyk ? cmyk_row.data() : target;
    jpeg_read_scanlines(&info, &row, 1);
    if (cmyk) cmyk_row_to_rgb(cmyk_row.data(), target, out.width, info.saw_Adobe_marker != 0);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return true;
}

bool run_jpeg_encode(const uint8_t* samples, int width, int height, int components,
                     J_COLOR_SPACE space, int quality, unsigned char** buffer,
                     unsigned long* size, char* message) {
  jpeg_compress_struct info;
  JpegErrorManager errors;
  install_jpeg_errors(errors);
  info.err = &errors.base;
  if (setjmp(errors.jump)) {
    std::snprintf(message, kMessageSize, "libjpeg: %s", errors.message);
    jpeg_destroy_compress(&info);
    return false;
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, buffer, size);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = components;
  info.in_color_space = space;
  jpeg_set_defaults(&info);  // CMYK input: stored as CMYK with an Adobe marker
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(samples) +
                   static_cast<size_t>(info.next_scanline) * width * components;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  return true;
}

// ---------------------------------------------------------------------------------------
// libpng: the same longjmp discipline, through png_jmpbuf.

struct PngErrorState {
  char message[256];  // shorter than kMessageSize, which adds our words around it
};

[[noreturn]] void png_fail(png_structp png, png_const_charp what) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", what);
  png_longjmp(png, 1);
}

// Warnings such as "iCCP: known incorrect sRGB profile" do not change the pixels.
void png_ignore_warning(png_structp, png_const_charp) {}

struct PngMemoryReader {
  const uint8_t* data;
  size_t size;
  size_t offset;
};

void png_read_from_memory(png_structp png, png_bytep out, size_t count) {
  auto* reader = static_cast<PngMemoryReader*>(png_get_io_ptr(png));
  if (count > reader->size - reader->offset) png_error(png, "file is truncated");
  std::memcpy(out, reader->data + reader->offset, count);
  reader->offset += count;
}

bool run_png_decode(const uint8_t* data, size_t size, RgbImage& out, std::vector<png_bytep>& rows,
                    char* message) {
  PngErrorState errors{};
  PngMemoryReader reader{data, size, 0};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &errors, png_fail, png_ignore_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (png == nullptr || info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(message, kMessageSize, "libpng could not allocate its decoder");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    std::snprintf(message, kMessageSize, "corrupt or truncated PNG (libpng: %s)", errors.message);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &reader, png_read_from_memory);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_strip_16(png);
  // A palette's transparency (tRNS) becomes an alpha channel on expansion: drop it as well.
  if ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0) {
    png_set_strip_alpha(png);
  }
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (uint64_t{width} * height > kMaxPixels) {
    png_error(png, "image has more pixels than this loader accepts");
  }
  if (png_get_rowbytes(png, info) != size_t{width} * 3) {
    png_error(png, "unexpected row layout after conversion to 8-bit RGB");
  }
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.pixels.resize(size_t{width} * height * 3);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = out.pixel(0, static_cast<int>(y));
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);  // reads up to IEND, so a file cut after the pixels is caught too
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

void png_append_to_string(png_structp png, png_bytep data, size_t count) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), count);
}

void png_flush_nothing(png_structp) {}

bool run_png_encode(const uint8_t* samples, int width, int height, int bytes_per_row, int bit_depth,
                    int color_type, const std::vector<png_color>& palette, std::string& out,
                    std::vector<png_bytep>& rows, char* message) {
  PngErrorState errors{};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors, png_fail, png_ignore_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (png == nullptr || info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(message, kMessageSize, "libpng could not allocate its encoder");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    std::snprintf(message, kMessageSize, "libpng: %s", errors.message);
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, &out, png_append_to_string, png_flush_nothing);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), bit_depth,
               color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  }
  png_write_info(png, info);
  rows.resize(static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) {
    rows[static_cast<size_t>(y)] = const_cast<uint8_t*>(samples) + static_cast<size_t>(y) * bytes_per_row;
  }
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

bool starts_with(const uint8_t* data, size_t size, const uint8_t* magic, size_t magic_size) {
  return size >= magic_size && std::memcmp(data, magic, magic_size) == 0;
}

std::string hex_prefix(const uint8_t* data, size_t size) {
  std::string out;
  char byte[4];
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) {
    std::snprintf(byte, sizeof byte, "%02x", data[i]);
    out += (i ? " " : "") + std::string(byte);
  }
  return out;
}

}  // namespace

int jpeg_scale_eighths(int width, int height, int min_short_side) {
  if (min_short_side <= 0) return 8;
  const int64_t short_side = std::min(width, height);
  for (int eighths = 1; eighths < 8; ++eighths) {
    // libjpeg rounds scaled dimensions up
    if ((short_side * eighths + 7) / 8 >= min_short_side) return eighths;
  }
  return 8;
}

RgbImage decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, int min_short_side) {
  static const uint8_t kJpegMagic[] = {0xFF, 0xD8, 0xFF};
  static const uint8_t kPngMagic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size == 0) fail(name, "is empty (0 bytes); expected a JPEG or PNG image");
  RgbImage image;
  char message[kMessageSize] = "";
  if (starts_with(data, size, kJpegMagic, sizeof kJpegMagic)) {
    std::vector<uint8_t> cmyk_row;
    if (!run_jpeg_decode(data, size, min_short_side, image, cmyk_row, message)) fail(name, message);
  } else if (starts_with(data, size, kPngMagic, sizeof kPngMagic)) {
    std::vector<png_bytep> rows;
    if (!run_png_decode(data, size, image, rows, message)) fail(name, message);
  } else {
    fail(name, "is neither a JPEG nor a PNG image (it starts with bytes " + hex_prefix(data, size) +
                   "; a JPEG starts with ff d8 ff, a PNG with 89 50 4e 47)");
  }
  return image;
}

RgbImage decode_image_file(const std::string& path, int min_short_side) {
  std::string bytes;
  try {
    bytes = support::read_file_bounded(path, kMaxImageFileBytes, "image file");
  } catch (const support::FileError& e) {
    const std::string message = e.what();
    // The path is already in the message; keep the form "image file '<path>': ...".
    fail(path, message.substr(std::min(message.size(), path.size() + 2)));
  }
  return decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path, min_short_side);
}

uint8_t luminance(const uint8_t* rgb) {
  return static_cast<uint8_t>((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000);
}

std::string encode_jpeg(const RgbImage& image, int quality, JpegColor color) {
  const size_t count = static_cast<size_t>(image.width) * image.height;
  std::vector<uint8_t> converted;
  const uint8_t* samples = image.pixels.data();
  int components = 3;
  J_COLOR_SPACE space = JCS_RGB;
  if (color == JpegColor::kGray) {
    converted.resize(count);
    for (size_t i = 0; i < count; ++i) converted[i] = luminance(&image.pixels[i * 3]);
    samples = converted.data();
    components = 1;
    space = JCS_GRAYSCALE;
  } else if (color == JpegColor::kCmykInverted) {
    // Inverted storage (255 = no ink): K keeps the brightest channel, C/M/Y the ratio to it,
    // so that paper * k / 255 gives the RGB value back.
    converted.resize(count * 4);
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* rgb = &image.pixels[i * 3];
      const int brightest = std::max({rgb[0], rgb[1], rgb[2]});
      for (int c = 0; c < 3; ++c) {
        converted[i * 4 + c] = brightest == 0 ? 0 : static_cast<uint8_t>((rgb[c] * 255 + brightest / 2) / brightest);
      }
      converted[i * 4 + 3] = static_cast<uint8_t>(brightest);
    }
    samples = converted.data();
    components = 4;
    space = JCS_CMYK;
  }
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  char message[kMessageSize] = "";
  const bool ok = run_jpeg_encode(samples, image.width, image.height, components, space, quality,
                                  &buffer, &size, message);
  std::string out = ok ? std::string(reinterpret_cast<const char*>(buffer), size) : std::string();
  std::free(buffer);
  if (!ok) throw ImageDecodeError(std::string("encoding a JPEG failed: ") + message);
  return out;
}

std::string encode_png(const RgbImage& image, PngColor color) {
  const size_t count = static_cast<size_t>(image.width) * image.height;
  std::vector<uint8_t> samples;
  std::vector<png_color> palette;
  int bytes_per_pixel = 3, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  switch (color) {
    case PngColor::kRgb:
      samples = image.pixels;
      break;
    case PngColor::kRgb16:  // big-endian 16-bit: v * 257 is the byte v twice
      samples.resize(count * 6);
      for (size_t i = 0; i < count * 3; ++i) samples[2 * i] = samples[2 * i + 1] = image.pixels[i];
      bytes_per_pixel = 6;
      bit_depth = 16;
      break;
    case PngColor::kRgba:  // an alpha that varies, to show it does not leak into the colours
      samples.resize(count * 4);
      for (size_t i = 0; i < count; ++i) {
        std::copy_n(&image.pixels[i * 3], 3, &samples[i * 4]);
        samples[i * 4 + 3] = static_cast<uint8_t>(i * 37);
      }
      bytes_per_pixel = 4;
      color_type = PNG_COLOR_TYPE_RGB_ALPHA;
      break;
    case PngColor::kGray:
    case PngColor::kGrayAlpha: {
      const bool alpha = color == PngColor::kGrayAlpha;
      bytes_per_pixel = alpha ? 2 : 1;
      samples.resize(count * bytes_per_pixel);
      for (size_t i = 0; i < count; ++i) {
        samples[i * bytes_per_pixel] = luminance(&image.pixels[i * 3]);
        if (alpha) samples[i * bytes_per_pixel + 1] = static_cast<uint8_t>(255 - i * 11);
      }
      color_type = alpha ? PNG_COLOR_TYPE_GRAY_ALPHA : PNG_COLOR_TYPE_GRAY;
      break;
    }
    case PngColor::kPalette: {
      std::map<uint32_t, uint8_t> index_of;
      samples.resize(count);
      for (size_t i = 0; i < count; ++i) {
        const uint8_t* rgb = &image.pixels[i * 3];
        const uint32_t key = (uint32_t{rgb[0]} << 16) | (uint32_t{rgb[1]} << 8) | rgb[2];
        auto found = index_of.find(key);
        if (found == index_of.end()) {
          if (palette.size() == 256) throw ImageDecodeError("encoding a palette PNG: more than 256 colours");
          found = index_of.emplace(key, static_cast<uint8_t>(palette.size())).first;
          palette.push_back(png_color{rgb[0], rgb[1], rgb[2]});
        }
        samples[i] = found->second;
      }
      bytes_per_pixel = 1;
      color_type = PNG_COLOR_TYPE_PALETTE;
      break;
    }
  }
  std::string out;
  std::vector<png_bytep> rows;
  char message[kMessageSize] = "";
  if (!run_png_encode(samples.data(), image.width, image.height, image.width * bytes_per_pixel, bit_depth,
                      color_type, palette, out, rows, message)) {
    throw ImageDecodeError(std::string("encoding a PNG failed: ") + message);
  }
  return out;
}

}  // namespace ubp::data

// The plain-C++ parts of the image-folder loader: decoding real JPEG and PNG files written here
// with libjpeg and libpng, the resampling and crop geometry against values worked out by hand
// from torchvision's definitions, and the subset choice on small trees.
#include <gtest/gtest.h>

// clang-format off: jpeglib.h needs <cstdio> (FILE) before it.
#include <cstdio>
#include <jpeglib.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "data/image_codec.h"
#include "data/image_subset.h"
#include "data/image_transforms.h"
#include "support/temp_dir.h"
#include "tests/image_test_tree.h"

namespace ubp::data {
namespace {

namespace fs = std::filesystem;
using ubp::testing::busy_image;
using ubp::testing::class_image;
using ubp::testing::make_image_tree;
using ubp::testing::solid_image;
using ubp::testing::TempDir;
using ubp::testing::write_bytes;

// Largest per-channel difference between an image and one colour.
int max_distance(const RgbImage& image, int r, int g, int b) {
  int worst = 0;
  for (size_t i = 0; i < image.pixels.size(); i += 3) {
    worst = std::max({worst, std::abs(image.pixels[i] - r), std::abs(image.pixels[i + 1] - g),
                      std::abs(image.pixels[i + 2] - b)});
  }
  return worst;
}

RgbImage decode(const std::string& bytes, int min_short_side = 0) {
  return decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "memory", min_short_side);
}

void expect_decode_error(const std::string& path, const std::string& what) {
  try {
    decode_image_file(path);
    FAIL() << "no error for " << path;
  } catch (const ImageDecodeError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

TEST(ImageCodec, DecodesAnRgbJpegToItsColourWithinJpegTolerance) {
  const RgbImage image = decode(encode_jpeg(solid_image(40, 24, 200, 30, 90), 95));
  EXPECT_EQ(image.width, 40);
  EXPECT_EQ(image.height, 24);
  EXPECT_LE(max_distance(image, 200, 30, 90), 3);
}

TEST(ImageCodec, DecodesGrayscaleAndCmykJpegsToRgb) {
  const RgbImage gray = decode(encode_jpeg(solid_image(16, 16, 120, 120, 120), 95, JpegColor::kGray));
  EXPECT_LE(max_distance(gray, 120, 120, 120), 2);
  const RgbImage cmyk = decode(encode_jpeg(solid_image(16, 16, 200, 100, 50), 95, JpegColor::kCmykInverted));
  EXPECT_EQ(cmyk.pixels.size(), 16u * 16 * 3);
  EXPECT_LE(max_distance(cmyk, 200, 100, 50), 4);
}

TEST(ImageCodec, DecodesEveryPngColourTypeToRgbExactly) {
  const RgbImage colour = class_image(3, 20, 12);
  for (PngColor kind : {PngColor::kRgb, PngColor::kRgba, PngColor::kRgb16, PngColor::kPalette}) {
    EXPECT_EQ(decode(encode_png(colour, kind)).pixels, colour.pixels) << static_cast<int>(kind);
  }
  const RgbImage gray_source = solid_image(9, 7, 77, 77, 77);
  for (PngColor kind : {PngColor::kGray, PngColor::kGrayAlpha}) {
    const RgbImage gray = decode(encode_png(gray_source, kind));
    EXPECT_EQ(gray.pixels, gray_source.pixels) << static_cast<int>(kind);
  }
}

TEST(ImageCodec, TellsTheFormatByContentSoAPngNamedJpegDecodes) {
  TempDir dir;
  const RgbImage image = class_image(1, 10, 8);
  write_bytes(dir.file("really_a_png.JPEG"), encode_png(image));
  EXPECT_EQ(decode_image_file(dir.file("really_a_png.JPEG")).pixels, image.pixels);
}

TEST(ImageCodec, DecodesBigJpegsAtTheSmallestDctScaleThatKeepsTheShortSide) {
  EXPECT_EQ(jpeg_scale_eighths(400, 300, 0), 8);
  EXPECT_EQ(jpeg_scale_eighths(400, 300, 100), 3);   // 300 * 3/8 = 112.5 -> 113 >= 100
  EXPECT_EQ(jpeg_scale_eighths(400, 300, 113), 3);
  EXPECT_EQ(jpeg_scale_eighths(400, 300, 114), 4);
  EXPECT_EQ(jpeg_scale_eighths(400, 300, 290), 8);
  EXPECT_EQ(jpeg_scale_eighths(100, 80, 500), 8);    // never enlarged
  const RgbImage image = decode(encode_jpeg(solid_image(400, 300, 10, 220, 130), 90), 100);
  EXPECT_EQ(image.width, 150);
  EXPECT_EQ(image.height, 113);
  EXPECT_LE(max_distance(image, 10, 220, 130), 4);
}

TEST(ImageCodec, ATruncatedJpegIsAnErrorNamingTheFile) {
  TempDir dir;
  const std::string path = dir.write("cut.JPEG", ubp::testing::truncated_jpeg());
  expect_decode_error(path, "truncated JPEG");
  const std::string jpeg = encode_jpeg(busy_image(128, 96), 90);
  // cut inside the header as well
  expect_decode_error(dir.write("cut_early.jpg", jpeg.substr(0, 100)), "JPEG");
}

TEST(ImageCodec, ACorruptPngIsAnErrorNamingTheFile) {
  TempDir dir;
  std::string png = encode_png(busy_image(64, 48));
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  png[idat + 40] = static_cast<char>(png[idat + 40] ^ 0x5a);
  expect_decode_error(dir.write("bad.png", png), "PNG");
  const std::string whole = encode_png(busy_image(64, 48));
  expect_decode_error(dir.write("short.png", whole.substr(0, whole.size() / 2)), "truncated");
}

TEST(ImageCodec, EmptyMissingAndForeignFilesAreErrorsNamingTheFile) {
  TempDir dir;
  expect_decode_error(dir.write("empty.JPEG", ""), "empty");
  expect_decode_error(dir.file("absent.JPEG"), "cannot open the image file");
  expect_decode_error("/dev/zero", "character device");
  expect_decode_error(dir.write("text.jpg", "GIF89a, not what you think"), "neither a JPEG nor a PNG");
}

// A progressive JPEG's header decides how much libjpeg allocates (the whole image's
// coefficients at full resolution, whatever the output scale): a small file claiming 60000 x
// 60000 pixels is refused before anything is allocated.
TEST(ImageCodec, AProgressiveJpegClaimingHugeDimensionsIsRefusedBeforeAllocating) {
  const RgbImage image = busy_image(32, 24);
  jpeg_compress_struct info;
  jpeg_error_mgr errors;
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = 32;
  info.image_height = 24;
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_simple_progression(&info);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixel(0, static_cast<int>(info.next_scanline)));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string bytes(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  EXPECT_EQ(decode(bytes).width, 32) << "the progressive file itself decodes";
  const size_t sof2 = bytes.find("\xff\xc2");
  ASSERT_NE(sof2, std::string::npos);
  // SOF2: length (2), precision (1), height (2), width (2), big-endian.
  bytes[sof2 + 5] = static_cast<char>(60000 >> 8);
  bytes[sof2 + 6] = static_cast<char>(60000 & 0xff);
  bytes[sof2 + 7] = static_cast<char>(60000 >> 8);
  bytes[sof2 + 8] = static_cast<char>(60000 & 0xff);
  try {
    decode(bytes, 32);
    ADD_FAILURE() << "a 60000 x 60000 progressive JPEG was decoded";
  } catch (const ImageDecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("progressive JPEG of 60000x60000 pixels needs 20599 MiB"), std::string::npos)
        << e.what();
  }
}

TEST(ImageTransforms, ResizeCropOfALinearGradientSamplesTheBoxCentres) {
  // green = 3 * column, so the value at a (fractional) position s is 3 * (s - 0.5)
  RgbImage ramp(64, 8);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 64; ++x) {
      uint8_t* p = ramp.pixel(x, y);
      p[0] = 10;
      p[1] = static_cast<uint8_t>(3 * x);
      p[2] = 200;
    }
  }
  RgbImage out;
  for (double scale : {0.5, 1.0, 1.75}) {  // enlarge, copy, shrink
    const CropBox box{10, 0, 16 * scale, 8};
    resize_crop(ramp, box, 16, 4, false, out);
    ASSERT_EQ(out.width, 16);
    ASSERT_EQ(out.height, 4);
    for (int x = 1; x < 15; ++x) {
      const double expected = 3 * (box.left + (x + 0.5) * scale - 0.5);
      EXPECT_NEAR(out.pixel(x, 2)[1], expected, 0.51) << "scale " << scale << " x " << x;
      EXPECT_EQ(out.pixel(x, 2)[0], 10);
      EXPECT_EQ(out.pixel(x, 2)[2], 200);
    }
  }
  RgbImage mirrored;
  resize_crop(ramp, CropBox{10, 0, 16, 8}, 16, 4, true, mirrored);
  resize_crop(ramp, CropBox{10, 0, 16, 8}, 16, 4, false, out);
  for (int x = 0; x < 16; ++x) EXPECT_EQ(mirrored.pixel(x, 1)[1], out.pixel(15 - x, 1)[1]);
}

TEST(ImageTransforms, ShrinkingAveragesAFinePatternInsteadOfAliasing) {
  RgbImage stripes(64, 64);  // one-pixel black and white columns
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) std::fill_n(stripes.pixel(x, y), 3, x % 2 ? 255 : 0);
  }
  const RgbImage small = shrink_short_side(stripes, 16);
  ASSERT_EQ(small.width, 16);
  // Away from the borders (where the filter window is cut) every output is the mean grey;
  // sampling without widening the filter would give pure black or white.
  for (int x = 1; x < 15; ++x) EXPECT_NEAR(small.pixel(x, 8)[0], 128, 1) << "column " << x;
}

TEST(ImageTransforms, ShrinkShortSideFollowsTorchvisionResizeAndNeverEnlarges) {
  const RgbImage landscape = shrink_short_side(solid_image(500, 375, 1, 2, 3), 256);
  EXPECT_EQ(landscape.width, 341);  // int(256 * 500 / 375)
  EXPECT_EQ(landscape.height, 256);
  const RgbImage portrait = shrink_short_side(solid_image(300, 451, 1, 2, 3), 100);
  EXPECT_EQ(portrait.width, 100);
  EXPECT_EQ(portrait.height, 150);
  EXPECT_EQ(max_distance(portrait, 1, 2, 3), 0);
  const RgbImage small = shrink_short_side(solid_image(50, 40, 1, 2, 3), 256);
  EXPECT_EQ(small.width, 50);
  EXPECT_EQ(small.height, 40);
}

TEST(ImageTransforms, CenterCropBoxIsTorchvisionResizeThenCenterCrop) {
  EXPECT_EQ(eval_resize_short_side(224), 256);
  EXPECT_EQ(eval_resize_short_side(32), 37);
  // 500x375 -> Resize(256) = 341x256 -> CenterCrop(224): top round(16) = 16,
  // left round(58.5) = 58 (Python rounds half to even)
  const CropBox box = center_crop_box(500, 375, 224);
  EXPECT_NEAR(box.left, 58 * 500.0 / 341, 1e-9);
  EXPECT_NEAR(box.top, 16 * 375.0 / 256, 1e-9);
  EXPECT_NEAR(box.width, 224 * 500.0 / 341, 1e-9);
  EXPECT_NEAR(box.height, 224 * 375.0 / 256, 1e-9);
  // portrait 48x64 at 32: Resize(37) = 37x49, top round(8.5) = 8, left round(2.5) = 2
  const CropBox tall = center_crop_box(48, 64, 32);
  EXPECT_NEAR(tall.left, 2 * 48.0 / 37, 1e-9);
  EXPECT_NEAR(tall.top, 8 * 64.0 / 49, 1e-9);
}

TEST(ImageTransforms, RandomResizedCropBoxesFitTheImageAndTheScaleAndRatioRanges) {
  SplitMix64 random(42);
  double smallest = 1, largest = 0;
  for (int i = 0; i < 2000; ++i) {
    const CropBox box = random_resized_crop_box(500, 375, random);
    ASSERT_GE(box.left, 0);
    ASSERT_GE(box.top, 0);
    ASSERT_LE(box.left + box.width, 500);
    ASSERT_LE(box.top + box.height, 375);
    ASSERT_EQ(box.left, std::floor(box.left));  // integer boxes, as torchvision's
    const double fraction = box.width * box.height / (500.0 * 375.0);
    const double ratio = box.width / box.height;
    if (fraction < 1) {  // not the fallback
      EXPECT_GE(fraction, 0.08 * 0.9);
      EXPECT_GE(ratio, 0.75 * 0.95);
      EXPECT_LE(ratio, 4.0 / 3.0 * 1.05);
    }
    smallest = std::min(smallest, fraction);
    largest = std::max(largest, fraction);
  }
  EXPECT_LT(smallest, 0.12);
  EXPECT_GT(largest, 0.9);
  // No box of ratio 3/4..4/3 fits a 1000x10 strip: the centred fallback, ratio clamped to 4/3.
  const CropBox strip = random_resized_crop_box(1000, 10, random);
  EXPECT_EQ(strip.width, 13);
  EXPECT_EQ(strip.height, 10);
  EXPECT_EQ(strip.left, 493);
  EXPECT_EQ(strip.top, 0);
}

TEST(ImageTransforms, TheSampleStreamDependsOnlyOnSeedEpochAndIndex) {
  EXPECT_EQ(sample_random(1, 2, 3).next(), sample_random(1, 2, 3).next());
  const uint64_t base = sample_random(1, 2, 3).next();
  EXPECT_NE(base, sample_random(2, 2, 3).next());
  EXPECT_NE(base, sample_random(1, 3, 3).next());
  EXPECT_NE(base, sample_random(1, 2, 4).next());
  SplitMix64 random(7);
  std::set<int64_t> seen;
  for (int i = 0; i < 400; ++i) {
    const int64_t v = random.uniform_int(-2, 2);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 2);
    seen.insert(v);
    const double u = random.uniform(0.25, 0.5);
    ASSERT_GE(u, 0.25);
    ASSERT_LT(u, 0.5);
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(ImageTransforms, NormalizeWritesChannelPlanesWithTheImagenetStatistics) {
  RgbImage image(2, 1);
  const uint8_t values[] = {0, 128, 255, 51, 102, 204};
  std::copy(values, values + 6, image.pixels.begin());
  float out[6];
  normalize_to_chw(image, kImageNetNormalization, out);
  const float expected[] = {(0 / 255.f - 0.485f) / 0.229f, (51 / 255.f - 0.485f) / 0.229f,
                            (128 / 255.f - 0.456f) / 0.224f, (102 / 255.f - 0.456f) / 0.224f,
                            (255 / 255.f - 0.406f) / 0.225f, (204 / 255.f - 0.406f) / 0.225f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(out[i], expected[i], 1e-6) << i;
}

// ---- subsets ----

std::vector<std::string> classes_of(const ImageSubset& subset) { return subset.class_names; }

void expect_subset_error(const ImageSubsetOptions& options, const std::vector<std::string>& parts) {
  try {
    select_image_subset(options);
    FAIL() << "no error";
  } catch (const ImageFolderError& e) {
    for (const std::string& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(ImageSubset, TakesEveryClassSortedAndLabelsImagesByClassPosition) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 4, 2, 8, 8);
  write_bytes(dir.path() / "train" / "class1" / "notes.txt", "not an image");
  write_bytes(dir.path() / "train" / "class1" / ".hidden.jpg", "hidden");
  ImageSubsetOptions options;
  options.root = dir.path().string();
  const ImageSubset subset = select_image_subset(options);
  EXPECT_EQ(classes_of(subset), (std::vector<std::string>{"class0", "class1", "class2"}));
  ASSERT_EQ(subset.files.size(), 12u);
  EXPECT_EQ(subset.files[0].relative_path, "class0/img10.JPEG");
  EXPECT_EQ(subset.files[1].relative_path, "class0/img11.jpg");
  EXPECT_EQ(subset.files[2].relative_path, "class0/img12.png");
  for (size_t i = 0; i < subset.files.size(); ++i) EXPECT_EQ(subset.files[i].label, static_cast<int64_t>(i / 4));
  EXPECT_EQ(subset.path(5), (dir.path() / "train" / "class1" / "img11.jpg").string());
  EXPECT_GT(subset.files[0].size, 0u);
  EXPECT_TRUE(has_image_extension("a.PnG"));
  EXPECT_TRUE(has_image_extension("a.jpeg"));
  EXPECT_FALSE(has_image_extension("a.gif"));
}

TEST(ImageSubset, ChoosesNumClassesFromTheSeedAndKeepsThemSorted) {
  TempDir dir;
  make_image_tree(dir.path(), 6, 1, 1, 8, 8);
  ImageSubsetOptions options;
  options.root = dir.path().string();
  options.num_classes = 3;
  std::set<std::vector<std::string>> choices;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    options.subset_seed = seed;
    const std::vector<std::string> chosen = classes_of(select_image_subset(options));
    ASSERT_EQ(chosen.size(), 3u);
    EXPECT_TRUE(std::is_sorted(chosen.begin(), chosen.end()));
    EXPECT_EQ(chosen, classes_of(select_image_subset(options)));  // same seed, same classes
    choices.insert(chosen);
  }
  EXPECT_GE(choices.size(), 4u);  // the seed matters
  options.num_classes = 7;
  expect_subset_error(options, {"num_classes = 7", "only 6 class directories"});
}

TEST(ImageSubset, AClassListChoosesItsClassesInSortedOrder) {
  TempDir dir;
  make_image_tree(dir.path(), 5, 2, 1, 8, 8);
  const std::string list = dir.write("classes.txt", "# my subset\nclass4\n\n  class1  # a comment\r\nclass3\n");
  ImageSubsetOptions options;
  options.root = dir.path().string();
  options.class_list = list;
  const ImageSubset subset = select_image_subset(options);
  EXPECT_EQ(classes_of(subset), (std::vector<std::string>{"class1", "class3", "class4"}));
  EXPECT_EQ(subset.files[0].relative_path, "class1/img10.JPEG");
  EXPECT_EQ(subset.files.back().label, 2);
  options.num_classes = 3;  // agrees with the list
  EXPECT_EQ(classes_of(select_image_subset(options)).size(), 3u);
  options.num_classes = 2;
  expect_subset_error(options, {"num_classes = 2", list, "3 classes"});
}

TEST(ImageSubset, AClassListWithAnUnknownClassNamesTheFileTheLineAndTheClass) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 1, 1, 8, 8);
  ImageSubsetOptions options;
  options.root = dir.path().string();
  options.class_list = dir.write("list.txt", "class0\n# next one is wrong\nclass9\n");
  expect_subset_error(options, {options.class_list, "line 3", "'class9'", "train"});
  options.class_list = dir.write("twice.txt", "class0\nclass1\nclass0\n");
  expect_subset_error(options, {options.class_list, "line 3", "'class0'", "line 1"});
  options.class_list = dir.write("empty.txt", "# nothing\n\n");
  expect_subset_error(options, {options.class_list, "names no class"});
  options.class_list = dir.file("absent.txt");
  expect_subset_error(options, {options.class_list, "cannot open"});
}

TEST(ImageSubset, ImagesPerClassTakesASeededChoiceOfEachClass) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 9, 1, 8, 8);
  ImageSubsetOptions options;
  options.root = dir.path().string();
  options.images_per_class = 4;
  const ImageSubset subset = select_image_subset(options);
  ASSERT_EQ(subset.files.size(), 8u);
  std::set<std::string> names;
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(subset.files[i].label, static_cast<int64_t>(i / 4));
    names.insert(subset.files[i].relative_path);
  }
  EXPECT_EQ(names.size(), 8u);
  EXPECT_TRUE(std::is_sorted(subset.files.begin(), subset.files.begin() + 4,
                             [](const ImageFile& a, const ImageFile& b) { return a.relative_path < b.relative_path; }));
  std::set<std::vector<std::string>> choices;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    options.subset_seed = seed;
    std::vector<std::string> chosen;
    for (const ImageFile& f : select_image_subset(options).files) chosen.push_back(f.relative_path);
    choices.insert(chosen);
  }
  EXPECT_GE(choices.size(), 3u);
  options.images_per_class = 100;  // more than there are: all of them
  EXPECT_EQ(select_image_subset(options).files.size(), 18u);
}

TEST(ImageSubset, ValUsesTheClassesAndIndicesOfTrain) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 2, 2, 8, 8);
  write_bytes(dir.path() / "val" / "class_only_in_val" / "img.jpg", encode_jpeg(solid_image(8, 8, 1, 1, 1)));
  ImageSubsetOptions options;
  options.root = dir.path().string();
  options.class_list = dir.write("list.txt", "class2\nclass0\n");
  options.split = ImageSplit::kVal;
  const ImageSubset val = select_image_subset(options);
  EXPECT_EQ(classes_of(val), (std::vector<std::string>{"class0", "class2"}));
  ASSERT_EQ(val.files.size(), 4u);
  EXPECT_EQ(val.files[2].relative_path, "class2/img10.JPEG");
  EXPECT_EQ(val.files[2].label, 1);
  EXPECT_EQ(val.split_directory, (dir.path() / "val").string());
}

TEST(ImageSubset, MissingDirectoriesAreErrorsNamingThePathAndWhatIsExpected) {
  TempDir dir;
  ImageSubsetOptions options;
  options.root = (dir.path() / "nowhere").string();
  expect_subset_error(options, {options.root, "train/<class>/ and val/<class>/"});
  options.root = dir.path().string();
  expect_subset_error(options, {(dir.path() / "train").string(), "missing directory"});
  make_image_tree(dir.path(), 2, 1, 0, 8, 8);  // no val/ at all
  options.split = ImageSplit::kVal;
  expect_subset_error(options, {(dir.path() / "val").string(), "missing directory"});
  fs::create_directories(dir.path() / "val" / "class0");
  write_bytes(dir.path() / "val" / "class0" / "a.jpg", encode_jpeg(solid_image(8, 8, 1, 1, 1)));
  expect_subset_error(options, {(dir.path() / "val" / "class1").string(), "class 'class1'"});
  fs::create_directories(dir.path() / "val" / "class1");
  expect_subset_error(options, {(dir.path() / "val" / "class1").string(), "holds no image files"});
  options.root.clear();
  expect_subset_error(options, {"root is not set"});
}

TEST(ImageSubset, ATrainDirectoryWithoutClassesIsAnError) {
  TempDir dir;
  fs::create_directories(dir.path() / "train");
  ImageSubsetOptions options;
  options.root = dir.path().string();
  expect_subset_error(options, {(dir.path() / "train").string(), "no class directories"});
}

}  // namespace
}  // namespace ubp::data

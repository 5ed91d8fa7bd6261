// Over 500 lines: every case builds on the same real JPEG/PNG trees (image_test_tree.h) and loader options.
// ImageFolderSource on small trees of real JPEG and PNG files: batch shapes, labels and pixel
// content, the evaluation crop, augmentation, determinism across thread counts, bad images,
// shutdown, the preprocessed cache (round trip, staleness, corruption), and data-parallel
// replicas that decode only their share of each batch.
#include "data/image_folder.h"

#include <gtest/gtest.h>

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "support/temp_dir.h"
#include "tests/image_test_tree.h"

namespace ubp::data {
namespace {

namespace fs = std::filesystem;
using ubp::testing::class_red;
using ubp::testing::make_image_tree;
using ubp::testing::read_bytes;
using ubp::testing::TempDir;
using ubp::testing::write_bytes;

struct Epoch {
  std::vector<at::Tensor> images;
  std::vector<at::Tensor> labels;
};

Epoch read_epoch(ImageFolderSource& source, int64_t epoch) {
  Epoch out;
  source.start_epoch(epoch);
  Batch batch;
  while (source.next(batch)) {
    out.images.push_back(batch.images);
    out.labels.push_back(batch.labels);
  }
  return out;
}

bool same_epochs(const Epoch& a, const Epoch& b) {
  if (a.images.size() != b.images.size()) return false;
  for (size_t i = 0; i < a.images.size(); ++i) {
    if (!at::equal(a.images[i], b.images[i]) || !at::equal(a.labels[i], b.labels[i])) return false;
  }
  return true;
}

std::vector<int64_t> all_labels(const Epoch& epoch) {
  std::vector<int64_t> out;
  for (const at::Tensor& l : epoch.labels) {
    for (int64_t i = 0; i < l.size(0); ++i) out.push_back(l[i].item<int64_t>());
  }
  return out;
}

// Back from ImageNet normalisation to 0..255 pixel values.
at::Tensor to_pixels(const at::Tensor& images) {
  const at::Tensor mean = at::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const at::Tensor std = at::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  return (images * std + mean) * 255.0f;
}

ImageFolderOptions small_options(const fs::path& root) {
  ImageFolderOptions o;
  o.root = root.string();
  o.image_size = 24;
  o.batch_size = 4;
  o.threads = 2;
  o.seed = 3;
  return o;
}

template <typename F>
std::string error_of(F&& action) {
  try {
    action();
  } catch (const ImageFolderError& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ImageFolder, EvalBatchesHaveTheShapeLabelsAndColoursOfTheirClass) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 4, 2);
  ImageFolderOptions o = small_options(dir.path());
  o.split = ImageSplit::kVal;
  o.augment = false;
  o.shuffle = false;
  ImageFolderSource source(o);
  EXPECT_EQ(source.num_classes(), 3);
  EXPECT_EQ(source.num_samples(), 6);
  EXPECT_EQ(source.batches_per_epoch(), 2);
  const Epoch epoch = read_epoch(source, 0);
  ASSERT_EQ(epoch.images.size(), 2u);
  EXPECT_EQ(epoch.images[0].sizes(), (at::IntArrayRef{4, 3, 24, 24}));
  EXPECT_EQ(epoch.images[0].scalar_type(), at::kFloat);
  EXPECT_EQ(epoch.labels[0].scalar_type(), at::kLong);
  EXPECT_EQ(epoch.images[1].size(0), 2);
  EXPECT_EQ(all_labels(epoch), (std::vector<int64_t>{0, 0, 1, 1, 2, 2}));
  for (size_t b = 0; b < epoch.images.size(); ++b) {
    const at::Tensor pixels = to_pixels(epoch.images[b]);
    for (int64_t i = 0; i < pixels.size(0); ++i) {
      const int64_t label = epoch.labels[b][i].item<int64_t>();
      // JPEG (4:2:0 chroma) and PNG rows alike: the red channel is the class's colour
      const at::Tensor red = pixels[i][0];
      EXPECT_NEAR(red.min().item<float>(), class_red(static_cast<int>(label)), 6.0) << "batch " << b << " row " << i;
      EXPECT_NEAR(red.max().item<float>(), class_red(static_cast<int>(label)), 6.0) << "batch " << b << " row " << i;
    }
  }
}

TEST(ImageFolder, EvaluationTakesTheCentreCropOfTheResizedImage) {
  TempDir dir;
  // red = 4 * row, green = 3 * column: a pixel value tells where it was sampled
  RgbImage ramp(64, 48);
  for (int y = 0; y < 48; ++y) {
    for (int x = 0; x < 64; ++x) {
      uint8_t* p = ramp.pixel(x, y);
      p[0] = static_cast<uint8_t>(4 * y);
      p[1] = static_cast<uint8_t>(3 * x);
      p[2] = 100;
    }
  }
  write_bytes(dir.path() / "train" / "only" / "ramp.png", encode_png(ramp));
  ImageFolderOptions o = small_options(dir.path());
  o.image_size = 32;
  o.augment = false;
  ImageFolderSource source(o);
  const Epoch epoch = read_epoch(source, 0);
  ASSERT_EQ(epoch.images.size(), 1u);
  const at::Tensor pixels = to_pixels(epoch.images[0])[0];
  ASSERT_EQ(pixels.sizes(), (at::IntArrayRef{3, 32, 32}));
  // Resize(37): 49x37; CenterCrop(32): left round(8.5) = 8, top round(2.5) = 2.
  for (int i = 0; i < 32; ++i) {
    const double source_x = (8 + i + 0.5) * 64.0 / 49.0;
    const double source_y = (2 + i + 0.5) * 48.0 / 37.0;
    EXPECT_NEAR(pixels[1][5][i].item<float>(), 3 * (source_x - 0.5), 1.01) << "column " << i;
    EXPECT_NEAR(pixels[0][i][5].item<float>(), 4 * (source_y - 0.5), 1.01) << "row " << i;
  }
  EXPECT_NEAR(pixels[2].min().item<float>(), 100, 0.01);
}

TEST(ImageFolder, BatchesAreIdenticalForOneAndThreeThreads) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 5, 1);
  ImageFolderOptions o = small_options(dir.path());
  o.threads = 1;
  ImageFolderSource one(o);
  o.threads = 3;
  o.prefetch_batches = 3;
  ImageFolderSource three(o);
  for (int64_t epoch : {0, 1}) {
    const Epoch a = read_epoch(one, epoch);
    const Epoch b = read_epoch(three, epoch);
    ASSERT_EQ(a.images.size(), 4u);
    EXPECT_TRUE(same_epochs(a, b)) << "epoch " << epoch;
  }
}

TEST(ImageFolder, AugmentationStaysInRangeAndDiffersBetweenEpochs) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 5, 1);
  ImageFolderOptions o = small_options(dir.path());
  o.shuffle = false;  // same order every epoch: only the crops and flips may differ
  ImageFolderSource source(o);
  const Epoch first = read_epoch(source, 0);
  const Epoch second = read_epoch(source, 1);
  EXPECT_TRUE(same_epochs(first, read_epoch(source, 0)));  // an epoch is a function of its number
  EXPECT_FALSE(same_epochs(first, second));
  int mirrored = 0, upright = 0;
  for (const Epoch* epoch : {&first, &second}) {
    for (size_t b = 0; b < epoch->images.size(); ++b) {
      const at::Tensor pixels = to_pixels(epoch->images[b]);
      EXPECT_GE(pixels.min().item<float>(), -0.5f);
      EXPECT_LE(pixels.max().item<float>(), 255.5f);
      for (int64_t i = 0; i < pixels.size(0); ++i) {
        const auto label = static_cast<int>(epoch->labels[b][i].item<int64_t>());
        ASSERT_GE(label, 0);
        ASSERT_LT(label, 3);
        EXPECT_NEAR(pixels[i][0].mean().item<float>(), class_red(label), 4.0);
        // green rises left to right in every source image, so falling green means a flip
        const float left = pixels[i][1].select(1, 0).mean().item<float>();
        const float right = pixels[i][1].select(1, 23).mean().item<float>();
        (right < left ? mirrored : upright) += 1;
      }
    }
  }
  EXPECT_GT(mirrored, 0);
  EXPECT_GT(upright, 0);
}

TEST(ImageFolder, TheEpochOrderIsTheSeedsEpochPermutation) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 3, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.augment = false;
  ImageFolderSource shuffled(o);
  for (int64_t epoch : {0, 4}) {
    std::vector<int64_t> expected;
    for (int64_t sample : epoch_permutation(9, o.seed, epoch)) expected.push_back(shuffled.label_of(sample));
    EXPECT_EQ(all_labels(read_epoch(shuffled, epoch)), expected);
  }
  o.shuffle = false;
  ImageFolderSource in_order(o);
  EXPECT_EQ(all_labels(read_epoch(in_order, 2)), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(in_order.path_of(4), (dir.path() / "train" / "class1" / "img11.jpg").string());
}

TEST(ImageFolder, DropLastLeavesOutTheLastSmallerBatch) {
  TempDir dir;
  make_image_tree(dir.path(), 1, 7, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.batch_size = 3;
  o.drop_last = true;
  ImageFolderSource dropping(o);
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  EXPECT_EQ(dropping.num_samples(), 6);
  const Epoch epoch = read_epoch(dropping, 0);
  ASSERT_EQ(epoch.images.size(), 2u);
  EXPECT_EQ(epoch.images[1].size(0), 3);
  o.drop_last = false;
  ImageFolderSource keeping(o);
  EXPECT_EQ(keeping.batches_per_epoch(), 3);
  EXPECT_EQ(read_epoch(keeping, 0).images.back().size(0), 1);
}

TEST(ImageFolder, ATruncatedJpegIsAnErrorNamingTheFile) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 3, 1, 16, 16);
  const fs::path bad = dir.path() / "train" / "class1" / "img11.jpg";
  write_bytes(bad, ubp::testing::truncated_jpeg());
  ImageFolderOptions o = small_options(dir.path());
  o.batch_size = 2;
  o.shuffle = false;
  ImageFolderSource source(o);
  source.start_epoch(0);
  Batch batch;
  EXPECT_TRUE(source.next(batch));  // class0 img10, img11
  EXPECT_TRUE(source.next(batch));  // class0 img12, class1 img10
  const std::string message = error_of([&] { source.next(batch); });
  EXPECT_TRUE(contains(message, bad.string())) << message;
  EXPECT_TRUE(contains(message, "truncated")) << message;
  EXPECT_EQ(error_of([&] { source.next(batch); }), message);  // until the next epoch starts
  source.start_epoch(1);
  EXPECT_TRUE(contains(error_of([&] { while (source.next(batch)) {} }), bad.string()));
}

TEST(ImageFolder, EmptyAndForeignFilesAreErrorsNamingTheFile) {
  TempDir dir;
  make_image_tree(dir.path(), 1, 2, 1, 16, 16);
  const fs::path empty = dir.path() / "train" / "class0" / "img10.JPEG";
  write_bytes(empty, "");
  ImageFolderOptions o = small_options(dir.path());
  o.shuffle = false;
  {
    ImageFolderSource source(o);
    const std::string message = error_of([&] { read_epoch(source, 0); });
    EXPECT_TRUE(contains(message, empty.string())) << message;
    EXPECT_TRUE(contains(message, "empty")) << message;
  }
  write_bytes(empty, "<html>a saved web page</html>");
  ImageFolderSource source(o);
  const std::string message = error_of([&] { read_epoch(source, 0); });
  EXPECT_TRUE(contains(message, empty.string())) << message;
  EXPECT_TRUE(contains(message, "neither a JPEG nor a PNG")) << message;
}

TEST(ImageFolder, SkipBadImagesLeavesThemOutOfTheirBatchesAndCountsThem) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 4, 1, 16, 16);
  const fs::path truncated = dir.path() / "train" / "class0" / "img11.jpg";
  const fs::path empty = dir.path() / "train" / "class1" / "img13.JPEG";
  write_bytes(truncated, ubp::testing::truncated_jpeg());
  write_bytes(empty, "");
  ImageFolderOptions o = small_options(dir.path());
  o.batch_size = 3;
  o.shuffle = false;
  o.skip_bad_images = true;
  ImageFolderSource source(o);
  for (int64_t e : {0, 1}) {
    const Epoch epoch = read_epoch(source, e);
    ASSERT_EQ(epoch.images.size(), 3u);
    EXPECT_EQ(epoch.images[0].size(0), 2);
    EXPECT_EQ(epoch.images[1].size(0), 3);
    EXPECT_EQ(epoch.images[2].size(0), 1);
    EXPECT_EQ(all_labels(epoch), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
    EXPECT_EQ(source.bad_image_count(), 2);  // counted once, however many epochs
  }
  const std::vector<std::string> bad = source.bad_image_paths();
  EXPECT_NE(std::find(bad.begin(), bad.end(), truncated.string()), bad.end());
  EXPECT_NE(std::find(bad.begin(), bad.end(), empty.string()), bad.end());
}

TEST(ImageFolder, BadOptionsAndAMissingTreeAreErrorsAtConstruction) {
  TempDir dir;
  ImageFolderOptions o = small_options(dir.path() / "absent");
  EXPECT_TRUE(contains(error_of([&] { ImageFolderSource source(o); }), (dir.path() / "absent").string()));
  make_image_tree(dir.path(), 1, 1, 1, 16, 16);
  o = small_options(dir.path());
  o.batch_size = 0;
  EXPECT_TRUE(contains(error_of([&] { ImageFolderSource source(o); }), "batch_size must be positive, got 0"));
  o = small_options(dir.path());
  o.threads = 0;
  EXPECT_TRUE(contains(error_of([&] { ImageFolderSource source(o); }), "threads must be >= 1"));
}

TEST(ImageFolder, NextBeforeStartEpochIsALogicError) {
  TempDir dir;
  make_image_tree(dir.path(), 1, 1, 1, 16, 16);
  ImageFolderSource source(small_options(dir.path()));
  Batch batch;
  EXPECT_THROW(source.next(batch), std::logic_error);
}

TEST(ImageFolder, RestartingOrDestroyingMidEpochDropsThePrefetchedWork) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 6, 1, 96, 80);
  ImageFolderOptions o = small_options(dir.path());
  o.batch_size = 2;
  o.threads = 3;
  o.prefetch_batches = 3;
  ImageFolderSource fresh(o);
  const Epoch expected = read_epoch(fresh, 1);
  {
    ImageFolderSource source(o);
    source.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(source.next(batch));
    EXPECT_TRUE(same_epochs(read_epoch(source, 1), expected));
  }
  auto source = std::make_unique<ImageFolderSource>(o);
  source->start_epoch(0);
  Batch batch;
  ASSERT_TRUE(source->next(batch));
  source.reset();  // workers busy with the following batches must stop and join
  SUCCEED();
}

// ---- the preprocessed cache ----

std::string cache_file(const TempDir& dir) { return (dir.path() / "cache" / "train.ubpcache").string(); }

// ---- replicas: each data-parallel process decodes its share of every global batch ----

// Reads epoch `epoch` from `count` replicas of `o` and concatenates their batches in rank order.
Epoch read_replicas(ImageFolderOptions o, int count, int64_t epoch) {
  std::vector<Epoch> shares;
  for (int rank = 0; rank < count; ++rank) {
    o.replica = Replica{rank, count};
    ImageFolderSource source(o);
    shares.push_back(read_epoch(source, epoch));
  }
  Epoch out;
  for (const Epoch& share : shares) {
    if (share.images.size() != shares[0].images.size()) return out;  // uneven: never the 1-process epoch
  }
  for (size_t b = 0; b < shares[0].images.size(); ++b) {
    std::vector<at::Tensor> images, labels;
    for (const Epoch& share : shares) {
      images.push_back(share.images[b]);
      labels.push_back(share.labels[b]);
    }
    out.images.push_back(at::cat(images));
    out.labels.push_back(at::cat(labels));
  }
  return out;
}

// Random crops and flips, shuffled, 4 threads decoding each replica's share and one the whole.
void expect_replicas_to_give_the_one_process_batches(ImageFolderOptions o) {
  o.batch_size = 4;
  o.drop_last = true;
  o.augment = true;
  o.threads = 1;
  ImageFolderSource whole(o);
  o.threads = 4;
  o.prefetch_batches = 3;
  for (int64_t epoch : {0, 1}) {
    const Epoch expected = read_epoch(whole, epoch);
    ASSERT_EQ(expected.images.size(), 3u);  // 14 images: 3 batches of 4, 2 dropped
    EXPECT_TRUE(same_epochs(read_replicas(o, 2, epoch), expected)) << "epoch " << epoch;
  }
  o.replica = Replica{1, 2};
  ImageFolderSource second(o);
  EXPECT_EQ(second.batches_per_epoch(), whole.batches_per_epoch());
  EXPECT_EQ(second.num_samples(), whole.num_samples() / 2);
  EXPECT_EQ(read_epoch(second, 0).images[0].size(0), 2);
}

TEST(ImageFolderReplica, TheReplicasBatchesInRankOrderAreTheOneProcessBatches) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 7, 1, 40, 32);
  expect_replicas_to_give_the_one_process_batches(small_options(dir.path()));
}

TEST(ImageFolderReplica, ReplicasReadingACacheGiveTheOneProcessBatchesToo) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 7, 1, 40, 32);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  expect_replicas_to_give_the_one_process_batches(o);
  EXPECT_EQ(ImageFolderSource(o).cache_state(), CacheState::kLoaded);  // built once, then shared
}

TEST(ImageFolderReplica, AReplicaDecodesOnlyItsOwnRows) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 5, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.batch_size = 6;
  o.drop_last = true;  // 15 images: 2 global batches of 6, 3 dropped
  o.threads = 3;
  ImageFolderSource whole(o);
  read_epoch(whole, 0);
  EXPECT_EQ(whole.decoded_count(), 12);
  for (int rank = 0; rank < 3; ++rank) {
    o.replica = Replica{rank, 3};
    ImageFolderSource replica(o);
    EXPECT_EQ(replica.decoded_count(), 0);  // nothing before the first epoch starts
    read_epoch(replica, 0);
    EXPECT_EQ(replica.decoded_count(), 4) << "rank " << rank;
    read_epoch(replica, 1);
    EXPECT_EQ(replica.decoded_count(), 8) << "rank " << rank;
  }
}

TEST(ImageFolderReplica, ReplicasThatCannotSplitTheBatchAreErrorsAtConstructionNamingTheNumbers) {
  TempDir dir;
  make_image_tree(dir.path(), 1, 2, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.batch_size = 10;
  o.drop_last = true;
  o.replica = Replica{0, 3};
  std::string message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, "batch size 10 cannot be split evenly over 3 data-parallel replicas")) << message;
  EXPECT_TRUE(contains(message, "make it a multiple of 3")) << message;
  o.batch_size = 4;
  o.drop_last = false;
  o.replica = Replica{1, 2};
  message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, "drop_last must be on with 2 data-parallel replicas")) << message;
  o.drop_last = true;
  o.replica = Replica{2, 2};
  message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, "rank 2 is outside 0..1")) << message;
}

void flip_byte(const std::string& path, std::streamoff offset) {
  std::string bytes = read_bytes(path);
  const auto at = static_cast<size_t>(offset < 0 ? static_cast<std::streamoff>(bytes.size()) + offset : offset);
  bytes[at] = static_cast<char>(bytes[at] ^ 0x40);
  write_bytes(path, bytes);
}

TEST(ImageFolderCache, ACachedSourceGivesTheBatchesOfAnUncachedOne) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 4, 1);
  ImageFolderOptions o = small_options(dir.path());
  ImageFolderOptions cached_options = o;
  cached_options.cache_path = cache_file(dir);
  o.preresize_short_side = eval_resize_short_side(24);  // what the cache stores by default
  ImageFolderSource uncached(o);
  ImageFolderSource cached(cached_options);
  EXPECT_EQ(cached.cache_state(), CacheState::kBuilt);
  EXPECT_EQ(uncached.cache_state(), CacheState::kNotUsed);
  ASSERT_TRUE(fs::exists(cached_options.cache_path));
  for (int64_t epoch : {0, 1}) EXPECT_TRUE(same_epochs(read_epoch(uncached, epoch), read_epoch(cached, epoch)));
  ImageFolderSource reopened(cached_options);
  EXPECT_EQ(reopened.cache_state(), CacheState::kLoaded);
  EXPECT_TRUE(same_epochs(read_epoch(uncached, 2), read_epoch(reopened, 2)));
  for (const auto& entry : fs::directory_iterator(dir.path() / "cache")) {  // renamed, not left behind
    EXPECT_FALSE(contains(entry.path().filename().string(), ".tmp")) << entry.path();
  }
}

// The ranks of a data-parallel run open one cache path at the same time: one builds it, the
// others wait for it and load it (threads here; the lock is per open file, as between processes).
TEST(ImageFolderCache, SourcesOpeningAMissingCacheAtOnceBuildItOnceAndTheOthersLoadIt) {
  TempDir dir;
  make_image_tree(dir.path(), 3, 6, 1);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  constexpr int kSources = 3;
  std::vector<CacheState> states(kSources);
  std::vector<std::string> errors(kSources);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSources; ++i) {
    threads.emplace_back([&, i] {
      try {
        states[i] = ImageFolderSource(o).cache_state();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  int built = 0, loaded = 0;
  for (int i = 0; i < kSources; ++i) {
    EXPECT_EQ(errors[i], "");
    built += states[i] == CacheState::kBuilt;
    loaded += states[i] == CacheState::kLoaded;
  }
  EXPECT_EQ(built, 1);
  EXPECT_EQ(loaded, kSources - 1);
}

TEST(ImageFolderCache, AChangedImageOrSubsetMakesTheCacheStaleAndItIsRebuilt) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 3, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  o.augment = false;
  o.shuffle = false;
  { ImageFolderSource build(o); }
  const fs::path changed = dir.path() / "train" / "class0" / "img10.JPEG";
  write_bytes(changed, encode_jpeg(ubp::testing::solid_image(16, 16, 250, 250, 250), 95));
  fs::last_write_time(changed, fs::last_write_time(changed) + std::chrono::seconds(5));
  ImageFolderSource rebuilt(o);
  EXPECT_EQ(rebuilt.cache_state(), CacheState::kRebuilt);
  EXPECT_TRUE(contains(rebuilt.cache_stale_reason(), "class0/img10.JPEG")) << rebuilt.cache_stale_reason();
  const at::Tensor first = to_pixels(read_epoch(rebuilt, 0).images[0])[0];
  EXPECT_NEAR(first.mean().item<float>(), 250, 3);  // the new picture, not the cached old one
  EXPECT_EQ(ImageFolderSource(o).cache_state(), CacheState::kLoaded);
  o.images_per_class = 2;
  EXPECT_EQ(ImageFolderSource(o).cache_state(), CacheState::kRebuilt);
}

TEST(ImageFolderCache, CorruptedPixelsAreAnErrorNamingTheCacheAndTheImage) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 2, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  o.shuffle = false;
  { ImageFolderSource build(o); }
  flip_byte(o.cache_path, 40 + 5);  // inside the first image's pixels
  ImageFolderSource source(o);      // the header is intact
  EXPECT_EQ(source.cache_state(), CacheState::kLoaded);
  const std::string message = error_of([&] { read_epoch(source, 0); });
  EXPECT_TRUE(contains(message, o.cache_path)) << message;
  EXPECT_TRUE(contains(message, "class0/img10.JPEG")) << message;
  EXPECT_TRUE(contains(message, "delete it")) << message;
}

TEST(ImageFolderCache, ACorruptOrTruncatedHeaderIsAnErrorSayingToDeleteTheFile) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 2, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  { ImageFolderSource build(o); }
  const std::string good = read_bytes(o.cache_path);
  flip_byte(o.cache_path, -3);
  std::string message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, o.cache_path)) << message;
  EXPECT_TRUE(contains(message, "header checksum")) << message;
  EXPECT_TRUE(contains(message, "delete it and it will be rebuilt")) << message;
  write_bytes(o.cache_path, good.substr(0, good.size() / 2));
  message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, "truncated")) << message;
  write_bytes(o.cache_path, good.substr(0, 12));
  EXPECT_TRUE(contains(error_of([&] { ImageFolderSource source(o); }), "corrupt"));
}

// The cache's header with one field rewritten and its checksum made right again: records that
// overlap, or an image larger than the cache's short side, are refused as corrupt (a file of
// garbage with a valid checksum was read before).
TEST(ImageFolderCache, RecordsThatDoNotTileTheImageDataAreCorruptEvenWithAValidChecksum) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 2, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  { ImageFolderSource build(o); }
  const std::string good = read_bytes(o.cache_path);
  auto u64_at = [](const std::string& b, size_t at) {
    uint64_t v;
    std::memcpy(&v, b.data() + at, 8);
    return v;
  };
  const uint64_t header_offset = u64_at(good, 16), header_size = u64_at(good, 24);
  std::string header = good.substr(header_offset, header_size);
  // Walk to the records: split, split_directory, short side, class names, sources.
  size_t at = 0;
  auto skip_string = [&] { at += 8 + u64_at(header, at); };
  skip_string();
  skip_string();
  at += 4;
  for (uint64_t n = u64_at(header, (at += 8) - 8), i = 0; i < n; ++i) skip_string();
  for (uint64_t n = u64_at(header, (at += 8) - 8), i = 0; i < n; ++i) skip_string(), at += 24;
  const uint64_t records = u64_at(header, at);
  ASSERT_GE(records, 2u);
  const size_t first = at + 8;  // record: source u32, width u32, height u32, offset u64, crc u32
  auto rewrite = [&](const std::function<void(std::string&)>& edit) {
    std::string h = header;
    edit(h);
    std::string file = good.substr(0, header_offset) + h;
    const uint32_t crc = static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(h.data()), h.size()));
    std::memcpy(file.data() + 32, &crc, 4);
    write_bytes(o.cache_path, file);
    return error_of([&] { ImageFolderSource source(o); });
  };
  const std::string overlap = rewrite([&](std::string& h) { std::memcpy(h.data() + first + 28 + 12, h.data() + first + 12, 8); });
  EXPECT_TRUE(contains(overlap, "corrupt")) << overlap;
  EXPECT_TRUE(contains(overlap, "record 1 lies at byte")) << overlap;
  const std::string wide = rewrite([&](std::string& h) {
    const uint32_t huge = 1u << 20;
    std::memcpy(h.data() + first + 4, &huge, 4);
    std::memcpy(h.data() + first + 8, &huge, 4);
  });
  EXPECT_TRUE(contains(wide, "not an image shrunk to short side")) << wide;
}

TEST(ImageFolderCache, AFileThatIsNotACacheIsNeverOverwritten) {
  TempDir dir;
  make_image_tree(dir.path(), 1, 2, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = dir.write("notes.txt", "precious notes, long enough to hold a cache prefix and more");
  const std::string message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, "is not an image cache")) << message;
  EXPECT_EQ(read_bytes(o.cache_path), "precious notes, long enough to hold a cache prefix and more");
}

TEST(ImageFolderCache, EachSplitNeedsItsOwnCacheFile) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 2, 1, 16, 16);
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  { ImageFolderSource train(o); }
  o.split = ImageSplit::kVal;
  o.augment = false;
  const std::string message = error_of([&] { ImageFolderSource val(o); });
  EXPECT_TRUE(contains(message, "holds the 'train' split")) << message;
  EXPECT_TRUE(contains(message, "its own cache path")) << message;
}

TEST(ImageFolderCache, BadImagesAreLeftOutOfTheCacheOnlyWithSkipBadImages) {
  TempDir dir;
  make_image_tree(dir.path(), 2, 4, 1, 16, 16);
  const fs::path bad = dir.path() / "train" / "class1" / "img11.jpg";
  write_bytes(bad, ubp::testing::truncated_jpeg());
  ImageFolderOptions o = small_options(dir.path());
  o.cache_path = cache_file(dir);
  std::string message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, bad.string())) << message;
  EXPECT_FALSE(fs::exists(o.cache_path));
  for (const auto& entry : fs::directory_iterator(dir.path() / "cache")) {  // no temporary file left either
    EXPECT_FALSE(contains(entry.path().filename().string(), ".tmp")) << entry.path();
  }

  o.skip_bad_images = true;
  ImageFolderSource built(o);
  EXPECT_EQ(built.num_samples(), 7);
  EXPECT_EQ(built.bad_image_count(), 1);
  EXPECT_EQ(built.bad_image_paths(), std::vector<std::string>{bad.string()});
  EXPECT_EQ(all_labels(read_epoch(built, 0)).size(), 7u);
  ImageFolderSource reopened(o);
  EXPECT_EQ(reopened.cache_state(), CacheState::kLoaded);
  EXPECT_EQ(reopened.bad_image_count(), 1);
  o.skip_bad_images = false;
  message = error_of([&] { ImageFolderSource source(o); });
  EXPECT_TRUE(contains(message, bad.string())) << message;
  EXPECT_TRUE(contains(message, "skip_bad_images")) << message;
}

}  // namespace
}  // namespace ubp::data

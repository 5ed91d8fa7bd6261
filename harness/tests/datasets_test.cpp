// Fashion-MNIST loading (from small gzip files written here and from Debian's files), the
// synthetic dataset and the batch iterator, whole and split over data-parallel replicas.
#include "data/datasets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "data/idx_reader.h"
#include "support/temp_dir.h"

namespace ubp::data {
namespace {

using ubp::testing::TempDir;

// Writes n 28x28 images (pixel value = image index * 10 + 1 everywhere) and labels i % 10.
void write_tiny_fashion_mnist(const TempDir& dir, Split split, int64_t n_images, int64_t n_labels,
                              uint8_t bad_label = 0) {
  std::vector<uint8_t> pixels(static_cast<size_t>(n_images * 28 * 28));
  for (int64_t i = 0; i < n_images; ++i) {
    std::fill(pixels.begin() + i * 784, pixels.begin() + (i + 1) * 784, static_cast<uint8_t>(i * 10 + 1));
  }
  std::vector<uint8_t> labels(static_cast<size_t>(n_labels));
  for (int64_t i = 0; i < n_labels; ++i) labels[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 10);
  if (bad_label != 0) labels.back() = bad_label;
  const std::string root = dir.path().string();
  write_gzip(fashion_mnist_images_path(root, split), encode_idx({n_images, 28, 28}, pixels));
  write_gzip(fashion_mnist_labels_path(root, split), encode_idx({n_labels}, labels));
}

TEST(FashionMnist, LoadsNormalisedTensorsFromGzipFiles) {
  TempDir dir;
  write_tiny_fashion_mnist(dir, Split::kTest, 5, 5);
  FashionMnistOptions o;
  o.root = dir.path().string();
  const TensorDataset d = load_fashion_mnist(o, Split::kTest);
  ASSERT_EQ(d.images.sizes(), (at::IntArrayRef{5, 1, 28, 28}));
  EXPECT_EQ(d.images.scalar_type(), at::kFloat);
  EXPECT_EQ(d.labels.scalar_type(), at::kLong);
  EXPECT_EQ(d.num_classes, 10);
  EXPECT_EQ(d.labels[3].item<int64_t>(), 3);
  const double expected = (31.0 / 255.0 - o.mean) / o.std;
  EXPECT_NEAR(d.images[3][0][5][7].item<double>(), expected, 1e-5);

  o.normalize = false;
  o.image_size = 32;
  const TensorDataset p = load_fashion_mnist(o, Split::kTest);
  ASSERT_EQ(p.images.sizes(), (at::IntArrayRef{5, 1, 32, 32}));
  EXPECT_EQ(p.images[2][0][0][0].item<float>(), 0.0f);            // padding
  EXPECT_NEAR(p.images[2][0][2][2].item<float>(), 21.0 / 255.0, 1e-6);  // image starts at 2

  o.image_size = 64;
  o.limit = 3;
  const TensorDataset r = load_fashion_mnist(o, Split::kTest);
  ASSERT_EQ(r.images.sizes(), (at::IntArrayRef{3, 1, 64, 64}));    // resized, not padded
  EXPECT_NEAR(r.images[1][0][0][0].item<float>(), 11.0 / 255.0, 1e-5);
}

TEST(FashionMnist, ClearErrors) {
  TempDir dir;
  FashionMnistOptions o;
  o.root = dir.path().string();
  try {
    load_fashion_mnist(o, Split::kTrain);
    FAIL();
  } catch (const IdxError& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte.gz"), std::string::npos) << e.what();
  }
  write_tiny_fashion_mnist(dir, Split::kTrain, 4, 3);
  try {
    load_fashion_mnist(o, Split::kTrain);
    FAIL();
  } catch (const IdxError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("4 images but 3 labels"), std::string::npos) << msg;
    EXPECT_NE(msg.find("train-labels-idx1-ubyte.gz"), std::string::npos) << msg;
  }
  write_tiny_fashion_mnist(dir, Split::kTrain, 4, 4, /*bad_label=*/12);
  try {
    load_fashion_mnist(o, Split::kTrain);
    FAIL();
  } catch (const IdxError& e) {
    EXPECT_NE(std::string(e.what()).find("label 12"), std::string::npos) << e.what();
  }
}

TEST(FashionMnist, RealDebianFiles) {
  ASSERT_TRUE(std::filesystem::exists(fashion_mnist_images_path(kDefaultFashionMnistRoot, Split::kTest)))
      << "dataset-fashion-mnist is not installed (scripts/install-deps.sh installs it)";
  FashionMnistOptions o;
  const TensorDataset test = load_fashion_mnist(o, Split::kTest);
  ASSERT_EQ(test.images.sizes(), (at::IntArrayRef{10000, 1, 28, 28}));
  EXPECT_EQ(test.labels.min().item<int64_t>(), 0);
  EXPECT_EQ(test.labels.max().item<int64_t>(), 9);
  EXPECT_NEAR(test.images.mean().item<double>(), 0.0, 0.05);  // normalised with train statistics
  EXPECT_NEAR(test.images.std().item<double>(), 1.0, 0.05);

  o.limit = 100;
  o.image_size = 32;
  const TensorDataset train = load_fashion_mnist(o, Split::kTrain);
  EXPECT_EQ(train.images.sizes(), (at::IntArrayRef{100, 1, 32, 32}));
}

TEST(Synthetic, DeterministicAndBalanced) {
  SyntheticOptions o;
  o.num_samples = 40;
  o.num_classes = 4;
  o.image_size = 16;
  o.seed = 7;
  const TensorDataset a = make_synthetic(o);
  const TensorDataset b = make_synthetic(o);
  ASSERT_EQ(a.images.sizes(), (at::IntArrayRef{40, 1, 16, 16}));
  EXPECT_TRUE(a.images.equal(b.images));
  EXPECT_TRUE(a.labels.equal(b.labels));
  EXPECT_EQ(at::bincount(a.labels).eq(10).all().item<bool>(), true);
  o.seed = 8;
  EXPECT_FALSE(make_synthetic(o).images.equal(a.images));
}

TEST(BatchIterator, DeterministicShuffleCoversEverySample) {
  SyntheticOptions o;
  o.num_samples = 10;
  o.image_size = 4;
  const TensorDataset d = make_synthetic(o);
  BatchIterator it(d, 4, /*shuffle=*/true, /*seed=*/3);
  EXPECT_EQ(it.batches_per_epoch(), 3);
  it.start_epoch(0);
  std::vector<int64_t> seen;
  Batch batch;
  std::vector<int64_t> sizes;
  while (it.next(batch)) {
    sizes.push_back(batch.labels.size(0));
    for (int64_t i = 0; i < batch.labels.size(0); ++i) seen.push_back(batch.labels[i].item<int64_t>());
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  std::multiset<int64_t> labels(seen.begin(), seen.end());
  EXPECT_EQ(labels.size(), 10u);

  const auto order0 = it.order();
  std::set<int64_t> unique(order0.begin(), order0.end());
  EXPECT_EQ(unique.size(), 10u);
  EXPECT_EQ(epoch_permutation(10, 3, 0), order0);
  EXPECT_NE(epoch_permutation(10, 3, 1), order0);
  EXPECT_NE(epoch_permutation(10, 4, 0), order0);

  BatchIterator dropping(d, 4, false, 0, /*drop_last=*/true);
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  dropping.start_epoch(0);
  int n = 0;
  while (dropping.next(batch)) ++n;
  EXPECT_EQ(n, 2);
}

// ---- replicas: each data-parallel process materialises its share of every global batch ----

template <typename F>
std::string invalid_argument_of(F&& action) {
  try {
    action();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(BatchIteratorReplica, TheReplicasBatchesInRankOrderAreTheOneProcessBatch) {
  SyntheticOptions o;
  o.num_samples = 50;  // 6 global batches of 8 and 2 images dropped
  o.image_size = 4;
  const TensorDataset d = make_synthetic(o);
  BatchIterator whole(d, 8, /*shuffle=*/true, /*seed=*/5, /*drop_last=*/true);
  for (int count : {1, 2, 4}) {
    std::vector<BatchIterator> replicas;
    for (int rank = 0; rank < count; ++rank) replicas.emplace_back(d, 8, true, 5, true, Replica{rank, count});
    for (const BatchIterator& replica : replicas) {
      EXPECT_EQ(replica.batches_per_epoch(), whole.batches_per_epoch()) << count << " replicas";
      EXPECT_EQ(replica.num_samples(), 48 / count) << count << " replicas";
    }
    for (int64_t epoch : {0, 1}) {
      whole.start_epoch(epoch);
      for (BatchIterator& replica : replicas) replica.start_epoch(epoch);
      Batch expected;
      int64_t batches = 0;
      while (whole.next(expected)) {
        std::vector<at::Tensor> images, labels;
        for (BatchIterator& replica : replicas) {
          Batch share;
          ASSERT_TRUE(replica.next(share)) << count << " replicas, epoch " << epoch << ", batch " << batches;
          EXPECT_EQ(share.labels.size(0), 8 / count);
          images.push_back(share.images);
          labels.push_back(share.labels);
        }
        EXPECT_TRUE(at::equal(at::cat(images), expected.images)) << count << " replicas, epoch " << epoch;
        EXPECT_TRUE(at::equal(at::cat(labels), expected.labels)) << count << " replicas, epoch " << epoch;
        ++batches;
      }
      EXPECT_EQ(batches, 6);
      Batch extra;
      for (BatchIterator& replica : replicas) EXPECT_FALSE(replica.next(extra));
    }
  }
}

TEST(BatchIteratorReplica, ABatchSizeThatIsNotAMultipleOfTheReplicaCountIsAnErrorNamingBoth) {
  SyntheticOptions o;
  o.num_samples = 30;
  o.image_size = 4;
  const TensorDataset d = make_synthetic(o);
  const std::string message =
      invalid_argument_of([&] { BatchIterator it(d, 10, true, 0, /*drop_last=*/true, Replica{0, 3}); });
  EXPECT_TRUE(contains(message, "batch size 10")) << message;
  EXPECT_TRUE(contains(message, "3 data-parallel replicas")) << message;
  EXPECT_TRUE(contains(message, "make it a multiple of 3")) << message;
}

TEST(BatchIteratorReplica, SeveralReplicasRequireDropLast) {
  SyntheticOptions o;
  o.num_samples = 30;
  o.image_size = 4;
  const TensorDataset d = make_synthetic(o);
  const std::string message =
      invalid_argument_of([&] { BatchIterator it(d, 8, true, 0, /*drop_last=*/false, Replica{1, 2}); });
  EXPECT_TRUE(contains(message, "drop_last")) << message;
  EXPECT_TRUE(contains(message, "2 data-parallel replicas")) << message;
  EXPECT_EQ(invalid_argument_of([&] { BatchIterator it(d, 8, true, 0, /*drop_last=*/false, Replica{0, 1}); }),
            "(no error)");  // one replica keeps the last, smaller batch as before
}

TEST(BatchIteratorReplica, ARankOutsideTheReplicasIsAnErrorNamingIt) {
  SyntheticOptions o;
  o.num_samples = 30;
  o.image_size = 4;
  const TensorDataset d = make_synthetic(o);
  std::string message = invalid_argument_of([&] { BatchIterator it(d, 8, true, 0, true, Replica{2, 2}); });
  EXPECT_TRUE(contains(message, "rank 2 is outside 0..1")) << message;
  message = invalid_argument_of([&] { BatchIterator it(d, 8, true, 0, true, Replica{-1, 2}); });
  EXPECT_TRUE(contains(message, "rank -1 is outside 0..1")) << message;
  message = invalid_argument_of([&] { BatchIterator it(d, 8, true, 0, true, Replica{0, 0}); });
  EXPECT_TRUE(contains(message, "replica count must be >= 1, got 0")) << message;
}

}  // namespace
}  // namespace ubp::data

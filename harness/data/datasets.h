// In-memory image-classification datasets as tensors: Fashion-MNIST read straight from the
// gzip idx files of Debian's `dataset-fashion-mnist`, and a seeded synthetic dataset that a
// small model learns in a few steps (for fast tests). Plus a deterministic batch iterator.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ubp::data {

// images: (N, C, H, W) float32, normalised; labels: (N) int64 in [0, num_classes).
struct TensorDataset {
  at::Tensor images;
  at::Tensor labels;
  int64_t num_classes = 0;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

enum class Split { kTrain, kTest };

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kDefaultFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

struct FashionMnistOptions {
  std::string root = kDefaultFashionMnistRoot;  // holds {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
  // Output side in pixels. 28: as stored. 30 to 36 (an even margin of at most 4 pixels per
  // side, e.g. 32): zero-padded around the image (padding = background, before
  // normalisation) when `pad` is true, bilinearly resized otherwise. Any other size:
  // bilinearly resized.
  int64_t image_size = 28;
  bool pad = true;
  bool normalize = true;            // (x/255 - mean) / std, else x/255
  double mean = 0.2860, std = 0.3530;  // Fashion-MNIST training-set statistics
  int64_t limit = 0;                // > 0: keep only the first `limit` samples (quick runs)
};

// Throws IdxError naming the offending file (missing, corrupt, truncated, counts that differ
// between the images and labels file, labels outside 0..9).
TensorDataset load_fashion_mnist(const FashionMnistOptions& options, Split split);

// The two file paths used for a split, "<root>/train-images-idx3-ubyte.gz" etc.
std::string fashion_mnist_images_path(const std::string& root, Split split);
std::string fashion_mnist_labels_path(const std::string& root, Split split);

struct SyntheticOptions {
  int64_t num_samples = 512;
  int64_t num_classes = 10;
  int64_t channels = 1;
  int64_t image_size = 28;
  double noise = 0.5;  // std of the per-sample Gaussian noise added to the class pattern
  uint64_t seed = 0;
};

// Every class has a fixed random low-frequency pattern (drawn from `seed`); a sample is its
// class pattern plus Gaussian noise. Labels cycle through the classes, so classes are balanced.
// Same options, same tensors.
TensorDataset make_synthetic(const SyntheticOptions& options);

struct Batch {
  at::Tensor images;
  at::Tensor labels;
};

// What the trainer iterates over: a dataset held in memory (BatchIterator) or read from disk
// while training (data/image_folder.h). An epoch's order depends only on (seed, epoch), so a
// run resumed at epoch e sees the same batches as an uninterrupted one.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void start_epoch(int64_t epoch) = 0;  // resets the position; call before next()
  virtual bool next(Batch& out) = 0;            // false at the end of the epoch
  virtual int64_t batches_per_epoch() const = 0;
  virtual int64_t num_samples() const = 0;      // images per epoch (after drop_last)
  virtual int64_t num_classes() const = 0;
};

// Which share of every global batch this process materialises, for data-parallel training:
// replica `rank` of `count` takes rows [rank B/count, (rank+1) B/count) of each global batch of
// B, so the replicas' batches, concatenated in rank order, are exactly the 1-process batch. A
// source given a replica reads only those rows, instead of reading the whole global batch and
// throwing away all but 1/count of it. With count > 1, B must be a multiple of count and the
// last, smaller batch must be dropped: every replica then takes the same number of steps, which
// the collectives of data-parallel training rely on.
struct Replica {
  int rank = 0;   // 0 .. count - 1
  int count = 1;  // 1: the whole batch (no data parallelism)
};

// Why global batches of `batch_size` cannot be split over `replica` (a message naming the
// numbers and what to change); empty when they can.
std::string replica_problem(const Replica& replica, int64_t batch_size, bool drop_last);

// Walks a dataset in batches. With shuffle, epoch e visits a permutation that depends only on
// (seed, e), drawn with our own Fisher-Yates over std::mt19937_64, so it is identical across
// platforms and standard libraries. `batch_size` is the global batch size; with a replica,
// next() gathers only that replica's rows of each global batch, num_samples() counts the images
// this replica sees, and batches_per_epoch() stays the global count. Throws
// std::invalid_argument for a non-positive batch size or a replica that cannot split it
// (replica_problem).
class BatchIterator : public BatchSource {
 public:
  BatchIterator(TensorDataset dataset, int64_t batch_size, bool shuffle, uint64_t seed,
                bool drop_last = false, Replica replica = {});

  void start_epoch(int64_t epoch) override;
  bool next(Batch& out) override;
  int64_t batches_per_epoch() const override;
  int64_t num_samples() const override;
  int64_t num_classes() const override { return dataset_.num_classes; }
  const std::vector<int64_t>& order() const { return order_; }  // replica_epoch_order of the epoch

 private:
  TensorDataset dataset_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  Replica replica_;
  int64_t local_batch_;  // rows of a global batch this replica takes
  std::vector<int64_t> order_;
  int64_t position_ = -1;
};

// The permutation of 0..n-1 BatchIterator uses for (seed, epoch).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// The samples `replica` visits in epoch `epoch` of n samples, batch after batch: the epoch's
// order (epoch_permutation(n, seed, epoch) with shuffle, else 0..n-1) and, with count > 1, of
// each full global batch of batch_size only the replica's rows (batch_size / count of them).
// Every source walks this order, so they all split a global batch the same way.
std::vector<int64_t> replica_epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch, int64_t batch_size,
                                         const Replica& replica);

}  // namespace ubp::data

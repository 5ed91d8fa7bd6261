#include "data/datasets.h"

#include <ATen/CPUGeneratorImpl.h>

#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>

#include "data/idx_reader.h"

namespace ubp::data {
namespace {

const char* split_prefix(Split split) { return split == Split::kTrain ? "train" : "t10k"; }

at::Tensor resize_images(at::Tensor x /* N,1,H,W in [0,1] */, const FashionMnistOptions& o) {
  const int64_t h = x.size(2);
  const int64_t s = o.image_size;
  if (s == h) return x;
  if (s <= 0) throw std::invalid_argument("fashion-mnist image_size must be positive, got " + std::to_string(s));
  if (o.pad && s > h && s - h <= 8 && (s - h) % 2 == 0) {
    const int64_t p = (s - h) / 2;
    return at::constant_pad_nd(x, {p, p, p, p}, 0.0);
  }
  return at::upsample_bilinear2d(x, {s, s}, /*align_corners=*/false);
}

}  // namespace

std::string fashion_mnist_images_path(const std::string& root, Split split) {
  return root + "/" + split_prefix(split) + "-images-idx3-ubyte.gz";
}
std::string fashion_mnist_labels_path(const std::string& root, Split split) {
  return root + "/" + split_prefix(split) + "-labels-idx1-ubyte.gz";
}

TensorDataset load_fashion_mnist(const FashionMnistOptions& options, Split split) {
  const std::string images_path = fashion_mnist_images_path(options.root, split);
  const std::string labels_path = fashion_mnist_labels_path(options.root, split);
  IdxArray images = read_idx(images_path, 3);
  IdxArray labels = read_idx(labels_path, 1);
  if (images.count() != labels.count()) {
    throw IdxError("idx files '" + images_path + "' and '" + labels_path + "' disagree: " +
                   std::to_string(images.count()) + " images but " + std::to_string(labels.count()) +
                   " labels");
  }
  for (size_t i = 0; i < labels.values.size(); ++i) {
    if (labels.values[i] > 9) {
      throw IdxError("idx file '" + labels_path + "': label " + std::to_string(labels.values[i]) +
                     " at index " + std::to_string(i) + " is outside 0..9");
    }
  }
  int64_t n = images.count();
  if (options.limit > 0 && options.limit < n) n = options.limit;
  const int64_t h = images.dims[1], w = images.dims[2];

  at::Tensor x = at::from_blob(images.values.data(), {n, 1, h, w}, at::kByte).to(at::kFloat).div_(255.0);
  x = resize_images(x, options).contiguous();
  if (options.normalize) x.sub_(options.mean).div_(options.std);
  at::Tensor y = at::from_blob(labels.values.data(), {n}, at::kByte).to(at::kLong);

  TensorDataset out;
  out.images = x;
  out.labels = y;
  out.num_classes = 10;
  return out;
}

TensorDataset make_synthetic(const SyntheticOptions& o) {
  if (o.num_samples <= 0 || o.num_classes <= 0 || o.channels <= 0 || o.image_size <= 0) {
    throw std::invalid_argument("synthetic dataset: num_samples, num_classes, channels and image_size must be positive");
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  // Low-frequency class patterns: 4x4 random signs, bilinearly upsampled.
  at::Tensor coarse = at::randn({o.num_classes, o.channels, 4, 4}, gen, at::kFloat).sign();
  at::Tensor patterns = at::upsample_bilinear2d(coarse, {o.image_size, o.image_size}, false);
  at::Tensor labels = at::arange(o.num_samples, at::kLong).remainder(o.num_classes);
  at::Tensor noise = at::randn({o.num_samples, o.channels, o.image_size, o.image_size}, gen, at::kFloat);
  TensorDataset out;
  out.images = (patterns.index_select(0, labels) + noise.mul_(o.noise)).contiguous();
  out.labels = labels;
  out.num_classes = o.num_classes;
  return out;
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  // splitmix-style mixing so nearby (seed, epoch) pairs give unrelated streams
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(epoch + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  std::mt19937_64 rng(z);
  for (int64_t i = n - 1; i > 0; --i) {
    // unbiased draw in [0, i] by rejection
    const uint64_t bound = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
    uint64_t r;
    do {
      r = rng();
    } while (r >= limit);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(r % bound)]);
  }
  return order;
}

std::vector<int64_t> replica_epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch, int64_t batch_size,
                                         const Replica& replica) {
  std::vector<int64_t> order;
  if (shuffle) {
    order = epoch_permutation(n, seed, epoch);
  } else {
    order.resize(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  if (replica.count == 1) return order;
  const int64_t share = batch_size / replica.count;
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(n / batch_size * share));
  for (int64_t start = 0; start + batch_size <= n; start += batch_size) {
    const auto first = order.begin() + start + replica.rank * share;
    mine.insert(mine.end(), first, first + share);
  }
  return mine;
}

std::string replica_problem(const Replica& replica, int64_t batch_size, bool drop_last) {
  const std::string count = std::to_string(replica.count);
  if (replica.count < 1) return "the data-parallel replica count must be >= 1, got " + count;
  if (replica.rank < 0 || replica.rank >= replica.count) {
    return "data-parallel replica rank " + std::to_string(replica.rank) + " is outside 0.." +
           std::to_string(replica.count - 1) + " (" + count + " replicas)";
  }
  if (replica.count == 1) return {};
  if (batch_size % replica.count != 0) {
    return "batch size " + std::to_string(batch_size) + " cannot be split evenly over " + count +
           " data-parallel replicas: make it a multiple of " + count;
  }
  if (!drop_last) {
    // the last batch would be split unevenly, or leave some replicas without rows and a step
    return "drop_last must be on with " + count + " data-parallel replicas, so that every replica takes the same " +
           "number of equal steps (the last, smaller batch cannot be split evenly)";
  }
  return {};
}

BatchIterator::BatchIterator(TensorDataset dataset, int64_t batch_size, bool shuffle, uint64_t seed,
                             bool drop_last, Replica replica)
    : dataset_(std::move(dataset)), batch_size_(batch_size), shuffle_(shuffle), seed_(seed),
      drop_last_(drop_last), replica_(replica) {
  if (batch_size_ <= 0) throw std::invalid_argument("batch size must be positive, got " + std::to_string(batch_size_));
  const std::string problem = replica_problem(replica_, batch_size_, drop_last_);
  if (!problem.empty()) throw std::invalid_argument(problem);
  local_batch_ = batch_size_ / replica_.count;
}

void BatchIterator::start_epoch(int64_t epoch) {
  order_ = replica_epoch_order(dataset_.size(), shuffle_, seed_, epoch, batch_size_, replica_);
  position_ = 0;
}

int64_t BatchIterator::batches_per_epoch() const {
  const int64_t n = dataset_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

int64_t BatchIterator::num_samples() const {
  const int64_t n = dataset_.size();
  return (drop_last_ ? n / batch_size_ * batch_size_ : n) / replica_.count;  // count > 1 implies drop_last
}

bool BatchIterator::next(Batch& out) {
  if (position_ < 0) throw std::logic_error("BatchIterator::next called before start_epoch");
  const int64_t n = static_cast<int64_t>(order_.size());
  const int64_t remaining = n - position_;
  if (remaining <= 0 || (drop_last_ && remaining < local_batch_)) return false;
  const int64_t take = std::min(local_batch_, remaining);
  at::Tensor index = at::from_blob(order_.data() + position_, {take}, at::kLong).clone();
  out.images = dataset_.images.index_select(0, index);
  out.labels = dataset_.labels.index_select(0, index);
  position_ += take;
  return true;
}

}  // namespace ubp::data

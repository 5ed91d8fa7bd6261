#include "experiments/training/training_data.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "data/image_folder.h"

namespace ubp::experiments {

namespace {

std::function<std::unique_ptr<data::BatchSource>(uint64_t)> in_memory_train(data::TensorDataset dataset,
                                                                            int64_t batch, data::Replica replica) {
  return [dataset = std::move(dataset), batch, replica](uint64_t seed) -> std::unique_ptr<data::BatchSource> {
    return std::make_unique<data::BatchIterator>(dataset, batch, /*shuffle=*/true, seed, /*drop_last=*/true, replica);
  };
}

// Both splits held in memory: the train split reshuffled per epoch, the test split in order.
TrainingData in_memory(data::TensorDataset train, data::TensorDataset test, int64_t batch, data::Replica replica) {
  TrainingData out;
  out.num_classes = train.num_classes;
  out.in_channels = train.images.size(1);
  out.train = in_memory_train(std::move(train), batch, replica);
  out.test = std::make_unique<data::BatchIterator>(std::move(test), 256, false, 0);
  return out;
}

TrainingData fashion_mnist(const settings::DataSettings& d, int64_t batch, data::Replica replica) {
  data::FashionMnistOptions o;
  if (!d.root.empty()) o.root = d.root;
  o.image_size = d.image_size;
  o.limit = d.train_limit;
  data::TensorDataset train = data::load_fashion_mnist(o, data::Split::kTrain);
  o.limit = d.test_limit;
  data::TensorDataset test = data::load_fashion_mnist(o, data::Split::kTest);
  return in_memory(std::move(train), std::move(test), batch, replica);
}

TrainingData synthetic(const settings::DataSettings& d, int64_t batch, data::Replica replica) {
  // One draw of patterns for both splits (a class must look the same in train and test).
  const int64_t n_train = d.train_limit > 0 ? d.train_limit : 1024;
  const int64_t n_test = d.test_limit > 0 ? d.test_limit : 256;
  data::SyntheticOptions o;
  o.num_samples = n_train + n_test;
  o.image_size = d.image_size;
  o.seed = 1;
  const data::TensorDataset all = data::make_synthetic(o);
  data::TensorDataset train{all.images.slice(0, 0, n_train), all.labels.slice(0, 0, n_train), all.num_classes};
  data::TensorDataset test{all.images.slice(0, n_train), all.labels.slice(0, n_train), all.num_classes};
  return in_memory(std::move(train), std::move(test), batch, replica);
}

TrainingData image_folder(const settings::DataSettings& d, int64_t batch, data::Replica replica) {
  if (d.root.empty()) {
    throw std::invalid_argument("data.root is empty: give the ImageNet folder that holds train/<class>/ and "
                                "val/<class>/, e.g. data.root=/data/imagenet");
  }
  data::ImageFolderOptions o;
  o.root = d.root;
  o.num_classes = d.num_classes;
  o.class_list = d.class_list;
  o.subset_seed = d.subset_seed;
  o.image_size = d.image_size;
  o.skip_bad_images = d.skip_bad_images;
  o.threads = static_cast<int>(d.loader_threads > 0 ? d.loader_threads
                                                    : std::max(1u, std::thread::hardware_concurrency()));

  data::ImageFolderOptions val = o;
  val.split = data::ImageSplit::kVal;
  val.images_per_class = d.val_images_per_class;
  val.augment = false;
  val.shuffle = false;
  val.batch_size = std::min<int64_t>(batch, 128);
  if (!d.cache.empty()) val.cache_path = d.cache + ".val";
  auto test = std::make_unique<data::ImageFolderSource>(val);

  o.split = data::ImageSplit::kTrain;
  o.images_per_class = d.images_per_class;
  o.batch_size = batch;
  o.drop_last = true;
  o.replica = replica;
  if (!d.cache.empty()) o.cache_path = d.cache + ".train";
  TrainingData out;
  // The class indices of val must be those of train: the same chosen classes, sorted.
  out.num_classes = test->num_classes();
  out.in_channels = 3;
  out.test = std::move(test);
  out.train = [o](uint64_t seed) -> std::unique_ptr<data::BatchSource> {
    data::ImageFolderOptions with_seed = o;
    with_seed.seed = seed;
    return std::make_unique<data::ImageFolderSource>(with_seed);
  };
  return out;
}

}  // namespace

TrainingData make_training_data(const settings::DataSettings& data, int64_t batch_size, data::Replica replica) {
  if (data.dataset == "fashion_mnist") return fashion_mnist(data, batch_size, replica);
  if (data.dataset == "synthetic") return synthetic(data, batch_size, replica);
  if (data.dataset == "imagenet") return image_folder(data, batch_size, replica);
  throw std::invalid_argument("data.dataset '" + data.dataset + "' is not available in this build");
}

int64_t training_threads(const settings::TrainSettings& train) {
  if (train.threads > 0) return train.threads;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  int64_t cores = ::sched_getaffinity(0, sizeof allowed, &allowed) == 0
                      ? CPU_COUNT(&allowed)
                      : static_cast<int64_t>(std::thread::hardware_concurrency());
  if (const char* per_task = std::getenv("SLURM_CPUS_PER_TASK"); per_task != nullptr && std::atoi(per_task) > 0) {
    cores = std::min<int64_t>(cores, std::atoi(per_task));
  }
  const char* local_processes = std::getenv("UBP_LOCAL_PROCESSES");
  const int64_t sharing = local_processes != nullptr ? std::max(1, std::atoi(local_processes)) : 1;
  return std::max<int64_t>(1, cores / sharing);
}

void check_data_parallel_settings(const settings::TrainingSettings& s, const data::Replica& replica) {
  if (replica.count == 1) return;
  const int64_t batch = s.train.batch_size;
  if (batch % replica.count != 0) {
    throw std::invalid_argument("train.batch_size " + std::to_string(batch) + " cannot be split evenly over " +
                                std::to_string(replica.count) + " processes (train.distributed.world_size): make it " +
                                "a multiple of " + std::to_string(replica.count));
  }
  if (s.data.dataset == "imagenet" && s.data.skip_bad_images && s.data.cache.empty()) {
    // Without a cache each rank meets only the bad images of its own rows, so batch sizes and
    // even step counts could differ between ranks, and a collective would wait forever.
    throw std::invalid_argument("data.skip_bad_images with train.distributed needs data.cache: bad images are then "
                                "left out when the cache is built, alike for every process");
  }
}

}  // namespace ubp::experiments

#include "data/image_folder.h"

#include <condition_variable>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>

namespace ubp::data {
namespace {

// One batch being assembled: workers write rows straight into its tensors.
struct Slot {
  int64_t batch = -1;  // which batch of the epoch it holds; -1: free
  at::Tensor images;
  at::Tensor labels;
  int64_t remaining = 0;     // rows not finished yet
  std::vector<char> bad;     // rows left out (skip_bad_images)
  int64_t error_row = -1;    // the first row that failed, reported when the batch is taken
  std::string error;
};

void check_option(bool ok, const std::string& what) {
  if (!ok) throw ImageFolderError("image folder options: " + what);
}

}  // namespace

struct ImageFolderSource::Impl {
  ImageFolderOptions options;
  ImageSubset subset;
  std::unique_ptr<ImageCache> cache;
  std::vector<size_t> sources;  // per sample: index into subset.files (with a cache: per record)
  int preresize = 0;            // shrink decoded images to this short side (0: no)
  int decode_short_side = 0;    // smallest short side the JPEG DCT scaling may shrink to
  int64_t local_batch = 0;      // rows of a batch this replica decodes: batch_size / replica.count

  mutable std::mutex mutex;
  std::condition_variable work_available;  // workers wait here
  std::condition_variable batch_finished;  // next() waits here
  std::condition_variable workers_idle;    // start_epoch waits here
  bool stopping = false;
  bool epoch_running = false;
  uint64_t generation = 0;  // bumped by start_epoch: results of older work are dropped
  int64_t epoch = 0;
  std::vector<int64_t> order;  // this replica's samples of the epoch, batch after batch
  int64_t positions = 0;       // samples visited this epoch
  int64_t next_position = 0;   // the next position a worker takes
  int64_t consumer_batch = 0;  // the batch next() returns next
  int in_flight = 0;           // samples being decoded outside the lock
  int64_t loaded = 0;          // load_sample calls so far (decoded_count)
  std::vector<Slot> slots;     // batch b lives in slots[b % size]
  std::vector<char> known_bad;
  std::vector<std::string> bad_paths;
  std::vector<std::thread> workers;

  explicit Impl(const ImageFolderOptions& o);
  ~Impl();
  int64_t batch_rows(int64_t batch) const { return std::min(local_batch, positions - batch * local_batch); }
  bool can_take_work() const {
    return epoch_running && next_position < positions &&
           next_position / local_batch < consumer_batch + static_cast<int64_t>(slots.size());
  }
  void worker_loop();
  void stop_workers();
  void load_sample(int64_t sample, int64_t sample_epoch, float* out, RgbImage& source, RgbImage& crop) const;
  void finish_row(Slot& slot) {
    if (--slot.remaining == 0) batch_finished.notify_all();
  }
};

ImageFolderSource::Impl::Impl(const ImageFolderOptions& o) : options(o) {
  check_option(o.image_size > 0, "image_size must be positive, got " + std::to_string(o.image_size));
  check_option(o.batch_size > 0, "batch_size must be positive, got " + std::to_string(o.batch_size));
  const std::string problem = replica_problem(o.replica, o.batch_size, o.drop_last);
  check_option(problem.empty(), problem);
  local_batch = o.batch_size / o.replica.count;
  check_option(o.threads >= 1, "threads must be >= 1, got " + std::to_string(o.threads));
  check_option(o.prefetch_batches >= 1, "prefetch_batches must be >= 1, got " + std::to_string(o.prefetch_batches));
  check_option(o.preresize_short_side >= 0,
               "preresize_short_side must be >= 0 (0 = off), got " + std::to_string(o.preresize_short_side));
  const int size = static_cast<int>(o.image_size);
  subset = select_image_subset(o);
  preresize = static_cast<int>(o.preresize_short_side);
  if (preresize == 0 && !o.cache_path.empty()) preresize = eval_resize_short_side(size);
  check_option(o.min_decode_short_side >= 0,
               "min_decode_short_side must be >= 0 (0 = automatic), got " + std::to_string(o.min_decode_short_side));
  if (preresize > 0) {  // as the cache builder decodes, so cached and uncached agree
    decode_short_side = preresize;
  } else if (o.min_decode_short_side > 0) {
    decode_short_side = static_cast<int>(o.min_decode_short_side);
  } else {
    decode_short_side = o.augment ? 2 * size : eval_resize_short_side(size);
  }

  if (!o.cache_path.empty()) {
    cache = ImageCache::open_or_build(o.cache_path, subset, ImageCacheSettings{preresize, o.threads, o.skip_bad_images});
    for (size_t r = 0; r < cache->size(); ++r) sources.push_back(cache->source_index(r));
    for (const ImageCache::Skipped& s : cache->skipped()) bad_paths.push_back(subset.path(s.source));
  } else {
    sources.resize(subset.files.size());
    std::iota(sources.begin(), sources.end(), size_t{0});
  }
  known_bad.assign(sources.size(), 0);
  slots.resize(static_cast<size_t>(o.prefetch_batches));
  try {
    for (int t = 0; t < o.threads; ++t) workers.emplace_back([this] { worker_loop(); });
  } catch (...) {  // no destructor runs for a half-built Impl: join the started threads here
    stop_workers();
    throw;
  }
}

ImageFolderSource::Impl::~Impl() { stop_workers(); }

void ImageFolderSource::Impl::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  work_available.notify_all();
  for (std::thread& worker : workers) worker.join();
  workers.clear();
}

void ImageFolderSource::Impl::load_sample(int64_t sample, int64_t sample_epoch, float* out, RgbImage& source,
                                          RgbImage& crop) const {
  if (cache) {
    cache->read(static_cast<size_t>(sample), source);
  } else {
    source = decode_and_shrink(subset.path(sources[static_cast<size_t>(sample)]), decode_short_side, preresize);
  }
  const int size = static_cast<int>(options.image_size);
  CropBox box;
  bool mirror = false;
  if (options.augment) {
    SplitMix64 random = sample_random(options.seed, sample_epoch, sample);
    box = random_resized_crop_box(source.width, source.height, random);
    mirror = random.coin();
  } else {
    box = center_crop_box(source.width, source.height, size);
  }
  resize_crop(source, box, size, size, mirror, crop);
  normalize_to_chw(crop, options.normalization, out);
}

void ImageFolderSource::Impl::worker_loop() {
  RgbImage source, crop;  // reused buffers
  const int64_t floats_per_image = 3 * options.image_size * options.image_size;
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    work_available.wait(lock, [this] { return stopping || can_take_work(); });
    if (stopping) return;
    const int64_t position = next_position++;
    const int64_t batch = position / local_batch;
    const int64_t row = position % local_batch;
    Slot& slot = slots[static_cast<size_t>(batch % static_cast<int64_t>(slots.size()))];
    if (slot.batch != batch) {  // first row of this batch: the slot's previous batch was taken
      slot = Slot{};
      slot.batch = batch;
      slot.remaining = batch_rows(batch);
      slot.images = at::empty({slot.remaining, 3, options.image_size, options.image_size}, at::kFloat);
      slot.labels = at::empty({slot.remaining}, at::kLong);
      slot.bad.assign(static_cast<size_t>(slot.remaining), 0);
    }
    const int64_t sample = order[static_cast<size_t>(position)];
    slot.labels.data_ptr<int64_t>()[row] = subset.files[sources[static_cast<size_t>(sample)]].label;
    if (known_bad[static_cast<size_t>(sample)]) {  // failed in an earlier epoch: no second try
      slot.bad[static_cast<size_t>(row)] = 1;
      finish_row(slot);
      continue;
    }
    float* out = slot.images.data_ptr<float>() + row * floats_per_image;
    const uint64_t my_generation = generation;
    const int64_t my_epoch = epoch;
    ++in_flight;
    ++loaded;
    lock.unlock();
    std::string error;
    bool undecodable = false;
    try {
      load_sample(sample, my_epoch, out, source, crop);
    } catch (const ImageDecodeError& e) {
      error = e.what();
      undecodable = true;
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    if (--in_flight == 0) workers_idle.notify_all();
    if (generation != my_generation) continue;  // start_epoch has moved on; the slot is gone
    if (!error.empty()) {
      if (undecodable && options.skip_bad_images) {
        known_bad[static_cast<size_t>(sample)] = 1;
        bad_paths.push_back(subset.path(sources[static_cast<size_t>(sample)]));
        slot.bad[static_cast<size_t>(row)] = 1;
      } else if (slot.error_row < 0 || row < slot.error_row) {
        slot.error_row = row;
        slot.error = error;
      }
    }
    finish_row(slot);
  }
}

ImageFolderSource::ImageFolderSource(const ImageFolderOptions& options) : impl_(std::make_unique<Impl>(options)) {}

ImageFolderSource::~ImageFolderSource() = default;

void ImageFolderSource::start_epoch(int64_t epoch) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mutex);
  ++s.generation;
  s.epoch_running = false;
  // Rows in work still point into the old slots' tensors: let them land before reusing slots.
  s.workers_idle.wait(lock, [&s] { return s.in_flight == 0; });
  s.order = replica_epoch_order(static_cast<int64_t>(s.sources.size()), s.options.shuffle, s.options.seed, epoch,
                                s.options.batch_size, s.options.replica);
  s.epoch = epoch;
  s.positions = num_samples();
  s.next_position = 0;
  s.consumer_batch = 0;
  for (Slot& slot : s.slots) slot = Slot{};
  s.epoch_running = true;
  s.work_available.notify_all();
}

bool ImageFolderSource::next(Batch& out) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mutex);
  if (!s.epoch_running) throw std::logic_error("ImageFolderSource::next called before start_epoch");
  for (;;) {
    const int64_t batch = s.consumer_batch;
    if (batch * s.local_batch >= s.positions) return false;
    Slot& slot = s.slots[static_cast<size_t>(batch % static_cast<int64_t>(s.slots.size()))];
    s.batch_finished.wait(lock, [&] { return slot.batch == batch && slot.remaining == 0; });
    if (slot.error_row >= 0) throw ImageFolderError(slot.error);
    at::Tensor images = std::move(slot.images);
    at::Tensor labels = std::move(slot.labels);
    std::vector<int64_t> keep;
    for (size_t row = 0; row < slot.bad.size(); ++row) {
      if (!slot.bad[row]) keep.push_back(static_cast<int64_t>(row));
    }
    slot = Slot{};
    ++s.consumer_batch;
    s.work_available.notify_all();
    if (keep.empty()) continue;  // every image of the batch was bad
    if (static_cast<int64_t>(keep.size()) < labels.size(0)) {
      lock.unlock();
      const at::Tensor index = at::tensor(keep, at::kLong);
      images = images.index_select(0, index);
      labels = labels.index_select(0, index);
    }
    out.images = std::move(images);
    out.labels = std::move(labels);
    return true;
  }
}

int64_t ImageFolderSource::batches_per_epoch() const {
  const auto n = static_cast<int64_t>(impl_->sources.size());
  const int64_t b = impl_->options.batch_size;
  return impl_->options.drop_last ? n / b : (n + b - 1) / b;
}

int64_t ImageFolderSource::num_samples() const {
  const auto n = static_cast<int64_t>(impl_->sources.size());
  const int64_t b = impl_->options.batch_size;
  return (impl_->options.drop_last ? n / b * b : n) / impl_->options.replica.count;  // count > 1 implies drop_last
}

int64_t ImageFolderSource::num_classes() const { return static_cast<int64_t>(impl_->subset.class_names.size()); }

const ImageSubset& ImageFolderSource::subset() const { return impl_->subset; }

int64_t ImageFolderSource::label_of(int64_t sample) const {
  return impl_->subset.files[impl_->sources.at(static_cast<size_t>(sample))].label;
}

std::string ImageFolderSource::path_of(int64_t sample) const {
  return impl_->subset.path(impl_->sources.at(static_cast<size_t>(sample)));
}

int64_t ImageFolderSource::bad_image_count() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return static_cast<int64_t>(impl_->bad_paths.size());
}

std::vector<std::string> ImageFolderSource::bad_image_paths() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->bad_paths;
}

int64_t ImageFolderSource::decoded_count() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->loaded;
}

CacheState ImageFolderSource::cache_state() const {
  return impl_->cache ? impl_->cache->state() : CacheState::kNotUsed;
}

std::string ImageFolderSource::cache_stale_reason() const {
  return impl_->cache ? impl_->cache->stale_reason() : std::string();
}

}  // namespace ubp::data

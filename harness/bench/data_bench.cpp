// ubp-bench-data: how fast the image-folder loader feeds ImageNet-style training images, next to
// how fast MobileNetV1 1.0 trains on them, so one run shows whether loading or training limits
// an ImageNet-subset run on this machine.
//
//   build_image_cache
//       The preprocessed cache (short side 256) built from the tree below with 2 loader threads.
//   load_train_images/threads:T/cache:C
//       A temporary tree of 200 real JPEGs of 500x375 (10 classes x 20; smooth gradients plus
//       noise, quality 90, about the size of an ImageNet photo) read by ImageFolderSource at
//       224 px with training augmentation (random resized crop, flip, normalisation), batch 32,
//       T loader threads. C=1: through the preprocessed cache (short side 256, built once
//       before timing). One iteration is one epoch; counter images_per_second.
//   load_train_images_per_rank/replicas:R
//       The same JPEGs without a cache, 1 loader thread, as rank 0 of R data-parallel processes
//       (data::Replica: it decodes only its B/R rows of each global batch of 32). Counter
//       global_images_per_second: global-batch images per second this rank keeps up with; with
//       every rank decoding its own share it is R times what one process decoding everything
//       reaches.
//   mobilenet_v1_train_step
//       MobileNetV1 1.0, 3x224x224 input, 1000 classes, batch 16, SGD (momentum 0.9): one
//       training::train_step (forward, backward, step) an iteration; counter images_per_second.
//
// Each case runs as Google Benchmark repetitions (5; the cache build 3), which print their mean,
// median, standard deviation and CV; the summary line gives the medians side by side. LibTorch
// runs on every core (torch::set_num_threads(hardware_concurrency)).
//
//   build/bin/ubp-bench-data
//   build/bin/ubp-bench-data --benchmark_filter=load
#include <benchmark/benchmark.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "data/image_folder.h"
#include "models/mobilenet_v1.h"
#include "training/train_step.h"

namespace {

namespace fs = std::filesystem;
using namespace ubp;

constexpr int kClasses = 10;
constexpr int kImagesPerClass = 20;
constexpr int kWidth = 500, kHeight = 375;
constexpr int64_t kImageSize = 224;

// Smooth colour gradients whose direction and phase vary per image, plus per-pixel noise, so
// the JPEG is about as large as a photo's (a flat image would make decoding look too cheap).
data::RgbImage photo_like(int index) {
  data::RgbImage image(kWidth, kHeight);
  data::SplitMix64 random(static_cast<uint64_t>(index) + 1);
  const double fx = random.uniform(0.5, 3.0), fy = random.uniform(0.5, 3.0), phase = random.uniform(0, 6.3);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const double u = static_cast<double>(x) / kWidth, v = static_cast<double>(y) / kHeight;
      const double base[3] = {128 + 90 * std::sin(fx * 3.1 * u + phase), 128 + 80 * std::cos(fy * 2.7 * v + phase),
                              128 + 70 * std::sin(2.3 * (u + v) + 2 * phase)};
      const uint64_t noise = random.next();
      uint8_t* p = image.pixel(x, y);
      for (int c = 0; c < 3; ++c) {
        const double n = static_cast<double>((noise >> (16 * c)) & 0x1f) - 15.5;  // +-16
        p[c] = static_cast<uint8_t>(std::clamp(base[c] + n, 0.0, 255.0));
      }
    }
  }
  return image;
}

// The temporary tree, made on first use and removed when the program ends.
class PhotoTree {
 public:
  PhotoTree() {
    std::string pattern = (fs::temp_directory_path() / "ubp-bench-data-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    root_ = pattern;
    for (int c = 0; c < kClasses; ++c) {
      const fs::path dir = root_ / "train" / ("n0" + std::to_string(1000000 + c));
      fs::create_directories(dir);
      for (int k = 0; k < kImagesPerClass; ++k) {
        const std::string jpeg = data::encode_jpeg(photo_like(c * kImagesPerClass + k), 90);
        std::ofstream(dir / ("img" + std::to_string(k) + ".JPEG"), std::ios::binary) << jpeg;
        jpeg_bytes_ += jpeg.size();
      }
    }
  }
  ~PhotoTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root() const { return root_.string(); }
  std::string cache_path() const { return (root_ / "train.ubpcache").string(); }
  double mean_jpeg_kib() const { return jpeg_bytes_ / 1024.0 / (kClasses * kImagesPerClass); }

 private:
  fs::path root_;
  size_t jpeg_bytes_ = 0;
};

PhotoTree& tree() {
  static PhotoTree instance;
  return instance;
}

double cache_build_seconds = 0;  // the median of build_image_cache's repetitions

data::ImageFolderOptions loader_options(int threads, bool cached) {
  data::ImageFolderOptions o;
  o.root = tree().root();
  o.image_size = kImageSize;
  o.augment = true;
  o.batch_size = 32;
  o.threads = threads;
  o.prefetch_batches = 3;
  if (cached) o.cache_path = tree().cache_path();
  return o;
}

// One epoch per iteration; Google Benchmark times them. Returns the images read.
int64_t read_epochs(benchmark::State& state, data::ImageFolderSource& source) {
  int64_t images = 0, epoch = 0;
  for (auto _ : state) {
    source.start_epoch(epoch++);
    data::Batch batch;
    while (source.next(batch)) images += batch.labels.size(0);
  }
  return images;
}

// The preprocessed cache built from the JPEGs (2 loader threads), removed before each build.
void build_image_cache(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    std::error_code ignored;
    fs::remove(tree().cache_path(), ignored);
    state.ResumeTiming();
    data::ImageFolderSource build(loader_options(2, true));
  }
  state.SetLabel("cache build");
}

void load_train_images(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const bool cached = state.range(1) != 0;
  if (cached && !fs::exists(tree().cache_path())) data::ImageFolderSource build(loader_options(2, true));
  data::ImageFolderSource source(loader_options(threads, cached));
  const int64_t images = read_epochs(state, source);
  state.counters["images_per_second"] = benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(cached ? "cached" : "jpeg") + ", " + std::to_string(threads) + " thread" +
                 (threads > 1 ? "s" : ""));
}

void load_train_images_per_rank(benchmark::State& state) {
  const int replicas = static_cast<int>(state.range(0));
  data::ImageFolderOptions o = loader_options(1, false);
  o.drop_last = true;  // what several replicas need; the 1-replica row drops the same batch
  o.replica = data::Replica{0, replicas};
  data::ImageFolderSource source(o);
  const int64_t images = read_epochs(state, source);
  state.counters["global_images_per_second"] =
      benchmark::Counter(static_cast<double>(images * replicas), benchmark::Counter::kIsRate);
  state.SetLabel("rank 0 of " + std::to_string(replicas) + " (global batches), 1 thread");
}

void mobilenet_v1_train_step(benchmark::State& state) {
  constexpr int64_t kBatch = 16;
  torch::manual_seed(0);
  models::MobileNetV1Options o;
  o.width = 1.0;
  o.num_classes = 1000;
  models::MobileNetV1Impl model(o);
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  data::Batch batch;
  batch.images = at::randn({kBatch, 3, kImageSize, kImageSize});
  batch.labels = at::randint(o.num_classes, {kBatch}, at::kLong);
  training::train_step(model, optimizer, batch);  // warm-up: allocates gradients and momentum
  for (auto _ : state) benchmark::DoNotOptimize(training::train_step(model, optimizer, batch).loss);
  state.counters["images_per_second"] =
      benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel("mobilenet_v1");
}

// Every case is repeated (Google Benchmark's repetitions); the summary takes the median
// repetition's rate of each, which Google Benchmark computes as the "median" aggregate.
constexpr int kRepetitions = 5;

BENCHMARK(build_image_cache)->Iterations(1)->Repetitions(3)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(load_train_images)
    ->ArgNames({"threads", "cache"})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Iterations(1)
    ->Repetitions(kRepetitions)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(load_train_images_per_rank)
    ->ArgNames({"replicas"})
    ->Arg(1)
    ->Arg(2)
    ->Iterations(1)
    ->Repetitions(kRepetitions)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(mobilenet_v1_train_step)->Iterations(2)->Repetitions(kRepetitions)->UseRealTime()->Unit(benchmark::kMillisecond);

// Passes every run to the console and keeps, per label, the median aggregate's rate (images per
// second) and the cache build's median time.
class SummaryReporter : public benchmark::BenchmarkReporter {
 public:
  explicit SummaryReporter(benchmark::BenchmarkReporter* display) : display_(display) {}
  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Aggregate || run.aggregate_name != "median") continue;
      if (run.report_label == "cache build") {
        cache_build_seconds = run.GetAdjustedRealTime() / 1e3;  // the unit is milliseconds
        continue;
      }
      for (const char* counter : {"images_per_second", "global_images_per_second"}) {
        if (const auto it = run.counters.find(counter); it != run.counters.end()) rates[run.report_label] = it->second;
      }
    }
    display_->ReportRuns(runs);
  }
  void Finalize() override { display_->Finalize(); }

  std::map<std::string, double> rates;  // label -> images per second

 private:
  benchmark::BenchmarkReporter* display_;
};

}  // namespace

int main(int argc, char** argv) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  torch::set_num_threads(static_cast<int>(cores));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::unique_ptr<benchmark::BenchmarkReporter> display(benchmark::CreateDefaultDisplayReporter());
  SummaryReporter collector(display.get());
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();
  const std::map<std::string, double>& summary = collector.rates;
  if (!summary.empty()) {
    std::printf("summary (%u cores, %d JPEGs of %dx%d, %.0f KiB each, at %lld px):", cores, kClasses * kImagesPerClass,
                kWidth, kHeight, tree().mean_jpeg_kib(), static_cast<long long>(kImageSize));
    for (const auto& [label, rate] : summary) std::printf(" %s %.*f img/s;", label.c_str(), rate < 100 ? 1 : 0, rate);
    if (cache_build_seconds > 0) std::printf(" cache build %.2f s;", cache_build_seconds);
    const auto training = summary.find("mobilenet_v1");
    const auto loading = summary.find("jpeg, " + std::to_string(std::min(cores, 2u)) + " thread" + (cores > 1 ? "s" : ""));
    if (training != summary.end() && loading != summary.end() && training->second > 0) {
      std::printf(" loading from JPEGs is %.0fx the training rate", loading->second / training->second);
    }
    std::printf("\n");
  }
  return 0;
}

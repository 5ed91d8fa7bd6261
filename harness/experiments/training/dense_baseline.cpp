#include "experiments/training/dense_baseline.h"

#include <filesystem>
#include <optional>

#include "experiments/training/epoch_records.h"
#include "training/checkpoint.h"
#include "training/train_step.h"
#include "ubp/support/file_lock.h"

namespace ubp::experiments {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// flock() on a file next to the baseline (support::FileLock): released when the process dies,
// so a killed trainer never leaves the next run waiting.
class BaselineLock {
 public:
  explicit BaselineLock(const std::string& path) : lock_(path) {
    waited_ = !lock_.try_lock();
    if (waited_) lock_.lock_within(-1);
  }
  bool waited() const { return waited_; }

 private:
  support::FileLock lock_;
  bool waited_ = false;
};

}  // namespace

json obtain_dense_baseline(const settings::TrainingSettings& settings, TrainingData& data, models::Classifier& model,
                           const RunContext& ctx, spdlog::logger& log, distributed::DistributedContext* dist) {
  const bool root = dist == nullptr || dist->is_root();
  const std::string& key = settings.dense_key;
  const std::string dir = ctx.cache_dir.empty() ? "cache" : ctx.cache_dir;
  if (root) fs::create_directories(dir);
  const std::string final_path = (fs::path(dir) / ("dense-" + key + ".pt")).string();
  const std::string partial_path = (fs::path(dir) / ("dense-" + key + ".partial.pt")).string();
  const json placeholder = {{"kind", "dense"}, {"key", key}, {"epochs", json::array()},
                            {"final", {{"top1", 0.0}, {"top5", 0.0}, {"loss", 0.0}}}};

  std::optional<BaselineLock> lock;
  std::optional<training::Checkpoint> done;
  if (root) {
    done = training::load_checkpoint(final_path, model, nullptr);
    if (done) {
      log.info("dense baseline {} loaded from {}", key, final_path);
    } else {
      lock.emplace((fs::path(dir) / ("dense-" + key + ".lock")).string());
      if (lock->waited()) log.info("waited for another process that trained dense baseline {}", key);
      done = training::load_checkpoint(final_path, model, nullptr);
    }
  }
  if (dist != nullptr && dist->broadcast_value(done ? 1 : 0) == 1) {
    dist->broadcast_parameters_and_buffers(model);
    return root ? done->meta : placeholder;
  }
  if (done) return done->meta;

  const settings::TrainSettings& train = settings.train;
  const auto train_source = data.train(train.seed);
  const int64_t per_epoch = train_source->batches_per_epoch();
  const int64_t total = train.epochs * per_epoch;
  const training::LrSchedule lr(lr_params(train, total, per_epoch));
  auto sgd = training::make_sgd(model, sgd_settings(train, train.lr));

  json meta = {{"kind", "dense"}, {"key", key}, {"epochs", json::array()}};
  int64_t start_epoch = 0;
  if (root) {
    if (auto partial = training::load_checkpoint(partial_path, model, sgd.get())) {
      meta = partial->meta;
      start_epoch = meta["epochs"].size();
      log.info("dense baseline {}: resuming after epoch {}", key, start_epoch);
    }
  }
  if (dist != nullptr) {
    start_epoch = dist->broadcast_value(start_epoch);
    if (start_epoch > 0) {
      dist->broadcast_parameters_and_buffers(model);
      distributed::broadcast_momentum(*dist, model, *sgd);
    }
  }
  const int64_t epochs = training::epochs_for(total, per_epoch);
  if (ctx.console && start_epoch < epochs) {
    ctx.console->info("  training dense baseline {} ({} epochs, {} steps each)", key, epochs, per_epoch);
  }
  training::LoopSpec spec;
  spec.label = "dense";
  spec.total_steps = total;
  spec.start_epoch = start_epoch;
  spec.label_smoothing = train.label_smoothing;
  spec.progress_bar = ctx.progress_bar;
  training::LoopHooks hooks;
  if (dist != nullptr) distributed::add_data_parallel_hooks(*dist, model, hooks);
  hooks.epoch_done = [&](const training::EpochStats& s) {
    if (!root) return;
    meta["epochs"].push_back(epoch_json(s));  // data parallel: totals of the global batches
    report_epoch(ctx, log, "dense", epochs, meta["epochs"].back());
    training::save_checkpoint(partial_path, {meta, {}}, model, sgd.get());
  };
  training::run_loop(model, *sgd, lr, *train_source, *data.test, spec, hooks);
  // Every rank takes part: with synchronised batch norm the statistics are the global batches'.
  const json stale = recalibrate_for_evaluation(model, *train_source, epochs, train.bn_recalibration_batches,
                                                *data.test, root);
  if (!root) return placeholder;

  const training::EvalResult final_eval = training::evaluate(model, *data.test);
  meta["final"] = {{"top1", 100 * final_eval.top1}, {"top5", 100 * final_eval.top5}, {"loss", final_eval.loss}};
  if (!stale.empty()) meta["final"]["before_bn_recalibration"] = stale;
  meta["config"] = settings.dense_config;
  training::save_checkpoint(final_path, {meta, {}}, model, nullptr);
  std::error_code ignored;
  fs::remove(partial_path, ignored);
  log.info("dense baseline {} saved to {}: top-1 {:.2f}%", key, final_path, 100 * final_eval.top1);
  return meta;
}

}  // namespace ubp::experiments

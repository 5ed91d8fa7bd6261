#include "experiments/training/epoch_records.h"

#include <cmath>

#include "training/train_step.h"
#include "ubp/results/metric_names.h"

namespace ubp::experiments {

using nlohmann::json;
namespace metric = results::metric;

training::LrScheduleParams lr_params(const settings::TrainSettings& train, int64_t total_steps, int64_t per_epoch) {
  training::LrScheduleParams p;
  p.decay = training::lr_decay_from_string(train.lr_schedule);
  p.base_lr = train.lr;
  p.total_steps = std::max<int64_t>(1, total_steps);
  p.steps_per_epoch = per_epoch;
  p.warmup_steps = std::llround(train.warmup_epochs * static_cast<double>(per_epoch));
  p.milestones = train.milestones;
  p.gamma = train.gamma;
  return p;
}

training::SgdSettings sgd_settings(const settings::TrainSettings& train, double lr) {
  training::SgdSettings s;
  s.lr = lr;
  s.momentum = train.momentum;
  s.nesterov = train.nesterov;
  s.weight_decay = train.weight_decay;
  return s;
}

json epoch_json(const training::EpochStats& s) {
  return {{"epoch", s.epoch + 1},           {"train_loss", s.train_loss},
          {"train_top1", 100 * s.train_top1}, {"test_loss", s.test.loss},
          {"test_top1", 100 * s.test.top1},   {"test_top5", 100 * s.test.top5},
          {"lr", s.lr},                        {"images_per_second", s.images_per_second},
          {"seconds", s.seconds}};
}

void add_epoch_metrics(results::RunResult& out, const json& epochs, const std::string& prefix) {
  // Key in the epoch's JSON -> metric name in the database.
  static const std::pair<const char*, const char*> kMetrics[] = {
      {"train_loss", metric::kTrainLoss}, {"train_top1", metric::kTrainTop1},
      {"test_loss", metric::kTestLoss},   {"test_top1", metric::kTestTop1},
      {"test_top5", metric::kTestTop5},   {"lr", metric::kLearningRate},
      {"images_per_second", metric::kImagesPerSecond}, {"target_sparsity", metric::kTargetSparsity}};
  for (const auto& e : epochs) {
    for (const auto& [key, name] : kMetrics) {
      if (e.contains(key)) out.metrics.push_back({prefix + name, e["epoch"].get<int64_t>(), e[key].get<double>()});
    }
  }
}

void report_epoch(const RunContext& ctx, spdlog::logger& log, const std::string& label, int64_t epochs,
                  const json& e) {
  const std::string line = fmt::format(
      "{} epoch {}/{}: loss {:.4f}, train top-1 {:.2f}%, test top-1 {:.2f}% top-5 {:.2f}%, {:.0f} img/s, {:.1f} s",
      label, e["epoch"].get<int64_t>(), epochs, e["train_loss"].get<double>(), e["train_top1"].get<double>(),
      e["test_top1"].get<double>(), e["test_top5"].get<double>(), e["images_per_second"].get<double>(),
      e["seconds"].get<double>());
  log.info("{}", line);
  if (ctx.console) ctx.console->info("  {}", line);
}

json recalibrate_for_evaluation(models::Classifier& model, data::BatchSource& train, int64_t epoch, int64_t batches,
                                data::BatchSource& test, bool root) {
  if (batches <= 0) return json::object();
  const training::EvalResult stale = root ? training::evaluate(model, test) : training::EvalResult{};
  const int64_t used = training::recalibrate_batch_norm(model, train, epoch, batches);
  return {{"top1", 100 * stale.top1}, {"top5", 100 * stale.top5}, {"loss", stale.loss}, {"batches", used}};
}

void add_stale_bn_metrics(results::RunResult& out, const json& stale) {
  if (stale.empty()) return;
  out.metrics.push_back({metric::kBeforeRecalibrationTop1, 0, stale["top1"].get<double>()});
  out.metrics.push_back({metric::kBeforeRecalibrationTop5, 0, stale["top5"].get<double>()});
  out.metrics.push_back({metric::kRecalibrationBatches, 0, stale["batches"].get<double>()});
}

}  // namespace ubp::experiments

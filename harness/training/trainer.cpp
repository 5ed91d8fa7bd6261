#include "training/trainer.h"

#include <chrono>
#include <cstdio>

#include "training/progress.h"

namespace ubp::training {

std::unique_ptr<torch::optim::SGD> make_sgd(torch::nn::Module& model, const SgdSettings& s) {
  torch::optim::SGDOptions options(s.lr);
  options.momentum(s.momentum).nesterov(s.nesterov && s.momentum > 0).weight_decay(s.weight_decay);
  return std::make_unique<torch::optim::SGD>(model.parameters(), options);
}

void set_learning_rate(torch::optim::SGD& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
  }
}

void set_weight_decay(torch::optim::SGD& optimizer, double weight_decay) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::SGDOptions&>(group.options()).weight_decay(weight_decay);
  }
}

int64_t epochs_for(int64_t total_steps, int64_t steps_per_epoch) {
  return steps_per_epoch <= 0 ? 0 : (total_steps + steps_per_epoch - 1) / steps_per_epoch;
}

void run_loop(models::Classifier& model, torch::optim::SGD& optimizer, const LrSchedule& lr,
              data::BatchSource& train, data::BatchSource& test, const LoopSpec& spec,
              const LoopHooks& hooks) {
  const int64_t per_epoch = train.batches_per_epoch();
  if (per_epoch < 1) throw std::invalid_argument("training data has no full batch: fewer images than the batch size?");
  const int64_t epochs = epochs_for(spec.total_steps, per_epoch);
  std::function<void()> after_backward = hooks.after_backward;
  if (hooks.reduce_gradients) {
    after_backward = [&hooks] {
      hooks.reduce_gradients();
      if (hooks.after_backward) hooks.after_backward();
    };
  }
  for (int64_t epoch = spec.start_epoch; epoch < epochs; ++epoch) {
    const int64_t first = epoch * per_epoch;
    const int64_t last = std::min(first + per_epoch, spec.total_steps);
    const auto start = std::chrono::steady_clock::now();
    ProgressBar bar(spec.label + " epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs),
                    last - first, spec.progress_bar);
    EpochStats stats;
    stats.epoch = epoch;
    TrainTotals totals;
    double& loss_sum = totals.loss_sum;
    int64_t& correct = totals.correct;
    int64_t& seen = totals.seen;
    train.start_epoch(epoch);
    data::Batch batch;
    for (int64_t step = first; step < last && train.next(batch); ++step) {
      stats.lr = lr.at(step);
      set_learning_rate(optimizer, stats.lr);
      if (hooks.before_step) hooks.before_step(step);
      const StepResult r = train_step(model, optimizer, batch, spec.label_smoothing, hooks.masks,
                                      after_backward);
      loss_sum += r.loss;
      correct += r.correct;
      seen += r.count;
      ++stats.steps;
      char detail[96];
      std::snprintf(detail, sizeof detail, "loss %.3f acc %.1f%%", loss_sum / stats.steps,
                    100.0 * static_cast<double>(correct) / static_cast<double>(seen));
      bar.update(stats.steps, detail);
    }
    const double train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar.clear();
    if (hooks.reduce_train_totals) hooks.reduce_train_totals(totals);
    stats.train_loss = stats.steps > 0 ? loss_sum / static_cast<double>(stats.steps) : 0;
    stats.train_top1 = seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0;
    stats.images_per_second = train_seconds > 0 ? static_cast<double>(seen) / train_seconds : 0;
    if (hooks.after_epoch_steps) hooks.after_epoch_steps(epoch);
    if (hooks.before_evaluation) hooks.before_evaluation();
    if (hooks.evaluate) stats.test = evaluate(model, test);
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (hooks.epoch_done) hooks.epoch_done(stats);
  }
}

}  // namespace ubp::training

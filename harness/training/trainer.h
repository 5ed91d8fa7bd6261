// The epoch loop shared by dense training and every pruning schedule: learning rate per step,
// hooks where a schedule changes masks or gradients, evaluation after each epoch, progress.
#pragma once

#include <torch/optim/sgd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "models/classifier.h"
#include "training/lr_schedule.h"
#include "training/masking.h"
#include "training/train_step.h"

namespace ubp::training {

struct SgdSettings {
  double lr = 0.1;  // initial rate; the loop sets the scheduled rate before every step
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 4e-5;
};

std::unique_ptr<torch::optim::SGD> make_sgd(torch::nn::Module& model, const SgdSettings& settings);
void set_learning_rate(torch::optim::SGD& optimizer, double lr);
void set_weight_decay(torch::optim::SGD& optimizer, double weight_decay);

struct EpochStats {
  int64_t epoch = 0;  // 0-based within the loop
  int64_t steps = 0;  // optimizer steps in this epoch
  double train_loss = 0, train_top1 = 0;  // means over the epoch's batches (training mode)
  double lr = 0;                          // rate of the epoch's last step
  double images_per_second = 0;           // training steps only
  double seconds = 0;                     // training steps and evaluation
  EvalResult test;
};

struct LoopSpec {
  std::string label = "train";  // progress bar and log prefix
  int64_t total_steps = 0;      // the loop ends after this many steps
  int64_t start_epoch = 0;      // > 0 when resuming from a checkpoint
  double label_smoothing = 0.0;
  bool progress_bar = false;
};

// An epoch's training totals: the sum over its steps of the batch's mean loss, and the images
// classified correctly out of those seen.
struct TrainTotals {
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
};

struct LoopHooks {
  std::function<void(int64_t step)> before_step;        // e.g. re-select masks
  std::function<void()> after_backward;                  // e.g. ADMM's penalty gradient
  std::function<void(int64_t epoch)> after_epoch_steps;  // before evaluation (ADMM's Z, U)
  std::function<void(const EpochStats&)> epoch_done;     // after evaluation (checkpoint, log)
  const MaskSet* masks = nullptr;                         // keeps pruned weights zero
  // Data-parallel training (distributed/distributed.h): reduce_gradients runs right after
  // backward, before after_backward; before_evaluation before each evaluation; a process with
  // evaluate false skips evaluation (EpochStats::test stays empty); reduce_train_totals turns
  // this process's totals (its slices) into those of the global batches, before EpochStats.
  std::function<void()> reduce_gradients;
  std::function<void()> before_evaluation;
  std::function<void(TrainTotals&)> reduce_train_totals;
  bool evaluate = true;
};

int64_t epochs_for(int64_t total_steps, int64_t steps_per_epoch);

// Runs epochs start_epoch.. until total_steps steps are done. Epoch e covers the steps
// [e * steps_per_epoch, min((e + 1) * steps_per_epoch, total_steps)) and visits the data in the
// order of (source's seed, e), so a resumed loop repeats an uninterrupted one exactly.
void run_loop(models::Classifier& model, torch::optim::SGD& optimizer, const LrSchedule& lr,
              data::BatchSource& train, data::BatchSource& test, const LoopSpec& spec,
              const LoopHooks& hooks);

}  // namespace ubp::training

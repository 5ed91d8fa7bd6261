// What the training phases share: their learning-rate and SGD settings, one epoch's record (kept
// in checkpoints and turned into metrics), the progress line, and batch-norm recalibration
// before the final evaluation.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "data/datasets.h"
#include "experiments/experiment.h"
#include "models/classifier.h"
#include "settings/training_settings.h"
#include "training/lr_schedule.h"
#include "training/trainer.h"
#include "ubp/results/store.h"

namespace ubp::experiments {

training::LrScheduleParams lr_params(const settings::TrainSettings& train, int64_t total_steps, int64_t per_epoch);
training::SgdSettings sgd_settings(const settings::TrainSettings& train, double lr);

// One epoch as JSON (the checkpoints' and the dense cache's record of it): percentages for
// accuracies.
nlohmann::json epoch_json(const training::EpochStats& stats);
// The epochs' curves as metrics, named `prefix` + the metric name, at step = epoch.
void add_epoch_metrics(results::RunResult& out, const nlohmann::json& epochs, const std::string& prefix);
// One progress line per epoch, in the run's log and on the console.
void report_epoch(const RunContext& ctx, spdlog::logger& log, const std::string& label, int64_t epochs,
                  const nlohmann::json& epoch);

// The final evaluation's batch-norm statistics (training::recalibrate_batch_norm): evaluates
// with the running averages kept during training first (on `root`), so that each run records
// what recalibration changed, then recomputes them over `batches` training batches of `epoch`.
// Returns that first evaluation, or an empty object when recalibration is off.
nlohmann::json recalibrate_for_evaluation(models::Classifier& model, data::BatchSource& train, int64_t epoch,
                                          int64_t batches, data::BatchSource& test, bool root);
void add_stale_bn_metrics(results::RunResult& out, const nlohmann::json& stale);

}  // namespace ubp::experiments

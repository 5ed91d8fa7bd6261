// The names of the metrics the experiment kinds record (the `metrics` table's `name`), in one
// place for the code that writes them and the code that reads them back.
#pragma once

namespace ubp::results::metric {

// Training runs: the final evaluation, after batch-norm recalibration (step 0).
inline constexpr const char* kTop1 = "top1";
inline constexpr const char* kTop5 = "top5";
inline constexpr const char* kTestLoss = "test.loss";
inline constexpr const char* kSparsity = "sparsity";  // also selection runs
inline constexpr const char* kSeconds = "seconds";
// The dense baseline's final evaluation, recorded by every training run.
inline constexpr const char* kDenseTop1 = "dense.top1";
inline constexpr const char* kDenseTop5 = "dense.top5";
// The prefix of an unpruned run's per-epoch curves (dense.train.loss, ...).
inline constexpr const char* kDensePrefix = "dense.";
// Pruned runs.
inline constexpr const char* kPrunedLayers = "pruned_layers";
inline constexpr const char* kSelectionTotalSeconds = "selection.seconds";
inline constexpr const char* kRevivedWeights = "revived_weights";
inline constexpr const char* kEmptyOutputChannels = "empty_output_channels";
inline constexpr const char* kEmptyInputChannels = "empty_input_channels";
// The final evaluation with the running averages of training, before recalibration.
inline constexpr const char* kBeforeRecalibrationTop1 = "before_bn_recalibration.top1";
inline constexpr const char* kBeforeRecalibrationTop5 = "before_bn_recalibration.top5";
inline constexpr const char* kRecalibrationBatches = "bn_recalibration.batches";

// Per-epoch curves (step: the epoch, from 1).
inline constexpr const char* kTrainLoss = "train.loss";
inline constexpr const char* kTrainTop1 = "train.top1";
inline constexpr const char* kTestTop1 = "test.top1";
inline constexpr const char* kTestTop5 = "test.top5";
inline constexpr const char* kLearningRate = "lr";
inline constexpr const char* kImagesPerSecond = "images_per_second";
inline constexpr const char* kTargetSparsity = "target_sparsity";

// Selection runs.
inline constexpr const char* kRetainedFraction = "retained_fraction";
inline constexpr const char* kKeptBlocks = "kept_blocks";
inline constexpr const char* kSelectionSeconds = "selection_seconds";
inline constexpr const char* kLayers = "layers";
inline constexpr const char* kRetainedVsOptimal = "retained_vs_optimal";

}  // namespace ubp::results::metric

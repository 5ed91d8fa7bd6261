// One training step and an evaluation pass: the smallest pieces of the training loop, shared
// by the trainer and the tests.
#pragma once

#include <torch/optim/sgd.h>

#include <functional>

#include "data/datasets.h"
#include "models/classifier.h"
#include "training/masking.h"

namespace ubp::training {

struct StepResult {
  double loss = 0;      // mean cross-entropy of the batch (with label smoothing)
  int64_t correct = 0;  // top-1 hits in the batch (from the training-mode forward)
  int64_t count = 0;
};

// Forward in training mode, cross-entropy with label smoothing, backward, and an optimizer
// step; with `masks` the step is MaskSet::masked_step, so pruned weights stay exactly zero.
// `after_backward` may change the gradients before the step (ADMM adds its penalty's there).
StepResult train_step(models::Classifier& model, torch::optim::SGD& optimizer, const data::Batch& batch,
                      double label_smoothing = 0.0, const MaskSet* masks = nullptr,
                      const std::function<void()>& after_backward = nullptr);

struct EvalResult {
  double loss = 0;   // mean plain cross-entropy
  double top1 = 0;   // fractions in [0, 1]
  double top5 = 0;
  int64_t count = 0;
};

// Evaluation mode, no gradients, one pass over the iterator's epoch 0 order.
EvalResult evaluate(models::Classifier& model, data::BatchSource& batches);

// Recomputes every batch-norm layer's running mean and variance as the plain (cumulative)
// average over the first `max_batches` batches of `batches`' epoch `epoch`, forwarded in
// training mode without gradients; each layer's momentum is restored afterwards. Returns the
// number of batches used (0 when the model has no batch norm or max_batches <= 0).
//
// Why: evaluation normalises with running statistics that follow the weights with momentum 0.1.
// A pruned output channel that keeps no weight (unaligned selectors leave a few; see
// empty_channels in pruner.h) feeds its batch norm an almost constant input, whose near-zero
// variance that average cannot follow, so the final model would be evaluated with statistics of
// activations it no longer produces. Recomputing them on
// training data is the standard remedy (PyTorch's swa_utils.update_bn does it for averaged
// weights); it changes no weight, only the two buffers per layer.
int64_t recalibrate_batch_norm(models::Classifier& model, data::BatchSource& batches, int64_t epoch,
                               int64_t max_batches);

}  // namespace ubp::training

#include "training/train_step.h"

#include <torch/autograd.h>
#include <torch/nn/modules/batchnorm.h>

#include <algorithm>

namespace ubp::training {

StepResult train_step(models::Classifier& model, torch::optim::SGD& optimizer, const data::Batch& batch,
                      double label_smoothing, const MaskSet* masks,
                      const std::function<void()>& after_backward) {
  model.train();
  optimizer.zero_grad();
  const at::Tensor logits = model.forward(batch.images);
  at::Tensor loss = at::cross_entropy_loss(logits, batch.labels, /*weight=*/{}, at::Reduction::Mean,
                                           /*ignore_index=*/-100, label_smoothing);
  loss.backward();
  if (after_backward) after_backward();
  if (masks != nullptr) {
    masks->masked_step(optimizer);
  } else {
    optimizer.step();
  }
  StepResult r;
  r.loss = loss.item<double>();
  r.correct = (logits.detach().argmax(1) == batch.labels).sum().item<int64_t>();
  r.count = batch.labels.size(0);
  return r;
}

EvalResult evaluate(models::Classifier& model, data::BatchSource& batches) {
  torch::NoGradGuard no_grad;
  model.eval();
  EvalResult r;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  batches.start_epoch(0);
  data::Batch batch;
  while (batches.next(batch)) {
    const at::Tensor logits = model.forward(batch.images);
    const int64_t n = batch.labels.size(0);
    loss_sum += at::cross_entropy_loss(logits, batch.labels, {}, at::Reduction::Sum).item<double>();
    const int64_t k = std::min<int64_t>(5, logits.size(1));
    const at::Tensor topk = std::get<1>(logits.topk(k, 1));
    const at::Tensor hits = topk.eq(batch.labels.unsqueeze(1));
    top1 += hits.select(1, 0).sum().item<int64_t>();
    top5 += hits.any(1).sum().item<int64_t>();
    r.count += n;
  }
  if (r.count > 0) {
    r.loss = loss_sum / static_cast<double>(r.count);
    r.top1 = static_cast<double>(top1) / static_cast<double>(r.count);
    r.top5 = static_cast<double>(top5) / static_cast<double>(r.count);
  }
  return r;
}

int64_t recalibrate_batch_norm(models::Classifier& model, data::BatchSource& batches, int64_t epoch,
                               int64_t max_batches) {
  if (max_batches <= 0) return 0;
  struct Saved {
    torch::nn::BatchNorm2dImpl* norm;
    c10::optional<double> momentum;
  };
  std::vector<Saved> norms;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      norms.push_back({bn, bn->options.momentum()});
      bn->reset_running_stats();
      bn->options.momentum(c10::nullopt);  // cumulative average over the batches seen
    }
  }
  if (norms.empty()) return 0;
  torch::NoGradGuard no_grad;
  model.train();
  int64_t used = 0;
  batches.start_epoch(epoch);
  data::Batch batch;
  while (used < max_batches && batches.next(batch)) {
    model.forward(batch.images);
    ++used;
  }
  for (const Saved& s : norms) s.norm->options.momentum(s.momentum);
  return used;
}

}  // namespace ubp::training

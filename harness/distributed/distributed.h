// Data-parallel training of one run over several processes, through LibTorch's c10d with the
// Gloo backend (Debian's libgloo-dev): every process holds the whole model, reads its slice of
// each global batch, and the gradients are averaged before every optimizer step, so all
// processes take the same steps.
//
// What is shared and how:
// - initial weights: rank 0's parameters and buffers are broadcast when training starts;
// - gradients: averaged after backward with bucketed all-reduce (gradients are copied into flat
//   buckets of about 25 MB, summed across processes, divided by the world size, copied back);
// - masks: chosen on every rank, then rank 0's are broadcast, so they are identical bitwise
//   even if a selector ever broke a tie differently;
// - batch norm: synchronised by default (train.distributed.sync_batch_norm, models/batch_norm.h):
//   in every training forward each batch norm all-reduces its per-channel sums, so the slices are
//   normalised with the global batch's mean and variance, the running statistics follow the
//   global batch (identical on every rank), and the averaged gradient is the global batch's.
//   With sync_batch_norm false each rank's statistics follow its own slice (the batch statistics
//   of a slice normalise that slice, as PyTorch's DDP without SyncBatchNorm). Either way rank 0's
//   running statistics are broadcast before every evaluation and checkpoint;
// - data: rank r reads (decodes) only rows [r B/W, (r+1) B/W) of every global batch of B images
//   (data::Replica in data/datasets.h), so the global batch is the 1-process batch and the mean
//   of the slices' mean losses is its mean loss;
// - output: only rank 0 evaluates, writes checkpoints, the dense-baseline cache and the final
//   model; the others train and return.
//
// With synchronised batch norm, results agree with a 1-process run of the same global batch
// within floating-point tolerance, not bitwise: the slices' gradient sums are added in another
// order, and batch norm's statistics are partial sums added across ranks and a variance taken as
// E[x^2] - E[x]^2 instead of ATen's two passes. Without it, batch norm sees B/W images per slice:
// another computation, which agrees only with one process normalising each slice on its own.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/optim/sgd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "models/batch_norm.h"
#include "settings/training_settings.h"
#include "training/masking.h"
#include "training/trainer.h"

namespace ubp::distributed {

// train.distributed (settings/training_settings.h).
using DistributedSettings = settings::DistributedSettings;

// The configured settings with the world taken from Slurm where world_size is 0 (SLURM_NTASKS
// and SLURM_PROCID, the srun tasks). Throws std::invalid_argument naming the key and the
// accepted values for a rank outside the world or a missing rendezvous.
DistributedSettings resolve_world(DistributedSettings configured);

class DistributedContext {
 public:
  // Joins the group; returns when all world_size processes have joined. `scope` keeps the keys
  // of successive groups on one rendezvous apart (the run id: one group per run).
  DistributedContext(const DistributedSettings& settings, const std::string& scope);
  ~DistributedContext();
  DistributedContext(const DistributedContext&) = delete;
  DistributedContext& operator=(const DistributedContext&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_root() const { return rank_ == 0; }

  // Overwrites every tensor with rank 0's (same shapes and dtypes on every rank).
  void broadcast(const std::vector<at::Tensor>& tensors);
  int64_t broadcast_value(int64_t value);  // rank 0's value
  void broadcast_parameters_and_buffers(torch::nn::Module& model);
  void broadcast_buffers(torch::nn::Module& model);
  // Every parameter that has a gradient gets the mean of the ranks' gradients.
  void average_gradients(torch::nn::Module& model);
  void barrier();
  // Sums a contiguous tensor over the ranks, in place (the same result on every rank).
  void all_reduce_sum(at::Tensor& t);
  // Makes every synchronised batch norm of `model` (models/batch_norm.h) normalise with the
  // global batch's statistics in training mode, for as long as this context lives.
  void synchronise_batch_norm(torch::nn::Module& model);
  bool sync_batch_norm() const { return sync_batch_norm_; }

  // All-reduce time spent in average_gradients (seconds, this rank) and how many calls.
  double allreduce_seconds() const { return allreduce_seconds_; }
  int64_t allreduce_calls() const { return allreduce_calls_; }
  int64_t bucket_bytes = int64_t{25} << 20;

 private:
  struct Group;
  std::unique_ptr<Group> group_;
  int rank_ = 0, world_size_ = 1;
  bool sync_batch_norm_ = true;
  std::shared_ptr<models::BatchNormSync> batch_norm_sync_;  // the batch norms hold it weakly
  double allreduce_seconds_ = 0;
  int64_t allreduce_calls_ = 0;
};

// Makes rank 0's masks every rank's, then re-applies them to the weights and momentum buffers.
void broadcast_masks(DistributedContext& context, const training::MaskSet& masks, torch::optim::SGD& optimizer);

// Gives every parameter a momentum buffer (zeros where it had none: SGD's first step from a
// zero buffer equals its first step without one) and broadcasts rank 0's, for a resumed run.
void broadcast_momentum(DistributedContext& context, torch::nn::Module& model, torch::optim::SGD& optimizer);

// Sets the loop's data-parallel hooks: gradient averaging after backward, rank 0's batch-norm
// statistics before evaluation, and evaluation on rank 0 only; and, with the settings'
// sync_batch_norm, synchronises the model's batch norms (synchronise_batch_norm).
void add_data_parallel_hooks(DistributedContext& context, torch::nn::Module& model, training::LoopHooks& hooks);

}  // namespace ubp::distributed

// The pruning phase's schedules behind one interface: one-shot (masks chosen once on the dense
// weights), GMP (a sparsity ramp with the masks re-selected) and ADMM (training with the
// penalty rho/2 ||W - Z + U||^2, then a hard prune). Each adds its hooks to the training loop;
// fine-tuning with the final masks fixed follows all three.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/distributed.h"
#include "experiments/training/prune_state.h"
#include "settings/training_settings.h"
#include "training/trainer.h"

namespace ubp::experiments {

// What a schedule works on; owned by the run, alive for the whole loop.
struct PruningRun {
  const std::vector<models::PrunableLayer>& layers;
  const training::PruneSpec& spec;
  torch::optim::SGD& sgd;
  PruneState& state;
  distributed::DistributedContext* dist;  // null: one process
  double target = 0;                      // prune.sparsity
  int64_t steps_per_epoch = 1;

  // Chooses and installs the masks at `sparsity` (rank 0's on every rank).
  void select(double sparsity);
};

class PruneSchedule {
 public:
  virtual ~PruneSchedule() = default;
  // Steps of the pruning phase, before fine-tuning with fixed masks.
  virtual int64_t pruning_steps() const = 0;
  // Whether fine-tuning restarts the learning rate's cosine when prune.finetune_lr is auto.
  virtual bool restarts_by_default() const { return false; }
  // Once the run has resumed from its checkpoint at `start_epoch` (0: a fresh start): does what
  // a fresh start needs and adds the schedule's hooks. `run` must outlive the loop.
  virtual void attach(PruningRun& run, training::LoopHooks& hooks, int64_t start_epoch) = 0;
};

// prune.schedule's class, for an epoch of `steps_per_epoch` steps.
std::unique_ptr<PruneSchedule> make_prune_schedule(const settings::PruneSettings& prune, int64_t steps_per_epoch);

}  // namespace ubp::experiments

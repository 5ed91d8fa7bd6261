// The datasets of a training run, loaded once per run from its data settings, and the thread
// count LibTorch trains with.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "data/datasets.h"
#include "settings/training_settings.h"

namespace ubp::experiments {

// The training set's order differs between the dense baseline (train.seed) and the pruning
// phase (experiment.seed), so the training source is made per seed.
struct TrainingData {
  std::function<std::unique_ptr<data::BatchSource>(uint64_t order_seed)> train;
  std::unique_ptr<data::BatchSource> test;
  int64_t num_classes = 0, in_channels = 0;
};

// replica: this process's share of every training batch (data parallel); evaluation is whole.
// Throws std::invalid_argument for a dataset this build lacks or an ImageNet run without root.
TrainingData make_training_data(const settings::DataSettings& data, int64_t batch_size, data::Replica replica);

// train.threads, or when it is 0 the cores this process may run on (its CPU affinity, which
// Slurm's task binding and taskset set; not every core of the node), at most
// SLURM_CPUS_PER_TASK under Slurm, divided between the N workers of `ubp run --nproc N`.
int64_t training_threads(const settings::TrainSettings& train);

// What data parallelism asks of the settings, named by their keys, checked before any rank
// waits on another (the plan checks them too, but under Slurm the world size comes later).
void check_data_parallel_settings(const settings::TrainingSettings& settings, const data::Replica& replica);

}  // namespace ubp::experiments

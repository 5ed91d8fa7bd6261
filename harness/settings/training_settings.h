// The settings of a `kind: training` run, read once from its resolved config
// (read_training_settings) and passed as structs to the data, model, training, pruning and
// distributed code. Their keys, defaults and checks are declared beside the readers, in
// training_settings.cpp (add_training_keys, add_distributed_keys), which config/ubp_schema.cpp
// calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ubp/algorithms/allocation.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/algorithms/importance.h"

namespace ubp::config {
class Schema;
}

namespace ubp::settings {

// `experiment`: every kind has these.
struct ExperimentSettings {
  std::string kind;
  std::string name;
  uint64_t seed = 0;  // training: the order of the pruning phase's batches
};

// `data`: which images, and how they are loaded.
struct DataSettings {
  std::string dataset;  // fashion_mnist | imagenet | synthetic
  std::string root;     // empty: the dataset's default folder (none for imagenet)
  int64_t image_size = 0;
  int64_t num_classes = 0;  // imagenet: classes of the subset (0: all, or the class list)
  std::string class_list;
  int64_t images_per_class = 0;
  int64_t subset_seed = 0;
  int64_t val_images_per_class = 0;
  int64_t train_limit = 0;  // fashion_mnist / synthetic: first N images (0: all)
  int64_t test_limit = 0;
  bool skip_bad_images = false;
  int64_t loader_threads = 0;  // 0: every core
  std::string cache;           // imagenet: preprocessed cache file; empty: none
};

// `model`: the network.
struct ModelSettings {
  std::string name;
  double width = 1.0;
  bool small_input = false;
  std::string pretrained;  // weights file to start from; empty: none
};

// `train`: the dense baseline's training, and the SGD settings the pruning phase shares.
struct TrainSettings {
  int64_t epochs = 0;
  int64_t batch_size = 0;
  double lr = 0;
  std::string lr_schedule;  // cosine | multistep | constant
  std::vector<int64_t> milestones;
  double gamma = 0;
  double warmup_epochs = 0;
  double momentum = 0;
  bool nesterov = true;
  double weight_decay = 0;
  double label_smoothing = 0;
  int64_t bn_recalibration_batches = 0;
  uint64_t seed = 0;
  int64_t threads = 0;  // 0: the cores this process may use
};

enum class PruneSchedule { kOneshot, kGmp, kAdmm };

// `prune`: the selector (shared with selection runs) and, for training, the schedule.
struct PruneSettings {
  std::string method;  // a selector name, or "none" (training: the dense baseline itself)
  bool prunes() const { return method != "none"; }
  algorithms::BlockShape block{4, 1};
  double sparsity = 0;
  algorithms::Norm norm = algorithms::Norm::kL1;
  algorithms::AllocationMode allocation = algorithms::AllocationMode::kUniform;
  double min_sparsity = 0, max_sparsity = 1;
  int64_t memory_limit_bytes = 0;

  // training: which layers
  std::string layers;  // pointwise | conv | all
  std::string layer_regex;
  bool include_first_conv = false;
  bool include_classifier = false;
  // training: the schedule
  PruneSchedule schedule = PruneSchedule::kGmp;
  std::string schedule_name;
  std::string reselect;     // gmp: shadow | nested
  std::string finetune_lr;  // auto | continue | restart
  std::string ramp;         // gmp: cubic | linear | constant
  double power = 3;
  double initial_sparsity = 0;
  double ramp_epochs = 0;
  int64_t update_every = 1;
  std::string update_unit;  // step | epoch
  int64_t admm_epochs = 0;
  double rho = 0;
  double finetune_epochs = 0;
  double lr = 0;
};

// `train.distributed`: one run trained by several processes (distributed/distributed.h).
struct DistributedSettings {
  int world_size = 1;      // 1: a plain single-process run; 0: from Slurm (SLURM_NTASKS)
  int rank = 0;            // 0 .. world_size - 1; rank 0 writes everything
  std::string rendezvous;  // "file:PATH" (a shared file) or "tcp:HOST:PORT" (rank 0 serves)
  std::string interface;   // network interface Gloo uses ("lo", "eth0"); empty: the host name's address
  double timeout_seconds = 600;  // a collective that waits longer than this fails the run
  bool sync_batch_norm = true;   // batch norm over the global batch
  bool enabled() const { return world_size > 1; }
};

struct TrainingSettings {
  ExperimentSettings experiment;
  DataSettings data;
  ModelSettings model;
  TrainSettings train;
  PruneSettings prune;
  DistributedSettings distributed;
  // The hash that names the run's dense baseline (dense_baseline_key).
  std::string dense_key;
  // Recorded as they are, never read by key: the whole resolved config (checkpoints, the kept
  // model) and the dense baseline's data/model/train sections (its cache file's metadata).
  nlohmann::json resolved;
  nlohmann::json dense_config;
};

ExperimentSettings read_experiment_settings(const nlohmann::json& resolved);
DataSettings read_data_settings(const nlohmann::json& resolved);
ModelSettings read_model_settings(const nlohmann::json& resolved);
TrainSettings read_train_settings(const nlohmann::json& resolved);
// The selector keys only for a selection run; the schedule's too for a training run.
PruneSettings read_prune_settings(const nlohmann::json& resolved);
// From the object under `train.distributed` (absent keys: the schema's defaults). World size 0
// stays 0 here; distributed::resolve_world takes it from Slurm when the run starts.
DistributedSettings read_distributed_settings(const nlohmann::json& train_distributed);
TrainingSettings read_training_settings(const nlohmann::json& resolved);

// The hash that names a run's dense baseline: over the data, model and train sections, without
// the keys that do not change the trained weights (threads, loader settings).
std::string dense_baseline_key(const nlohmann::json& resolved);

// The schema fragments of these settings (config/ubp_schema.cpp calls them in this order).
void add_training_keys(config::Schema& schema);
void add_distributed_keys(config::Schema& schema);

}  // namespace ubp::settings

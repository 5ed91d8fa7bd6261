#include "settings/training_settings.h"

#include <filesystem>
#include <stdexcept>

#include "config/plan.h"
#include "config/schema.h"
#include "settings/settings_reader.h"

namespace ubp::settings {

using config::Json;
using config::KeySpec;
using config::Schema;
using config::ValueType;

namespace {

// An ImageNet-style folder: root/train/<class>/ and root/val/<class>/. Empty when it is one.
std::string image_folder_root_problem(const std::string& root) {
  namespace fs = std::filesystem;
  if (root.empty()) {
    return "empty, but imagenet needs the folder that holds train/<class>/ and val/<class>/ (e.g. "
           "data.root=/data/imagenet)";
  }
  std::error_code error;
  if (!fs::is_directory(root, error)) return "'" + root + "' is not a folder (accepted: a folder with train/<class>/ and val/<class>/)";
  for (const char* split : {"train", "val"}) {
    if (!fs::is_directory(fs::path(root) / split, error)) {
      return "'" + root + "' has no " + split + "/ folder (accepted: a folder with train/<class>/ and val/<class>/)";
    }
  }
  return "";
}


}  // namespace


ExperimentSettings read_experiment_settings(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  ExperimentSettings s;
  s.kind = r.string("experiment.kind");
  s.name = r.string("experiment.name");
  s.seed = r.get<uint64_t>("experiment.seed");
  return s;
}

DataSettings read_data_settings(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  DataSettings s;
  s.dataset = r.string("data.dataset");
  s.root = r.string("data.root");
  s.image_size = r.integer("data.image_size");
  s.num_classes = r.integer("data.num_classes");
  s.class_list = r.string("data.class_list");
  s.images_per_class = r.integer("data.images_per_class");
  s.subset_seed = r.integer("data.subset_seed");
  s.val_images_per_class = r.integer("data.val_images_per_class");
  s.train_limit = r.integer("data.train_limit");
  s.test_limit = r.integer("data.test_limit");
  s.skip_bad_images = r.boolean("data.skip_bad_images");
  s.loader_threads = r.integer("data.loader_threads");
  s.cache = r.string("data.cache");
  return s;
}

ModelSettings read_model_settings(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  ModelSettings s;
  s.name = r.string("model.name");
  s.width = r.number("model.width");
  s.small_input = r.boolean("model.small_input");
  s.pretrained = r.string("model.pretrained");
  return s;
}

TrainSettings read_train_settings(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  TrainSettings s;
  s.epochs = r.integer("train.epochs");
  s.batch_size = r.integer("train.batch_size");
  s.lr = r.number("train.lr");
  s.lr_schedule = r.string("train.lr_schedule");
  s.milestones = r.integers("train.milestones");
  s.gamma = r.number("train.gamma");
  s.warmup_epochs = r.number("train.warmup_epochs");
  s.momentum = r.number("train.momentum");
  s.nesterov = r.boolean("train.nesterov");
  s.weight_decay = r.number("train.weight_decay");
  s.label_smoothing = r.number("train.label_smoothing");
  s.bn_recalibration_batches = r.integer("train.bn_recalibration_batches");
  s.seed = r.get<uint64_t>("train.seed");
  s.threads = r.integer("train.threads");
  return s;
}

PruneSettings read_prune_settings(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  PruneSettings s;
  s.method = r.string("prune.method");
  const std::vector<int64_t> block = r.integers("prune.block");
  if (block.size() != 2) throw std::invalid_argument("config key prune.block is not [rows, cols]");
  s.block = {static_cast<int>(block[0]), static_cast<int>(block[1])};
  s.sparsity = r.number("prune.sparsity");
  s.norm = algorithms::norm_from_string(r.string("prune.norm"));
  s.allocation = algorithms::allocation_mode_from_string(r.string("prune.allocation"));
  s.min_sparsity = r.number("prune.min_sparsity");
  s.max_sparsity = r.number("prune.max_sparsity");
  s.memory_limit_bytes = r.integer("prune.memory_limit_mib") << 20;
  if (r.string("experiment.kind") != "training") return s;

  s.layers = r.string("prune.layers");
  s.layer_regex = r.string("prune.layer_regex");
  s.include_first_conv = r.boolean("prune.include_first_conv");
  s.include_classifier = r.boolean("prune.include_classifier");
  s.schedule_name = r.string("prune.schedule");
  if (s.schedule_name == "oneshot") {
    s.schedule = PruneSchedule::kOneshot;
  } else if (s.schedule_name == "admm") {
    s.schedule = PruneSchedule::kAdmm;
  } else if (s.schedule_name == "gmp") {
    s.schedule = PruneSchedule::kGmp;
  } else {
    throw std::invalid_argument("config key prune.schedule is '" + s.schedule_name +
                                "' (accepted: oneshot, gmp, admm)");
  }
  s.reselect = r.string("prune.reselect");
  s.finetune_lr = r.string("prune.finetune_lr");
  s.ramp = r.string("prune.ramp");
  s.power = r.number("prune.power");
  s.initial_sparsity = r.number("prune.initial_sparsity");
  s.ramp_epochs = r.number("prune.ramp_epochs");
  s.update_every = r.integer("prune.update_every");
  s.update_unit = r.string("prune.update_unit");
  s.admm_epochs = r.integer("prune.admm_epochs");
  s.rho = r.number("prune.rho");
  s.finetune_epochs = r.number("prune.finetune_epochs");
  s.lr = r.number("prune.lr");
  return s;
}

DistributedSettings read_distributed_settings(const nlohmann::json& train_distributed) {
  const SettingsReader r(train_distributed, "train.distributed");
  DistributedSettings s;
  s.world_size = static_cast<int>(r.integer("world_size"));
  s.rank = static_cast<int>(r.integer("rank"));
  s.rendezvous = r.string("rendezvous");
  s.interface = r.string("interface");
  s.timeout_seconds = r.number("timeout_s");
  s.sync_batch_norm = r.boolean("sync_batch_norm");
  return s;
}

TrainingSettings read_training_settings(const nlohmann::json& resolved) {
  TrainingSettings s;
  s.experiment = read_experiment_settings(resolved);
  s.data = read_data_settings(resolved);
  s.model = read_model_settings(resolved);
  s.train = read_train_settings(resolved);
  s.prune = read_prune_settings(resolved);
  const SettingsReader r(resolved);
  s.distributed = read_distributed_settings(r.contains("train.distributed") ? r.at("train.distributed")
                                                                             : nlohmann::json::object());
  s.dense_key = dense_baseline_key(resolved);
  s.resolved = resolved;
  s.dense_config = {{"data", r.at("data")}, {"model", r.at("model")}, {"train", r.at("train")}};
  return s;
}

std::string dense_baseline_key(const nlohmann::json& resolved) {
  const SettingsReader r(resolved);
  nlohmann::json identity = {
      {"version", "dense-v1"}, {"data", r.at("data")}, {"model", r.at("model")}, {"train", r.at("train")}};
  for (const char* k : {"loader_threads", "cache"}) identity["data"].erase(k);
  for (const char* k : {"threads", "distributed"}) identity["train"].erase(k);
  return config::sha256_hex(identity.dump()).substr(0, 16);
}

// `kind: training` (docs/method.md section 6): data, model, dense training, pruning schedule.
void add_training_keys(Schema& s) {
  using T = ValueType;
  const std::vector<std::string> training{"training"};
  auto key = [&](const char* path, ValueType type, Json default_value, const char* help) -> KeySpec& {
    return s.add_and_get(KeySpec(path, type, std::move(default_value), help).only_for(training));
  };

  // data
  key("data.dataset", T::kString, "fashion_mnist",
      "fashion_mnist (Debian's dataset-fashion-mnist), imagenet (a folder tree root/{train,val}/<class>/), "
      "or synthetic (seeded class patterns, for tests)")
      .one_of({"fashion_mnist", "imagenet", "synthetic"});
  key("data.root", T::kString, "",
      "dataset folder; empty: /usr/share/datasets/fashion-mnist for fashion_mnist (required for imagenet)");
  key("data.image_size", T::kInt, 32, "side of the (square) network input in pixels").range(8, 1024);
  key("data.num_classes", T::kInt, 0, "imagenet: classes in the subset (0: all, or the class list)").range(0, 100000);
  key("data.class_list", T::kString, "", "imagenet: file with one class folder name per line (overrides num_classes)");
  key("data.images_per_class", T::kInt, 0, "imagenet: training images per class (0: all)").range(0, 1000000);
  key("data.subset_seed", T::kInt, 0, "imagenet: seed of the choice of classes and images").at_least(0);
  key("data.val_images_per_class", T::kInt, 0, "imagenet: validation images per class (0: all)").range(0, 1000000);
  key("data.train_limit", T::kInt, 0, "fashion_mnist/synthetic: use only the first N training images (0: all)")
      .range(0, 100000000);
  key("data.test_limit", T::kInt, 0, "fashion_mnist/synthetic: use only the first N test images (0: all)")
      .range(0, 100000000);
  key("data.skip_bad_images", T::kBool, false,
      "imagenet: skip and count unreadable images instead of failing the run");
  key("data.loader_threads", T::kInt, 0, "imagenet: decoding threads (0: all cores)").range(0, 1024).not_identity();
  key("data.cache", T::kString, "", "imagenet: preprocessed cache file (built on first use; empty: none)")
      .not_identity();

  // model
  key("model.name", T::kString, "mobilenet_v1", "network").one_of({"mobilenet_v1", "resnet18", "resnet50"});
  key("model.width", T::kFloat, 1.0, "MobileNetV1 width multiplier").range(0.05, 4);
  key("model.small_input", T::kBool, false,
      "stem for 28 to 64 pixel inputs (total stride 8 instead of 32)");
  key("model.pretrained", T::kString, "",
      "weights to start from: a PyTorch state_dict (torchvision names) or a TorchScript archive");

  // train: the dense baseline (cached by its own hash, shared by the pruned runs)
  key("train.epochs", T::kInt, 10, "epochs of dense training (0 with model.pretrained: use it as is)").range(0, 100000);
  key("train.batch_size", T::kInt, 128, "images per optimizer step").range(1, 65536);
  key("train.lr", T::kFloat, 0.1, "peak learning rate").range(0, 100);
  key("train.lr_schedule", T::kString, "cosine", "learning-rate decay over the phase")
      .one_of({"cosine", "multistep", "constant"});
  key("train.milestones", T::kIntList, Json::array(), "multistep: epochs at which the rate is multiplied by gamma")
      .at_least(1);
  key("train.gamma", T::kFloat, 0.1, "multistep: factor at each milestone").range(0, 1);
  key("train.warmup_epochs", T::kFloat, 0.0, "linear warm-up from lr/100 to lr (epochs, fractions allowed)")
      .range(0, 100000);
  key("train.momentum", T::kFloat, 0.9, "SGD momentum").range(0, 1);
  key("train.nesterov", T::kBool, true, "Nesterov momentum");
  key("train.weight_decay", T::kFloat, 4e-5, "L2 weight decay").range(0, 1);
  key("train.label_smoothing", T::kFloat, 0.1, "label smoothing of the cross-entropy").range(0, 1);
  key("train.bn_recalibration_batches", T::kInt, 50,
      "before the final evaluation of every model (dense and pruned), recompute the batch-norm running "
      "statistics as the average over this many training batches (0: evaluate with the running averages "
      "kept during training)").range(0, 1000000);
  key("train.seed", T::kInt, 0, "seed of the dense baseline (initialisation and data order)").at_least(0);
  key("train.threads", T::kInt, 0,
      "LibTorch intra-op threads (0: the cores this process may run on, shared with the other --nproc workers; "
      "under Slurm at most SLURM_CPUS_PER_TASK)").range(0, 1024).not_identity();

  // prune: which layers, and how the sparsity is reached (the selector keys are above)
  key("prune.layers", T::kString, "pointwise", "layers pruned: 1x1 convolutions, k x k convolutions, or both")
      .one_of({"pointwise", "conv", "all"});
  // The pruner compiles it with std::regex, whose compiler recurses once per character: a long
  // pattern would overflow the stack instead of giving an error.
  key("prune.layer_regex", T::kString, "", "if set, only layers whose module name matches (ECMAScript regex)")
      .at_most_chars(1000);
  key("prune.include_first_conv", T::kBool, false, "also prune the first convolution");
  key("prune.include_classifier", T::kBool, false, "also prune the classifier (as a 1x1 layer)");
  key("prune.schedule", T::kString, "gmp",
      "oneshot (masks chosen once on the dense weights, then fine-tuning), gradual magnitude pruning (sparsity "
      "ramp, masks re-selected) or ADMM (the authors' loop)")
      .one_of({"oneshot", "gmp", "admm"});
  key("prune.reselect", T::kString, "shadow",
      "gmp: what a re-selection ranks: 'shadow' ranks every weight, a pruned one by its last unpruned value, so a "
      "dropped block can come back; 'nested' ranks the masked weights, so each mask lies inside the previous one")
      .one_of({"shadow", "nested"});
  key("prune.finetune_lr", T::kString, "auto",
      "learning rate of fine-tuning: 'continue' the pruning phase's cosine, or 'restart' a cosine from prune.lr "
      "when fine-tuning begins; 'auto': continue for gmp, restart for admm (oneshot is one phase)")
      .one_of({"auto", "continue", "restart"});
  key("prune.ramp", T::kString, "cubic", "gmp: shape of the sparsity ramp (constant: one-shot)")
      .one_of({"cubic", "linear", "constant"});
  key("prune.power", T::kFloat, 3.0, "gmp: exponent of the cubic ramp").range(0.1, 100);
  key("prune.initial_sparsity", T::kFloat, 0.0, "gmp: sparsity at the start of the ramp").range(0, 1);
  key("prune.ramp_epochs", T::kFloat, 1.0, "gmp: epochs over which the sparsity ramps (masks frozen after)")
      .range(0, 100000);
  key("prune.update_every", T::kInt, 50, "gmp: re-select the masks every this many units").range(1, 100000000);
  key("prune.update_unit", T::kString, "step", "gmp: unit of update_every").one_of({"step", "epoch"});
  key("prune.admm_epochs", T::kInt, 1, "admm: epochs of training with the ADMM penalty").range(0, 100000);
  key("prune.rho", T::kFloat, 1e-3, "admm: penalty weight rho").range(0, 1e6);
  key("prune.finetune_epochs", T::kFloat, 1.0, "epochs of fine-tuning with the final masks fixed").range(0, 100000);
  key("prune.lr", T::kFloat, 0.01, "peak learning rate of the pruning and fine-tuning phases (cosine)").range(0, 100);

  // Checks of the data that can run at planning time, so that a sweep with a bad data folder
  // fails before its first run instead of recording one failed run per point.
  s.add_rule({{"data.root", "data.dataset"}, [](const nlohmann::json& run) -> std::string {
                if (!run.contains("data") || run["data"]["dataset"] != "imagenet") return "";
                return image_folder_root_problem(run["data"]["root"].get<std::string>());
              }});
  s.add_rule({{"data.skip_bad_images", "data.cache", "train.distributed.world_size"},
              [](const nlohmann::json& run) -> std::string {
                if (!run.contains("data") || run["data"]["dataset"] != "imagenet") return "";
                const int world = run["train"]["distributed"]["world_size"];
                if (world == 1 || !run["data"]["skip_bad_images"].get<bool>() ||
                    !run["data"]["cache"].get<std::string>().empty()) {
                  return "";
                }
                // Without a cache each rank meets only the bad images of its own rows, so batch
                // sizes and even step counts could differ between ranks, and a collective would
                // wait forever.
                return "true with train.distributed needs data.cache: bad images are then left out "
                       "when the cache is built, alike for every process";
              }});
  s.add_rule({{"train.batch_size", "train.distributed.world_size"}, [](const nlohmann::json& run) -> std::string {
                if (!run.contains("train")) return "";
                const int64_t batch = run["train"]["batch_size"];
                const int64_t world = run["train"]["distributed"]["world_size"];
                if (world <= 1 || batch % world == 0) return "";
                return std::to_string(batch) + " cannot be split evenly over " + std::to_string(world) +
                       " processes (train.distributed.world_size): make it a multiple of " + std::to_string(world);
              }});
}

// `train.distributed`: one run trained by several processes (harness/distributed/). Not part of
// the run id nor of the dense baseline's key: the world size changes how the same experiment is
// computed, and its results agree with one process's within floating-point tolerance (the
// gradient sums are added in another order; batch norm normalises each process's slice).
void add_distributed_keys(Schema& s) {
  using T = ValueType;
  const std::vector<std::string> training{"training"};
  auto key = [&](const char* path, ValueType type, Json default_value, const char* help) -> KeySpec& {
    return s.add_and_get(KeySpec(path, type, std::move(default_value), help).only_for(training).not_identity());
  };
  key("train.distributed.world_size", T::kInt, 1,
      "processes training the run together: 1 (off), N, or 0 to take SLURM_NTASKS and SLURM_PROCID "
      "(the srun tasks of `ubp plan --slurm --ntasks N`)")
      .range(0, 4096);
  key("train.distributed.rank", T::kInt, 0, "this process's rank, 0 .. world_size-1 (rank 0 writes results)")
      .range(0, 4095);
  key("train.distributed.rendezvous", T::kString, "",
      "where the processes meet: file:PATH (a file on a path all of them reach) or tcp:HOST:PORT "
      "(rank 0 listens)");
  key("train.distributed.interface", T::kString, "",
      "network interface for Gloo's traffic, e.g. lo or eth0; empty: the address of the host name");
  key("train.distributed.timeout_s", T::kFloat, 600.0, "a collective waiting longer than this fails the run")
      .range(1, 86400);
  key("train.distributed.sync_batch_norm", T::kBool, true,
      "batch norm normalises with the statistics of the whole global batch (all-reduced per layer), "
      "as one process would; false: each process's slice on its own, as DDP without SyncBatchNorm");
}

}  // namespace ubp::settings

#include "experiments/training_experiment.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include "config/plan.h"
#include "data/datasets.h"
#include "data/image_folder.h"
#include "distributed/distributed.h"
#include "export/final_model.h"
#include "models/weights_import.h"
#include "models/model_utils.h"
#include "training/checkpoint.h"
#include "training/pruner.h"
#include "training/shadow_weights.h"
#include "training/trainer.h"
#include "ubp/support/file_lock.h"
#include "ubp/algorithms/schedule.h"

namespace ubp::experiments {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---- configuration -------------------------------------------------------------------------

// The datasets, loaded once per run; the training order's seed differs between the dense
// baseline (train.seed) and the pruning phase (experiment.seed).
struct Data {
  std::function<std::unique_ptr<data::BatchSource>(uint64_t order_seed)> train;
  std::unique_ptr<data::BatchSource> test;
  int64_t num_classes = 0, in_channels = 0;
};

std::function<std::unique_ptr<data::BatchSource>(uint64_t)> in_memory_train(data::TensorDataset dataset,
                                                                            int64_t batch, data::Replica replica) {
  return [dataset = std::move(dataset), batch, replica](uint64_t seed) -> std::unique_ptr<data::BatchSource> {
    return std::make_unique<data::BatchIterator>(dataset, batch, /*shuffle=*/true, seed, /*drop_last=*/true, replica);
  };
}

// replica: this process's share of every training batch (data parallel); evaluation is whole.
Data make_data(const json& cfg, data::Replica replica) {
  const json& d = cfg["data"];
  const std::string dataset = d["dataset"];
  const int64_t batch = cfg["train"]["batch_size"];
  const int64_t size = d["image_size"];
  Data out;
  if (dataset == "fashion_mnist") {
    data::FashionMnistOptions o;
    if (!d["root"].get<std::string>().empty()) o.root = d["root"];
    o.image_size = size;
    o.limit = d["train_limit"];
    data::TensorDataset train = data::load_fashion_mnist(o, data::Split::kTrain);
    o.limit = d["test_limit"];
    data::TensorDataset test = data::load_fashion_mnist(o, data::Split::kTest);
    out.num_classes = train.num_classes;
    out.in_channels = train.images.size(1);
    out.train = in_memory_train(std::move(train), batch, replica);
    out.test = std::make_unique<data::BatchIterator>(std::move(test), 256, false, 0);
  } else if (dataset == "synthetic") {
    // One draw of patterns for both splits (a class must look the same in train and test).
    const int64_t n_train = d["train_limit"].get<int64_t>() > 0 ? d["train_limit"].get<int64_t>() : 1024;
    const int64_t n_test = d["test_limit"].get<int64_t>() > 0 ? d["test_limit"].get<int64_t>() : 256;
    data::SyntheticOptions o;
    o.num_samples = n_train + n_test;
    o.image_size = size;
    o.seed = 1;
    const data::TensorDataset all = data::make_synthetic(o);
    data::TensorDataset train{all.images.slice(0, 0, n_train), all.labels.slice(0, 0, n_train), all.num_classes};
    data::TensorDataset test{all.images.slice(0, n_train), all.labels.slice(0, n_train), all.num_classes};
    out.num_classes = all.num_classes;
    out.in_channels = all.images.size(1);
    out.train = in_memory_train(std::move(train), batch, replica);
    out.test = std::make_unique<data::BatchIterator>(std::move(test), 256, false, 0);
  } else if (dataset == "imagenet") {
    if (d["root"].get<std::string>().empty()) {
      throw std::invalid_argument("data.root is empty: give the ImageNet folder that holds train/<class>/ and "
                                  "val/<class>/, e.g. data.root=/data/imagenet");
    }
    data::ImageFolderOptions o;
    o.root = d["root"];
    o.num_classes = d["num_classes"];
    o.class_list = d["class_list"];
    o.subset_seed = d["subset_seed"];
    o.image_size = size;
    o.skip_bad_images = d["skip_bad_images"];
    const int64_t threads = d["loader_threads"];
    o.threads = static_cast<int>(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency()));
    const std::string cache = d["cache"];

    data::ImageFolderOptions val = o;
    val.split = data::ImageSplit::kVal;
    val.images_per_class = d["val_images_per_class"];
    val.augment = false;
    val.shuffle = false;
    val.batch_size = std::min<int64_t>(batch, 128);
    if (!cache.empty()) val.cache_path = cache + ".val";
    auto test = std::make_unique<data::ImageFolderSource>(val);

    o.split = data::ImageSplit::kTrain;
    o.images_per_class = d["images_per_class"];
    o.batch_size = batch;
    o.drop_last = true;
    o.replica = replica;
    if (!cache.empty()) o.cache_path = cache + ".train";
    // The class indices of val must be those of train: the same chosen classes, sorted.
    out.num_classes = test->num_classes();
    out.in_channels = 3;
    out.test = std::move(test);
    out.train = [o](uint64_t seed) -> std::unique_ptr<data::BatchSource> {
      data::ImageFolderOptions with_seed = o;
      with_seed.seed = seed;
      return std::make_unique<data::ImageFolderSource>(with_seed);
    };
  } else {
    throw std::invalid_argument("data.dataset '" + dataset + "' is not available in this build");
  }
  return out;
}

// train.threads 0: the cores this process may run on (its CPU affinity, which Slurm's task
// binding and taskset set; not every core of the node), at most SLURM_CPUS_PER_TASK under Slurm,
// divided between the N workers of `ubp run --nproc N`, which share this machine.
int64_t default_train_threads() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  int64_t cores = ::sched_getaffinity(0, sizeof allowed, &allowed) == 0
                      ? CPU_COUNT(&allowed)
                      : static_cast<int64_t>(std::thread::hardware_concurrency());
  if (const char* per_task = std::getenv("SLURM_CPUS_PER_TASK"); per_task != nullptr && std::atoi(per_task) > 0) {
    cores = std::min<int64_t>(cores, std::atoi(per_task));
  }
  const char* local_processes = std::getenv("UBP_LOCAL_PROCESSES");
  const int64_t sharing = local_processes != nullptr ? std::max(1, std::atoi(local_processes)) : 1;
  return std::max<int64_t>(1, cores / sharing);
}

// What data parallelism asks of the data settings, named by their keys before any rank waits
// on another.
void check_data_parallel_data(const json& cfg, const data::Replica& replica) {
  if (replica.count == 1) return;
  const int64_t batch = cfg["train"]["batch_size"];
  if (batch % replica.count != 0) {
    throw std::invalid_argument("train.batch_size " + std::to_string(batch) + " cannot be split evenly over " +
                                std::to_string(replica.count) + " processes (train.distributed.world_size): make it " +
                                "a multiple of " + std::to_string(replica.count));
  }
  const json& d = cfg["data"];
  if (d["dataset"] == "imagenet" && d["skip_bad_images"].get<bool>() && d["cache"].get<std::string>().empty()) {
    // Without a cache each rank meets only the bad images of its own rows, so batch sizes and
    // even step counts could differ between ranks, and a collective would wait forever.
    throw std::invalid_argument("data.skip_bad_images with train.distributed needs data.cache: bad images are then "
                                "left out when the cache is built, alike for every process");
  }
}

models::ModelSpec model_spec(const json& cfg, const Data& data) {
  models::ModelSpec spec;
  spec.name = cfg["model"]["name"];
  spec.width = cfg["model"]["width"];
  spec.small_input = cfg["model"]["small_input"];
  spec.num_classes = data.num_classes;
  spec.in_channels = data.in_channels;
  return spec;
}

training::LrScheduleParams lr_params(const json& train, int64_t total_steps, int64_t per_epoch) {
  training::LrScheduleParams p;
  p.decay = training::lr_decay_from_string(train["lr_schedule"]);
  p.base_lr = train["lr"];
  p.total_steps = std::max<int64_t>(1, total_steps);
  p.steps_per_epoch = per_epoch;
  p.warmup_steps = std::llround(train["warmup_epochs"].get<double>() * static_cast<double>(per_epoch));
  p.milestones = train["milestones"].get<std::vector<int64_t>>();
  p.gamma = train["gamma"];
  return p;
}

training::SgdSettings sgd_settings(const json& train, double lr) {
  training::SgdSettings s;
  s.lr = lr;
  s.momentum = train["momentum"];
  s.nesterov = train["nesterov"];
  s.weight_decay = train["weight_decay"];
  return s;
}

json epoch_json(const training::EpochStats& s) {
  return {{"epoch", s.epoch + 1},           {"train_loss", s.train_loss},
          {"train_top1", 100 * s.train_top1}, {"test_loss", s.test.loss},
          {"test_top1", 100 * s.test.top1},   {"test_top5", 100 * s.test.top5},
          {"lr", s.lr},                        {"images_per_second", s.images_per_second},
          {"seconds", s.seconds}};
}

void add_epoch_metrics(results::RunResult& out, const json& epochs, const std::string& prefix) {
  // Key in the epoch's JSON -> metric name in the database.
  static const std::pair<const char*, const char*> kMetrics[] = {
      {"train_loss", "train.loss"}, {"train_top1", "train.top1"}, {"test_loss", "test.loss"},
      {"test_top1", "test.top1"},   {"test_top5", "test.top5"},   {"lr", "lr"},
      {"images_per_second", "images_per_second"}, {"target_sparsity", "target_sparsity"}};
  for (const auto& e : epochs) {
    for (const auto& [key, name] : kMetrics) {
      if (e.contains(key)) out.metrics.push_back({prefix + name, e["epoch"].get<int64_t>(), e[key].get<double>()});
    }
  }
}

// The final evaluation's batch-norm statistics (training::recalibrate_batch_norm): evaluates
// with the running averages kept during training first (on `root`), so that each run records
// what recalibration changed, then recomputes them over `batches` training batches of `epoch`.
// Returns that first evaluation, or an empty object when recalibration is off.
json recalibrate_for_evaluation(models::Classifier& model, data::BatchSource& train, int64_t epoch, int64_t batches,
                                data::BatchSource& test, bool root) {
  if (batches <= 0) return json::object();
  const training::EvalResult stale = root ? training::evaluate(model, test) : training::EvalResult{};
  const int64_t used = training::recalibrate_batch_norm(model, train, epoch, batches);
  return {{"top1", 100 * stale.top1}, {"top5", 100 * stale.top5}, {"loss", stale.loss}, {"batches", used}};
}

void add_stale_bn_metrics(results::RunResult& out, const json& stale) {
  if (stale.empty()) return;
  out.metrics.push_back({"before_bn_recalibration.top1", 0, stale["top1"].get<double>()});
  out.metrics.push_back({"before_bn_recalibration.top5", 0, stale["top5"].get<double>()});
  out.metrics.push_back({"bn_recalibration.batches", 0, stale["batches"].get<double>()});
}

void report_epoch(const RunContext& ctx, spdlog::logger& log, const std::string& label,
                  int64_t epochs, const json& e) {
  const std::string line = fmt::format(
      "{} epoch {}/{}: loss {:.4f}, train top-1 {:.2f}%, test top-1 {:.2f}% top-5 {:.2f}%, {:.0f} img/s, {:.1f} s",
      label, e["epoch"].get<int64_t>(), epochs, e["train_loss"].get<double>(), e["train_top1"].get<double>(),
      e["test_top1"].get<double>(), e["test_top5"].get<double>(), e["images_per_second"].get<double>(),
      e["seconds"].get<double>());
  log.info("{}", line);
  if (ctx.console) ctx.console->info("  {}", line);
}

// ---- the dense baseline --------------------------------------------------------------------

// flock() on a file next to the baseline (support::FileLock): released when the process dies,
// so a killed trainer never leaves the next run waiting.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : lock_(path) {
    waited_ = !lock_.try_lock();
    if (waited_) lock_.lock_within(-1);
  }
  bool waited() const { return waited_; }

 private:
  support::FileLock lock_;
  bool waited_ = false;
};

// Loads the dense baseline into `model`, training it first when the cache does not hold it.
// Returns its metadata (per-epoch curves and the final evaluation).
// Data parallel (`dist` set): rank 0 alone reads and writes the cache and tells the others
// whether there is training to do; they then receive its weights. Their returned metadata is
// a placeholder (their results are not kept).
json obtain_dense_baseline(const json& cfg, Data& data, models::Classifier& model, const RunContext& ctx,
                           spdlog::logger& log, distributed::DistributedContext* dist) {
  const bool root = dist == nullptr || dist->is_root();
  const std::string key = dense_baseline_key(cfg);
  const std::string dir = ctx.cache_dir.empty() ? "cache" : ctx.cache_dir;
  if (root) fs::create_directories(dir);
  const std::string final_path = (fs::path(dir) / ("dense-" + key + ".pt")).string();
  const std::string partial_path = (fs::path(dir) / ("dense-" + key + ".partial.pt")).string();
  const json placeholder = {{"kind", "dense"}, {"key", key}, {"epochs", json::array()},
                            {"final", {{"top1", 0.0}, {"top5", 0.0}, {"loss", 0.0}}}};

  std::optional<FileLock> lock;
  std::optional<training::Checkpoint> done;
  if (root) {
    done = training::load_checkpoint(final_path, model, nullptr);
    if (done) {
      log.info("dense baseline {} loaded from {}", key, final_path);
    } else {
      lock.emplace((fs::path(dir) / ("dense-" + key + ".lock")).string());
      if (lock->waited()) log.info("waited for another process that trained dense baseline {}", key);
      done = training::load_checkpoint(final_path, model, nullptr);
    }
  }
  if (dist != nullptr && dist->broadcast_value(done ? 1 : 0) == 1) {
    dist->broadcast_parameters_and_buffers(model);
    return root ? done->meta : placeholder;
  }
  if (done) return done->meta;

  const json& train = cfg["train"];
  const auto train_source = data.train(train["seed"].get<uint64_t>());
  const int64_t per_epoch = train_source->batches_per_epoch();
  const int64_t total = train["epochs"].get<int64_t>() * per_epoch;
  const training::LrSchedule lr(lr_params(train, total, per_epoch));
  auto sgd = training::make_sgd(model, sgd_settings(train, train["lr"]));

  json meta = {{"kind", "dense"}, {"key", key}, {"epochs", json::array()}};
  int64_t start_epoch = 0;
  if (root) {
    if (auto partial = training::load_checkpoint(partial_path, model, sgd.get())) {
      meta = partial->meta;
      start_epoch = meta["epochs"].size();
      log.info("dense baseline {}: resuming after epoch {}", key, start_epoch);
    }
  }
  if (dist != nullptr) {
    start_epoch = dist->broadcast_value(start_epoch);
    if (start_epoch > 0) {
      dist->broadcast_parameters_and_buffers(model);
      distributed::broadcast_momentum(*dist, model, *sgd);
    }
  }
  const int64_t epochs = training::epochs_for(total, per_epoch);
  if (ctx.console && start_epoch < epochs) {
    ctx.console->info("  training dense baseline {} ({} epochs, {} steps each)", key, epochs, per_epoch);
  }
  training::LoopSpec spec;
  spec.label = "dense";
  spec.total_steps = total;
  spec.start_epoch = start_epoch;
  spec.label_smoothing = train["label_smoothing"];
  spec.progress_bar = ctx.progress_bar;
  training::LoopHooks hooks;
  if (dist != nullptr) distributed::add_data_parallel_hooks(*dist, model, hooks);
  hooks.epoch_done = [&](const training::EpochStats& s) {
    if (!root) return;
    meta["epochs"].push_back(epoch_json(s));  // data parallel: totals of the global batches
    report_epoch(ctx, log, "dense", epochs, meta["epochs"].back());
    training::save_checkpoint(partial_path, {meta, {}}, model, sgd.get());
  };
  training::run_loop(model, *sgd, lr, *train_source, *data.test, spec, hooks);
  // Every rank takes part: with synchronised batch norm the statistics are the global batches'.
  const json stale = recalibrate_for_evaluation(model, *train_source, training::epochs_for(total, per_epoch),
                                                train["bn_recalibration_batches"], *data.test, root);
  if (!root) return placeholder;

  const training::EvalResult final_eval = training::evaluate(model, *data.test);
  meta["final"] = {{"top1", 100 * final_eval.top1}, {"top5", 100 * final_eval.top5}, {"loss", final_eval.loss}};
  if (!stale.empty()) meta["final"]["before_bn_recalibration"] = stale;
  meta["config"] = {{"data", cfg["data"]}, {"model", cfg["model"]}, {"train", cfg["train"]}};
  training::save_checkpoint(final_path, {meta, {}}, model, nullptr);
  std::error_code ignored;
  fs::remove(partial_path, ignored);
  log.info("dense baseline {} saved to {}: top-1 {:.2f}%", key, final_path, 100 * final_eval.top1);
  return meta;
}

// ---- pruning ---------------------------------------------------------------------------------

training::PruneSpec prune_spec(const json& p) {
  training::PruneSpec spec;
  spec.method = p["method"];
  spec.block = {p["block"][0].get<int>(), p["block"][1].get<int>()};
  spec.norm = p["norm"] == "l2" ? algorithms::Norm::kL2 : algorithms::Norm::kL1;
  spec.allocation = algorithms::allocation_mode_from_string(p["allocation"]);
  spec.min_sparsity = p["min_sparsity"];
  spec.max_sparsity = p["max_sparsity"];
  spec.selector_options.memory_limit_bytes = p["memory_limit_mib"].get<int64_t>() << 20;
  return spec;
}

training::LayerFilter layer_filter(const json& p) {
  training::LayerFilter f;
  f.kinds = p["layers"];
  f.name_regex = p["layer_regex"];
  f.include_first_conv = p["include_first_conv"];
  f.include_classifier = p["include_classifier"];
  return f;
}

std::vector<at::Tensor> weights_of(const std::vector<models::PrunableLayer>& layers) {
  std::vector<at::Tensor> out;
  for (const auto& l : layers) out.push_back(l.weight.detach());
  return out;
}

json records_json(const std::vector<results::LayerRecord>& records) {
  json out = json::array();
  for (const auto& r : records) {
    out.push_back({{"layer", r.layer}, {"rows", r.rows}, {"cols", r.cols}, {"bh", r.block_rows},
                   {"bw", r.block_cols}, {"method", r.method}, {"kept_blocks", r.kept_blocks},
                   {"sparsity", r.sparsity}, {"retained", r.retained_importance},
                   {"total", r.total_importance}, {"seconds", r.selection_seconds}});
  }
  return out;
}

std::vector<results::LayerRecord> records_from_json(const json& j) {
  std::vector<results::LayerRecord> out;
  for (const auto& e : j) {
    results::LayerRecord r;
    r.layer = e["layer"];
    r.rows = e["rows"];
    r.cols = e["cols"];
    r.block_rows = e["bh"];
    r.block_cols = e["bw"];
    r.method = e["method"];
    r.kept_blocks = e["kept_blocks"];
    r.sparsity = e["sparsity"];
    r.retained_importance = e["retained"];
    r.total_importance = e["total"];
    r.selection_seconds = e["seconds"];
    out.push_back(std::move(r));
  }
  return out;
}

// The state of a pruning run that a checkpoint carries besides the model and the optimizer.
struct PruneState {
  training::MaskSet masks;
  std::vector<results::LayerRecord> records;
  double target_sparsity = 0;    // of the installed masks (-1: none installed yet)
  double selection_seconds = 0;  // every selection of the run
  std::vector<at::Tensor> z, u;  // ADMM
  std::optional<training::ShadowWeights> shadow;  // GMP with prune.reselect: shadow
  int64_t revived_weights = 0;   // pruned by one selection, kept again by a later one
  json epochs = json::array();
};

// Chooses and installs the masks at `sparsity` (training/shadow_weights.h) and keeps their records.
void select_masks(PruneState& st, const std::vector<models::PrunableLayer>& layers, const training::PruneSpec& spec,
                  torch::optim::SGD& sgd, double sparsity) {
  const training::MaskUpdate update =
      training::update_masks(layers, spec, sparsity, st.masks, st.shadow ? &*st.shadow : nullptr, &sgd);
  st.records.clear();
  for (const auto& c : update.chosen) {
    st.records.push_back(c.record);
    st.selection_seconds += c.record.selection_seconds;
  }
  st.revived_weights += update.revived_weights;
  st.target_sparsity = sparsity;
}

training::Checkpoint to_checkpoint(const PruneState& st, const std::vector<models::PrunableLayer>& layers,
                                   const std::string& run_id, const json& cfg) {
  training::Checkpoint c;
  c.meta = {{"run_id", run_id},
            {"config", cfg},
            {"epochs", st.epochs},
            {"records", records_json(st.records)},
            {"target_sparsity", st.target_sparsity},
            {"selection_seconds", st.selection_seconds},
            {"revived_weights", st.revived_weights}};
  for (const auto& e : st.masks.entries()) c.tensors["mask/" + e.name] = e.mask;
  if (st.shadow) {
    for (size_t i = 0; i < layers.size(); ++i) c.tensors["shadow/" + layers[i].name] = st.shadow->ranked()[i];
  }
  for (size_t i = 0; i < st.z.size(); ++i) {
    c.tensors["z/" + layers[i].name] = st.z[i];
    c.tensors["u/" + layers[i].name] = st.u[i];
  }
  return c;
}

void from_checkpoint(PruneState& st, const training::Checkpoint& c,
                     const std::vector<models::PrunableLayer>& layers) {
  st.epochs = c.meta["epochs"];
  st.records = records_from_json(c.meta["records"]);
  st.target_sparsity = c.meta["target_sparsity"];
  st.selection_seconds = c.meta["selection_seconds"];
  st.revived_weights = c.meta.value("revived_weights", int64_t{0});
  st.masks.clear();
  std::vector<at::Tensor> shadow;
  for (const auto& layer : layers) {
    const auto it = c.tensors.find("mask/" + layer.name);
    if (it != c.tensors.end()) st.masks.add(layer.name, layer.weight, it->second);
    const auto z = c.tensors.find("z/" + layer.name), u = c.tensors.find("u/" + layer.name);
    if (z != c.tensors.end() && u != c.tensors.end()) {
      st.z.push_back(z->second);
      st.u.push_back(u->second);
    }
    if (const auto it_shadow = c.tensors.find("shadow/" + layer.name); it_shadow != c.tensors.end()) {
      shadow.push_back(it_shadow->second);
    }
  }
  // A checkpoint taken before the first selection has no shadows yet: the run's own stand.
  if (st.shadow && shadow.size() == layers.size()) st.shadow.emplace(layers, std::move(shadow));
}

// Keeps the finished run's model and masks in <models dir>/model.pt (export/final_model.h) so
// that `ubp export --run` can pack it after the run's work dir is gone.
void keep_final_model(const RunContext& ctx, const json& cfg, const models::ModelSpec& spec,
                      models::Classifier& model, const training::MaskSet* masks,
                      spdlog::logger& log) {
  if (ctx.models_dir.empty()) return;
  exporter::SavedModel saved;
  saved.spec = spec;
  saved.run_id = ctx.run_id;
  saved.config = cfg;
  const int64_t size = cfg["data"]["image_size"];
  saved.input_shape = {spec.in_channels, size, size};
  // An unpruned run's resolved config has no prune.block; with no masks the grid is moot.
  const json block = cfg["prune"].contains("block") ? cfg["prune"]["block"] : json::array({4, 1});
  saved.block = {block[0].get<int>(), block[1].get<int>()};
  if (masks != nullptr) {
    for (const auto& e : masks->entries()) saved.masks[e.name] = e.mask;
  }
  const std::string path = (fs::path(ctx.models_dir) / exporter::kFinalModelFile).string();
  ctx.require_lease();  // only the run's lease owner writes what the run keeps
  exporter::save_final_model(path, saved, model);
  log.info("final model saved to {}", path);
}

}  // namespace

std::string dense_baseline_key(const json& resolved) {
  json identity = {{"version", "dense-v1"},
                   {"data", resolved.at("data")},
                   {"model", resolved.at("model")},
                   {"train", resolved.at("train")}};
  for (const char* k : {"loader_threads", "cache"}) identity["data"].erase(k);
  for (const char* k : {"threads", "distributed"}) identity["train"].erase(k);
  return config::sha256_hex(identity.dump()).substr(0, 16);
}

results::RunResult TrainingExperiment::run(const json& cfg, const RunContext& ctx, spdlog::logger& log) {
  const auto run_start = std::chrono::steady_clock::now();
  const distributed::DistributedSettings dist_settings =
      distributed::settings_from_config(cfg["train"].value("distributed", json::object()));
  const int64_t threads =
      cfg["train"]["threads"].get<int64_t>() > 0 ? cfg["train"]["threads"].get<int64_t>() : default_train_threads();
  torch::set_num_threads(static_cast<int>(threads));
  std::unique_ptr<distributed::DistributedContext> dist;
  // Before the rendezvous: a setting every rank refuses must not leave the others waiting.
  check_data_parallel_data(cfg, data::Replica{dist_settings.rank, dist_settings.world_size});
  if (dist_settings.enabled()) {
    dist = std::make_unique<distributed::DistributedContext>(dist_settings, ctx.run_id);
    log.info("data parallel: rank {} of {} ({})", dist->rank(), dist->world_size(), dist_settings.rendezvous);
  }
  const bool root = dist == nullptr || dist->is_root();

  // Every rank reads only its share of each global batch (data::Replica). An image cache missing
  // on a shared path is built by the first rank to get there while the others wait for it
  // (data/image_cache.h).
  const data::Replica replica{dist_settings.rank, dist_settings.world_size};
  Data data = make_data(cfg, replica);
  // Seeded before construction: LibTorch draws the classifier's initial weights there.
  torch::manual_seed(cfg["train"]["seed"].get<int64_t>());
  const models::ModelSpec spec_of_model = model_spec(cfg, data);
  auto model = models::make_model(spec_of_model);
  models::init_conv_bn_linear(*model);
  const std::string pretrained = cfg["model"]["pretrained"];
  if (!pretrained.empty()) {
    // A classifier for another number of classes stays as initialised (fine-tuning on a subset).
    models::WeightImportOptions import;
    import.skip_classifier_on_class_mismatch = true;
    const auto report = models::import_weights(*model, pretrained, import);
    log.info("imported {} tensors from {} ({}), {} skipped", report.loaded.size(), pretrained,
             models::to_string(report.format), report.skipped.size());
  }
  if (dist != nullptr) dist->broadcast_parameters_and_buffers(*model);
  const json dense = obtain_dense_baseline(cfg, data, *model, ctx, log, dist.get());

  results::RunResult out;
  const json& p = cfg["prune"];
  const std::string method = p["method"];
  out.metrics.push_back({"dense.top1", 0, dense["final"]["top1"].get<double>()});
  out.metrics.push_back({"dense.top5", 0, dense["final"]["top5"].get<double>()});
  if (method == "none") {
    add_epoch_metrics(out, dense["epochs"], "dense.");
    add_stale_bn_metrics(out, dense["final"].value("before_bn_recalibration", json::object()));
    out.metrics.push_back({"top1", 0, dense["final"]["top1"].get<double>()});
    out.metrics.push_back({"top5", 0, dense["final"]["top5"].get<double>()});
    out.metrics.push_back({"test.loss", 0, dense["final"]["loss"].get<double>()});
    out.metrics.push_back({"sparsity", 0, 0.0});
    if (root) keep_final_model(ctx, cfg, spec_of_model, *model, nullptr, log);
    out.metrics.push_back({"seconds", 0, std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count()});
    return out;
  }

  // Pruning and fine-tuning, from the dense weights.
  const double target = p["sparsity"];
  const training::PruneSpec spec = prune_spec(p);
  const std::vector<models::PrunableLayer> layers = training::select_layers(*model, layer_filter(p));
  // Importance is recorded against the dense weights: at the last mask update the weights
  // outside the previous masks are already zero, so every method would seem to keep it all.
  std::vector<at::Tensor> dense_weights;
  for (const auto& l : layers) dense_weights.push_back(l.weight.detach().clone());
  const auto train_source = data.train(cfg["experiment"]["seed"].get<uint64_t>());
  const int64_t per_epoch = train_source->batches_per_epoch();
  // The phases: oneshot prunes once before fine-tuning; gmp ramps the sparsity over
  // ramp_epochs; admm trains with the penalty for admm_epochs. Then fine-tuning with fixed masks.
  const std::string schedule_name = p.at("schedule");
  const bool admm = schedule_name == "admm", oneshot = schedule_name == "oneshot";
  const auto steps_of = [&](double epochs) { return std::llround(epochs * static_cast<double>(per_epoch)); };
  const int64_t pre_steps = admm      ? p.at("admm_epochs").get<int64_t>() * per_epoch
                            : oneshot ? 0
                                      : steps_of(p.at("ramp_epochs"));
  const int64_t total = pre_steps + steps_of(p.at("finetune_epochs"));
  const int64_t epochs = training::epochs_for(total, per_epoch);

  json lr_cfg = cfg["train"];
  lr_cfg["lr"] = p["lr"];
  lr_cfg["lr_schedule"] = "cosine";
  lr_cfg["warmup_epochs"] = 0.0;
  training::LrScheduleParams lr_phases = lr_params(lr_cfg, total, per_epoch);
  // Fine-tuning after ADMM is a training of its own (a new cosine); after a GMP ramp it goes on
  // with the ramp's cosine, as pruning during training does.
  const std::string finetune_lr = p.value("finetune_lr", std::string("continue"));
  if (finetune_lr == "restart" || (finetune_lr == "auto" && admm)) lr_phases.restart_step = pre_steps;
  const training::LrSchedule lr(lr_phases);
  auto sgd = training::make_sgd(*model, sgd_settings(cfg["train"], p["lr"]));

  PruneState st;
  st.target_sparsity = -1;
  if (!admm && !oneshot && p.at("reselect") == "shadow") st.shadow.emplace(layers);
  const std::string ckpt_path = (fs::path(ctx.work_dir.empty() ? "." : ctx.work_dir) / "checkpoint.pt").string();
  int64_t start_epoch = 0;
  std::optional<training::Checkpoint> resumed;
  if (root) resumed = training::load_checkpoint(ckpt_path, *model, sgd.get());
  if (resumed) {
    const training::Checkpoint* c = &*resumed;
    if (c->meta.value("run_id", "") != ctx.run_id) {
      throw std::runtime_error("checkpoint " + ckpt_path + " belongs to run " + c->meta.value("run_id", "?") +
                               ", not " + ctx.run_id + "; delete it");
    }
    from_checkpoint(st, *c, layers);
    start_epoch = st.epochs.size();
    log.info("resuming after epoch {} from {}", start_epoch, ckpt_path);
  }
  if (dist != nullptr && (start_epoch = dist->broadcast_value(start_epoch)) > 0) {
    // Rank 0 resumed from its checkpoint: the others take its model, momentum, masks and ADMM state.
    dist->broadcast_parameters_and_buffers(*model);
    distributed::broadcast_momentum(*dist, *model, *sgd);
    if (dist->broadcast_value(static_cast<int64_t>(st.masks.size())) > 0 && !root) {
      std::vector<training::LayerMask> ones;
      for (const auto& l : layers) ones.push_back({at::ones_like(l.weight.detach()), {}});
      training::install_masks(st.masks, layers, ones);
    }
    if (st.masks.size() > 0) distributed::broadcast_masks(*dist, st.masks, *sgd);
    at::Tensor target_now = at::full({1}, st.target_sparsity, at::kDouble);
    dist->broadcast({target_now});
    st.target_sparsity = target_now.item<double>();
    if (dist->broadcast_value(static_cast<int64_t>(st.z.size())) > 0 && !root) {
      for (const auto& l : layers) {
        st.z.push_back(at::zeros_like(l.weight.detach()));
        st.u.push_back(at::zeros_like(l.weight.detach()));
      }
    }
    dist->broadcast(st.z);
    dist->broadcast(st.u);
    if (st.shadow) dist->broadcast(st.shadow->ranked());  // in place: the vector holds handles
  }

  // The schedule's hooks.
  training::LoopHooks hooks;
  int64_t current_step = 0;
  const double rho = admm ? p.at("rho").get<double>() : 0.0;

  // GMP with shadows ranks every weight by its last unpruned value and gives weights that a
  // new mask keeps again that value back (training/shadow_weights.h); otherwise the masked
  // weights are ranked as they are.
  auto select_on_weights = [&](double sparsity) {
    select_masks(st, layers, spec, *sgd, sparsity);
    if (dist != nullptr) distributed::broadcast_masks(*dist, st.masks, *sgd);
  };
  auto admm_projection = [&](std::vector<at::Tensor> x) {  // Z = Proj(x)
    const auto chosen = training::choose_masks(layers, x, spec, target);
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = x[i] * chosen[i].mask;
      st.selection_seconds += chosen[i].record.selection_seconds;
    }
    if (dist != nullptr) dist->broadcast(x);  // rank 0's projection for every rank
    return x;
  };
  if (admm) {
    if (start_epoch == 0 && pre_steps > 0) {
      st.z = admm_projection(weights_of(layers));
      for (const auto& z : st.z) st.u.push_back(at::zeros_like(z));
    }
    hooks.before_step = [&](int64_t step) {
      current_step = step;
      if (step == pre_steps) select_on_weights(target);  // hard prune with the final projection
      if (step >= pre_steps) training::set_weight_decay(*sgd, 0.0);  // fine-tuning: no decay
    };
    hooks.after_backward = [&] {
      if (current_step >= pre_steps) return;
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < layers.size(); ++i) {  // d/dW rho/2 ||W - Z + U||^2
        at::Tensor g = layers[i].weight.mutable_grad();
        if (g.defined()) g.add_(layers[i].weight.detach() - st.z[i] + st.u[i], rho);
      }
    };
    hooks.after_epoch_steps = [&](int64_t epoch) {
      if ((epoch + 1) * per_epoch > pre_steps) return;
      std::vector<at::Tensor> w_plus_u;
      for (size_t i = 0; i < layers.size(); ++i) w_plus_u.push_back(layers[i].weight.detach() + st.u[i]);
      st.z = admm_projection(w_plus_u);
      for (size_t i = 0; i < layers.size(); ++i) st.u[i] += layers[i].weight.detach() - st.z[i];
    };
  } else if (oneshot) {
    // The masks are chosen once, on the dense weights, before the first step.
    if (start_epoch == 0) select_on_weights(target);
  } else {
    algorithms::ScheduleParams sp;
    sp.kind = algorithms::schedule_kind_from_string(p.at("ramp"));
    sp.initial_sparsity = std::min(p.at("initial_sparsity").get<double>(), target);
    sp.final_sparsity = target;
    sp.start_step = 0;
    sp.end_step = pre_steps;
    const int64_t every = p.at("update_every");
    sp.every = p.at("update_unit") == "epoch" ? every * per_epoch : every;
    sp.power = p.at("power");
    hooks.before_step = [&, schedule = algorithms::SparsitySchedule(sp)](int64_t step) {
      if (schedule.mask_update_due(step)) select_on_weights(schedule.sparsity(step));
    };
  }
  hooks.masks = &st.masks;
  if (dist != nullptr) distributed::add_data_parallel_hooks(*dist, *model, hooks);
  hooks.epoch_done = [&](const training::EpochStats& s) {
    if (!root) return;
    json e = epoch_json(s);  // data parallel: totals of the global batches
    e["target_sparsity"] = std::max(0.0, st.target_sparsity);
    st.epochs.push_back(e);
    report_epoch(ctx, log, method, epochs, e);
    ctx.require_lease();  // only the run's lease owner writes its checkpoint
    training::save_checkpoint(ckpt_path, to_checkpoint(st, layers, ctx.run_id, cfg), *model,
                              sgd.get());
  };

  training::LoopSpec loop;
  loop.label = method;
  loop.total_steps = total;
  loop.start_epoch = start_epoch;
  loop.label_smoothing = cfg["train"]["label_smoothing"];
  loop.progress_bar = ctx.progress_bar;
  if (ctx.console && start_epoch < epochs) {
    ctx.console->info("  pruning with {} to {:.0f}% ({}, {} epochs)", method, 100 * target, schedule_name, epochs);
  }
  training::run_loop(*model, *sgd, lr, *train_source, *data.test, loop, hooks);

  // A schedule that ends with its last mask update (no fine-tuning steps) still ends pruned.
  if (st.target_sparsity != target) select_on_weights(target);
  const json stale = recalibrate_for_evaluation(*model, *train_source, epochs, cfg["train"]["bn_recalibration_batches"],
                                                *data.test, root);
  if (dist != nullptr) {
    dist->broadcast_buffers(*model);
    if (!root) return out;  // rank 0 reports the run
  }
  const training::EvalResult final_eval = training::evaluate(*model, *data.test);
  add_stale_bn_metrics(out, stale);

  add_epoch_metrics(out, st.epochs, "");
  out.layers = st.records;
  for (size_t i = 0; i < layers.size() && i < st.masks.entries().size(); ++i) {
    const training::KeptImportance kept =
        training::kept_importance(dense_weights[i], st.masks.entries()[i].mask, spec.norm);
    out.layers[i].retained_importance = kept.retained;
    out.layers[i].total_importance = kept.total;
  }
  training::EmptyChannels empty;
  for (const auto& e : st.masks.entries()) {
    const training::EmptyChannels layer = training::empty_channels(e.mask);
    empty.rows += layer.rows;
    empty.empty_rows += layer.empty_rows;
    empty.cols += layer.cols;
    empty.empty_cols += layer.empty_cols;
  }
  int64_t pruned_weights = 0, zeros = 0;
  for (const auto& l : layers) {
    pruned_weights += l.weight.numel();
    zeros += (l.weight.detach() == 0).sum().item<int64_t>();
  }
  keep_final_model(ctx, cfg, spec_of_model, *model, &st.masks, log);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  out.metrics.push_back({"top1", 0, 100 * final_eval.top1});
  out.metrics.push_back({"top5", 0, 100 * final_eval.top5});
  out.metrics.push_back({"test.loss", 0, final_eval.loss});
  out.metrics.push_back({"sparsity", 0, pruned_weights ? static_cast<double>(zeros) / pruned_weights : 0.0});
  out.metrics.push_back({"pruned_layers", 0, static_cast<double>(layers.size())});
  out.metrics.push_back({"selection.seconds", 0, st.selection_seconds});
  out.metrics.push_back({"revived_weights", 0, static_cast<double>(st.revived_weights)});
  if (empty.rows > 0) {
    out.metrics.push_back({"empty_output_channels", 0, static_cast<double>(empty.empty_rows) / empty.rows});
    out.metrics.push_back({"empty_input_channels", 0, static_cast<double>(empty.empty_cols) / empty.cols});
  }
  out.metrics.push_back({"seconds", 0, seconds});
  log.info("{} at {:.0f}%: top-1 {:.2f}% (dense {:.2f}%)", method, 100 * target, 100 * final_eval.top1,
           dense["final"]["top1"].get<double>());
  return out;
}

}  // namespace ubp::experiments

#include "experiments/training_experiment.h"

#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "experiments/training/dense_baseline.h"
#include "experiments/training/epoch_records.h"
#include "experiments/training/prune_schedules.h"
#include "experiments/training/run_outputs.h"
#include "experiments/training/training_data.h"
#include "models/weights_import.h"
#include "training/train_step.h"
#include "ubp/results/metric_names.h"

namespace ubp::experiments {

namespace fs = std::filesystem;
namespace metric = results::metric;
using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Rank 0 resumed from its checkpoint: the others take its model, momentum, masks, target and
// ADMM state.
void share_resumed_state(distributed::DistributedContext& dist, bool root, models::Classifier& model,
                         torch::optim::SGD& sgd, PruneState& st, const std::vector<models::PrunableLayer>& layers) {
  dist.broadcast_parameters_and_buffers(model);
  distributed::broadcast_momentum(dist, model, sgd);
  if (dist.broadcast_value(static_cast<int64_t>(st.masks.size())) > 0 && !root) {
    std::vector<training::LayerMask> ones;
    for (const auto& l : layers) ones.push_back({at::ones_like(l.weight.detach()), {}});
    training::install_masks(st.masks, layers, ones);
  }
  if (st.masks.size() > 0) distributed::broadcast_masks(dist, st.masks, sgd);
  at::Tensor target_now = at::full({1}, st.target_sparsity, at::kDouble);
  dist.broadcast({target_now});
  st.target_sparsity = target_now.item<double>();
  if (dist.broadcast_value(static_cast<int64_t>(st.z.size())) > 0 && !root) {
    for (const auto& l : layers) {
      st.z.push_back(at::zeros_like(l.weight.detach()));
      st.u.push_back(at::zeros_like(l.weight.detach()));
    }
  }
  dist.broadcast(st.z);
  dist.broadcast(st.u);
  if (st.shadow) dist.broadcast(st.shadow->ranked());  // in place: the vector holds handles
}

// The pruning phase and fine-tuning from the dense weights in `model`; appends their metrics.
void prune_and_finetune(const settings::TrainingSettings& s, TrainingData& data, models::Classifier& model,
                        const models::ModelSpec& model_spec, const RunContext& ctx, spdlog::logger& log,
                        distributed::DistributedContext* dist, results::RunResult& out) {
  const bool root = dist == nullptr || dist->is_root();
  const settings::PruneSettings& p = s.prune;
  const training::PruneSpec spec = prune_spec(p);
  const std::vector<models::PrunableLayer> layers = training::select_layers(model, layer_filter(p));
  // Importance is recorded against the dense weights: at the last mask update the weights
  // outside the previous masks are already zero, so every method would seem to keep it all.
  std::vector<at::Tensor> dense_weights;
  for (const auto& l : layers) dense_weights.push_back(l.weight.detach().clone());
  const auto train_source = data.train(s.experiment.seed);
  const int64_t per_epoch = train_source->batches_per_epoch();
  const std::unique_ptr<PruneSchedule> schedule = make_prune_schedule(p, per_epoch);
  const int64_t pre_steps = schedule->pruning_steps();
  const int64_t total = pre_steps + std::llround(p.finetune_epochs * static_cast<double>(per_epoch));
  const int64_t epochs = training::epochs_for(total, per_epoch);

  // One cosine from prune.lr over both phases; fine-tuning restarts it when asked (ADMM's
  // fine-tuning is a training of its own), else it goes on as pruning during training does.
  settings::TrainSettings phases = s.train;
  phases.lr = p.lr;
  phases.lr_schedule = "cosine";
  phases.warmup_epochs = 0.0;
  training::LrScheduleParams lr_phases = lr_params(phases, total, per_epoch);
  if (p.finetune_lr == "restart" || (p.finetune_lr == "auto" && schedule->restarts_by_default())) {
    lr_phases.restart_step = pre_steps;
  }
  const training::LrSchedule lr(lr_phases);
  auto sgd = training::make_sgd(model, sgd_settings(s.train, p.lr));

  PruneState st;
  if (p.schedule == settings::PruneSchedule::kGmp && p.reselect == "shadow") st.shadow.emplace(layers);
  const std::string ckpt_path = (fs::path(ctx.work_dir.empty() ? "." : ctx.work_dir) / "checkpoint.pt").string();
  int64_t start_epoch = 0;
  std::optional<training::Checkpoint> resumed;
  if (root) resumed = training::load_checkpoint(ckpt_path, model, sgd.get());
  if (resumed) {
    if (resumed->meta.value("run_id", "") != ctx.run_id) {
      throw std::runtime_error("checkpoint " + ckpt_path + " belongs to run " + resumed->meta.value("run_id", "?") +
                               ", not " + ctx.run_id + "; delete it");
    }
    from_checkpoint(st, *resumed, layers);
    start_epoch = st.epochs.size();
    log.info("resuming after epoch {} from {}", start_epoch, ckpt_path);
  }
  if (dist != nullptr && (start_epoch = dist->broadcast_value(start_epoch)) > 0) {
    share_resumed_state(*dist, root, model, *sgd, st, layers);
  }

  PruningRun pruning{layers, spec, *sgd, st, dist, p.sparsity, per_epoch};
  training::LoopHooks hooks;
  schedule->attach(pruning, hooks, start_epoch);
  hooks.masks = &st.masks;
  if (dist != nullptr) distributed::add_data_parallel_hooks(*dist, model, hooks);
  hooks.epoch_done = [&](const training::EpochStats& stats) {
    if (!root) return;
    json e = epoch_json(stats);  // data parallel: totals of the global batches
    e["target_sparsity"] = std::max(0.0, st.target_sparsity);
    st.epochs.push_back(e);
    report_epoch(ctx, log, p.method, epochs, e);
    ctx.require_lease();  // only the run's lease owner writes its checkpoint
    training::save_checkpoint(ckpt_path, to_checkpoint(st, layers, ctx.run_id, s.resolved), model, sgd.get());
  };

  training::LoopSpec loop;
  loop.label = p.method;
  loop.total_steps = total;
  loop.start_epoch = start_epoch;
  loop.label_smoothing = s.train.label_smoothing;
  loop.progress_bar = ctx.progress_bar;
  if (ctx.console && start_epoch < epochs) {
    ctx.console->info("  pruning with {} to {:.0f}% ({}, {} epochs)", p.method, 100 * p.sparsity, p.schedule_name,
                      epochs);
  }
  training::run_loop(model, *sgd, lr, *train_source, *data.test, loop, hooks);

  // A schedule that ends with its last mask update (no fine-tuning steps) still ends pruned.
  if (st.target_sparsity != p.sparsity) pruning.select(p.sparsity);
  const json stale = recalibrate_for_evaluation(model, *train_source, epochs, s.train.bn_recalibration_batches,
                                                *data.test, root);
  if (dist != nullptr) {
    dist->broadcast_buffers(model);
    if (!root) return;  // rank 0 reports the run
  }
  const training::EvalResult final_eval = training::evaluate(model, *data.test);
  add_stale_bn_metrics(out, stale);
  add_epoch_metrics(out, st.epochs, "");
  keep_final_model(ctx, s, model_spec, model, &st.masks, log);
  out.metrics.push_back({metric::kTop1, 0, 100 * final_eval.top1});
  out.metrics.push_back({metric::kTop5, 0, 100 * final_eval.top5});
  out.metrics.push_back({metric::kTestLoss, 0, final_eval.loss});
  record_pruned_model(out, st, layers, dense_weights, spec.norm);
  log.info("{} at {:.0f}%: top-1 {:.2f}%", p.method, 100 * p.sparsity, 100 * final_eval.top1);
}

}  // namespace

results::RunResult TrainingExperiment::run(const json& resolved, const RunContext& ctx, spdlog::logger& log) {
  return run(settings::read_training_settings(resolved), ctx, log);
}

results::RunResult TrainingExperiment::run(const settings::TrainingSettings& s, const RunContext& ctx,
                                           spdlog::logger& log) {
  const auto run_start = std::chrono::steady_clock::now();
  const distributed::DistributedSettings dist_settings = distributed::resolve_world(s.distributed);
  torch::set_num_threads(static_cast<int>(training_threads(s.train)));
  // Before the rendezvous: a setting every rank refuses must not leave the others waiting.
  // Every rank reads only its share of each global batch (data::Replica).
  const data::Replica replica{dist_settings.rank, dist_settings.world_size};
  check_data_parallel_settings(s, replica);
  std::unique_ptr<distributed::DistributedContext> dist;
  if (dist_settings.enabled()) {
    dist = std::make_unique<distributed::DistributedContext>(dist_settings, ctx.run_id);
    log.info("data parallel: rank {} of {} ({})", dist->rank(), dist->world_size(), dist_settings.rendezvous);
  }
  const bool root = dist == nullptr || dist->is_root();

  // An image cache missing on a shared path is built by the first rank to get there while the
  // others wait for it (data/image_cache.h).
  TrainingData data = make_training_data(s.data, s.train.batch_size, replica);
  // Seeded before construction: LibTorch draws the classifier's initial weights there.
  torch::manual_seed(s.train.seed);
  models::ModelSpec model_spec;
  model_spec.name = s.model.name;
  model_spec.width = s.model.width;
  model_spec.small_input = s.model.small_input;
  model_spec.num_classes = data.num_classes;
  model_spec.in_channels = data.in_channels;
  auto model = models::make_model(model_spec);
  models::init_conv_bn_linear(*model);
  if (!s.model.pretrained.empty()) {
    // A classifier for another number of classes stays as initialised (fine-tuning on a subset).
    models::WeightImportOptions import;
    import.skip_classifier_on_class_mismatch = true;
    const auto report = models::import_weights(*model, s.model.pretrained, import);
    log.info("imported {} tensors from {} ({}), {} skipped", report.loaded.size(), s.model.pretrained,
             models::to_string(report.format), report.skipped.size());
  }
  if (dist != nullptr) dist->broadcast_parameters_and_buffers(*model);
  const json dense = obtain_dense_baseline(s, data, *model, ctx, log, dist.get());

  results::RunResult out;
  out.metrics.push_back({metric::kDenseTop1, 0, dense["final"]["top1"].get<double>()});
  out.metrics.push_back({metric::kDenseTop5, 0, dense["final"]["top5"].get<double>()});
  if (s.prune.prunes()) {
    prune_and_finetune(s, data, *model, model_spec, ctx, log, dist.get(), out);
    if (!root) return out;
  } else {
    add_epoch_metrics(out, dense["epochs"], metric::kDensePrefix);
    add_stale_bn_metrics(out, dense["final"].value("before_bn_recalibration", json::object()));
    out.metrics.push_back({metric::kTop1, 0, dense["final"]["top1"].get<double>()});
    out.metrics.push_back({metric::kTop5, 0, dense["final"]["top5"].get<double>()});
    out.metrics.push_back({metric::kTestLoss, 0, dense["final"]["loss"].get<double>()});
    out.metrics.push_back({metric::kSparsity, 0, 0.0});
    if (root) keep_final_model(ctx, s, model_spec, *model, nullptr, log);
  }
  out.metrics.push_back({metric::kSeconds, 0, seconds_since(run_start)});
  return out;
}

UBP_REGISTER_EXPERIMENT("training", TrainingExperiment);

}  // namespace ubp::experiments

#include "experiments/training/prune_schedules.h"

#include <algorithm>
#include <cmath>

#include "ubp/algorithms/schedule.h"

namespace ubp::experiments {

void PruningRun::select(double sparsity) {
  select_masks(state, layers, spec, sgd, sparsity);
  if (dist != nullptr) distributed::broadcast_masks(*dist, state.masks, sgd);
}

namespace {

int64_t steps_of(double epochs, int64_t steps_per_epoch) {
  return std::llround(epochs * static_cast<double>(steps_per_epoch));
}

// The masks are chosen once, on the dense weights, before the first step.
class OneShot : public PruneSchedule {
 public:
  int64_t pruning_steps() const override { return 0; }
  void attach(PruningRun& run, training::LoopHooks&, int64_t start_epoch) override {
    if (start_epoch == 0) run.select(run.target);
  }
};

// Gradual magnitude pruning: the sparsity ramps over prune.ramp_epochs, the masks re-selected
// every prune.update_every steps or epochs. With shadows (prune.reselect: shadow) every weight
// is ranked by its last unpruned value and weights a new mask keeps again get it back
// (training/shadow_weights.h); otherwise the masked weights are ranked as they are.
class Gmp : public PruneSchedule {
 public:
  Gmp(const settings::PruneSettings& prune, int64_t per_epoch) : prune_(prune), per_epoch_(per_epoch) {}
  int64_t pruning_steps() const override { return steps_of(prune_.ramp_epochs, per_epoch_); }
  void attach(PruningRun& run, training::LoopHooks& hooks, int64_t) override {
    algorithms::ScheduleParams sp;
    sp.kind = algorithms::schedule_kind_from_string(prune_.ramp);
    sp.initial_sparsity = std::min(prune_.initial_sparsity, run.target);
    sp.final_sparsity = run.target;
    sp.start_step = 0;
    sp.end_step = pruning_steps();
    sp.every = prune_.update_unit == "epoch" ? prune_.update_every * per_epoch_ : prune_.update_every;
    sp.power = prune_.power;
    hooks.before_step = [&run, schedule = algorithms::SparsitySchedule(sp)](int64_t step) {
      if (schedule.mask_update_due(step)) run.select(schedule.sparsity(step));
    };
  }

 private:
  settings::PruneSettings prune_;
  int64_t per_epoch_;
};

// ADMM: the penalty's gradient after every backward, Z = Proj(W + U) and U += W - Z after every
// epoch of the pruning phase, then a hard prune with the final projection and fine-tuning
// without weight decay.
class Admm : public PruneSchedule {
 public:
  Admm(const settings::PruneSettings& prune, int64_t per_epoch)
      : pre_steps_(prune.admm_epochs * per_epoch), rho_(prune.rho), per_epoch_(per_epoch) {}
  int64_t pruning_steps() const override { return pre_steps_; }
  bool restarts_by_default() const override { return true; }

  void attach(PruningRun& run, training::LoopHooks& hooks, int64_t start_epoch) override {
    PruneState& st = run.state;
    if (start_epoch == 0 && pre_steps_ > 0) {
      std::vector<at::Tensor> weights;
      for (const auto& l : run.layers) weights.push_back(l.weight.detach());
      st.z = project(run, std::move(weights));
      for (const auto& z : st.z) st.u.push_back(at::zeros_like(z));
    }
    hooks.before_step = [this, &run](int64_t step) {
      current_step_ = step;
      if (step == pre_steps_) run.select(run.target);  // hard prune with the final projection
      if (step >= pre_steps_) training::set_weight_decay(run.sgd, 0.0);  // fine-tuning: no decay
    };
    hooks.after_backward = [this, &run] {
      if (current_step_ >= pre_steps_) return;
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < run.layers.size(); ++i) {  // d/dW rho/2 ||W - Z + U||^2
        at::Tensor g = run.layers[i].weight.mutable_grad();
        if (g.defined()) g.add_(run.layers[i].weight.detach() - run.state.z[i] + run.state.u[i], rho_);
      }
    };
    hooks.after_epoch_steps = [this, &run](int64_t epoch) {
      if ((epoch + 1) * per_epoch_ > pre_steps_) return;
      PruneState& state = run.state;
      std::vector<at::Tensor> w_plus_u;
      for (size_t i = 0; i < run.layers.size(); ++i) w_plus_u.push_back(run.layers[i].weight.detach() + state.u[i]);
      state.z = project(run, w_plus_u);
      for (size_t i = 0; i < run.layers.size(); ++i) state.u[i] += run.layers[i].weight.detach() - state.z[i];
    };
  }

 private:
  // Z = Proj(x): x with the blocks the selector keeps at the target sparsity, zero elsewhere.
  static std::vector<at::Tensor> project(PruningRun& run, std::vector<at::Tensor> x) {
    const auto chosen = training::choose_masks(run.layers, x, run.spec, run.target);
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = x[i] * chosen[i].mask;
      run.state.selection_seconds += chosen[i].record.selection_seconds;
    }
    if (run.dist != nullptr) run.dist->broadcast(x);  // rank 0's projection for every rank
    return x;
  }

  int64_t pre_steps_;
  double rho_;
  int64_t per_epoch_;
  int64_t current_step_ = 0;
};

}  // namespace

std::unique_ptr<PruneSchedule> make_prune_schedule(const settings::PruneSettings& prune, int64_t steps_per_epoch) {
  switch (prune.schedule) {
    case settings::PruneSchedule::kOneshot: return std::make_unique<OneShot>();
    case settings::PruneSchedule::kAdmm: return std::make_unique<Admm>(prune, steps_per_epoch);
    case settings::PruneSchedule::kGmp: break;
  }
  return std::make_unique<Gmp>(prune, steps_per_epoch);
}

}  // namespace ubp::experiments

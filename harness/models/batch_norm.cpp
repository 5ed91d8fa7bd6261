#include "models/batch_norm.h"

#include <torch/autograd.h>

#include <cstdint>
#include <ostream>
#include <vector>

template <>
void torch::nn::BatchNormImplBase<2, torch::nn::BatchNorm2dImpl>::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "torch::nn::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=";
  if (options.momentum().has_value()) {
    stream << options.momentum().value();
  } else {
    stream << "None";
  }
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats() << ")";
}

namespace ubp::models {

namespace {

// Sum over the processes, differentiable: the forward sums a copy of the input, the backward
// sums the incoming gradient (d(sum over processes of the losses) / d(local input) is the sum of
// the processes' gradients with respect to the all-reduced output). The graph holds the sync by
// address; it lives at least as long as the training step that runs forward and backward.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, int64_t sync_address) {
    ctx->saved_data["sync"] = sync_address;
    ctx->saved_data["numel"] = input.numel();
    at::Tensor sum = input.detach().contiguous().clone();
    reinterpret_cast<BatchNormSync*>(sync_address)->all_reduce_sum(sum);
    return sum;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* sync = reinterpret_cast<BatchNormSync*>(ctx->saved_data["sync"].toInt());
    at::Tensor grad = grads[0].defined() ? grads[0].contiguous().clone() : at::Tensor();
    // Every process takes part even if its gradient is undefined (then zeros).
    if (!grad.defined()) grad = at::zeros({ctx->saved_data["numel"].toInt()});
    sync->all_reduce_sum(grad);
    return {grad, at::Tensor()};
  }
};

}  // namespace

bool SyncBatchNorm2dImpl::synchronising() const {
  const auto sync = sync_.lock();
  return is_training() && sync != nullptr && sync->world_size() > 1;
}

at::Tensor SyncBatchNorm2dImpl::forward(const at::Tensor& input) {
  const std::shared_ptr<BatchNormSync> sync = sync_.lock();
  if (!is_training() || sync == nullptr || sync->world_size() < 2) return torch::nn::BatchNorm2dImpl::forward(input);
  _check_input_dim(input);

  // The running-average factor, as BatchNormImplBase::forward chooses it.
  double factor = options.momentum().value_or(0.0);
  const bool track = options.track_running_stats() && running_mean.defined();
  if (track && num_batches_tracked.defined()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked += 1;
    if (!options.momentum().has_value()) factor = 1.0 / num_batches_tracked.item<double>();
  }

  const int64_t channels = input.size(1);
  const double local_count = static_cast<double>(input.numel() / channels);
  const std::vector<int64_t> reduce{0, 2, 3};
  at::Tensor local = at::cat({input.sum(reduce), input.square().sum(reduce), at::full({1}, local_count, input.options())});
  const at::Tensor global = AllReduceSum::apply(local, reinterpret_cast<int64_t>(sync.get()));
  const double count = global[2 * channels].item<double>();
  const at::Tensor mean = global.narrow(0, 0, channels) / count;
  // Biased variance E[x^2] - E[x]^2 (clamped: rounding can take it a hair below zero).
  const at::Tensor var = (global.narrow(0, channels, channels) / count - mean.square()).clamp_min(0);

  if (track) {
    torch::NoGradGuard no_grad;
    running_mean.mul_(1 - factor).add_(mean.detach(), factor);
    running_var.mul_(1 - factor).add_(var.detach() * (count / (count - 1)), factor);
  }

  const std::vector<int64_t> shape{1, channels, 1, 1};
  at::Tensor scale = (var + options.eps()).rsqrt();
  if (weight.defined()) scale = scale * weight;
  at::Tensor out = (input - mean.view(shape)) * scale.view(shape);
  if (bias.defined()) out = out + bias.view(shape);
  return out;
}

int set_batch_norm_sync(torch::nn::Module& model, const std::shared_ptr<BatchNormSync>& sync) {
  int installed = 0;
  for (const auto& m : model.modules(/*include_self=*/true)) {
    if (auto* bn = m->as<SyncBatchNorm2dImpl>()) {
      bn->set_sync(sync);
      ++installed;
    }
  }
  return installed;
}

}  // namespace ubp::models

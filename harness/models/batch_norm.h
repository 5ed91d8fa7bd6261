// Batch norm that can normalise with the statistics of the global batch of data-parallel
// training (synchronised batch norm, as PyTorch's SyncBatchNorm). The models use it in place of
// torch::nn::BatchNorm2d: it is a BatchNorm2dImpl (same options, parameters and buffers, so
// state dicts, torchvision imports, checkpoints and the packed export see a BatchNorm2d), and
// only its forward differs, and only while a synchronisation is installed, in training mode,
// with more than one process. Otherwise it calls BatchNorm2dImpl::forward: single-process
// results are bitwise those of torch::nn::BatchNorm2d.
//
// Synchronised forward: per channel the local sum, sum of squares and element count are summed
// over the processes by one all-reduce that autograd differentiates (its backward all-reduces
// the incoming gradient), giving the global mean and biased variance that normalise the slice.
// The running statistics follow the global batch as PyTorch's BatchNorm does (momentum, or the
// cumulative average without one; unbiased variance n / (n - 1); num_batches_tracked + 1). With
// the gradients then averaged over the W processes, every process gets the gradient of the
// global batch's mean loss. Every process must run the same synchronised forwards and backwards
// in the same order (the data-parallel training step does).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/pimpl.h>

#include <memory>

#include <ostream>

// LibTorch defines this member in its library without exporting it, but a class derived from
// BatchNorm2dImpl (which has Module as a virtual base) needs it in its construction vtables:
// the definition (the same text as LibTorch's) is in batch_norm.cpp.
namespace torch::nn {
template <>
void BatchNormImplBase<2, BatchNorm2dImpl>::pretty_print(std::ostream& stream) const;
}  // namespace torch::nn

namespace ubp::models {

// What a synchronised batch norm needs from the processes training together.
class BatchNormSync {
 public:
  virtual ~BatchNormSync() = default;
  virtual int world_size() const = 0;
  // Replaces the contiguous tensor `t` with the sum over the processes of their `t` (same shape
  // on every process); the same result, bitwise, on every process.
  virtual void all_reduce_sum(at::Tensor& t) = 0;
};

class SyncBatchNorm2dImpl : public torch::nn::BatchNorm2dImpl {
 public:
  explicit SyncBatchNorm2dImpl(const torch::nn::BatchNormOptions& options) : torch::nn::BatchNorm2dImpl(options) {}
  // Hides BatchNorm2dImpl::forward (not virtual): the models call it through SyncBatchNorm2d.
  at::Tensor forward(const at::Tensor& input);
  // The module holds the synchronisation weakly: once its owner is gone it is plain batch norm.
  void set_sync(std::weak_ptr<BatchNormSync> sync) { sync_ = std::move(sync); }
  // Whether a forward now would synchronise (training mode, an installed sync, 2+ processes).
  bool synchronising() const;

 private:
  std::weak_ptr<BatchNormSync> sync_;
};
TORCH_MODULE(SyncBatchNorm2d);

// Installs `sync` (nullptr: removes it) on every SyncBatchNorm2d in `model`; returns how many.
int set_batch_norm_sync(torch::nn::Module& model, const std::shared_ptr<BatchNormSync>& sync);

}  // namespace ubp::models

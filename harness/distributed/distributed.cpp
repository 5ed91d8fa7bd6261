// The c10d headers guard the Gloo process group behind this macro (LibTorch's own build defines
// it); Debian's libtorch_cpu.so exports ProcessGroupGloo, so defining it here is all we need.
#define USE_C10D_GLOO 1

#include "distributed/distributed.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>

namespace ubp::distributed {

namespace {

int env_int(const char* name, const char* key) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::invalid_argument(std::string(key) + " is 0 (take the world from Slurm) but " + name +
                                " is not set: start the workers with srun, or give world_size and rank");
  }
  return std::atoi(value);
}

// One store per rendezvous for the whole process: a TCP store's port stays bound by rank 0, and
// a file store's file stays valid, across the successive runs of a sweep (each run's group
// lives under its own prefix).
c10::intrusive_ptr<c10d::Store> shared_store(const DistributedSettings& s) {
  static std::mutex mutex;
  static std::map<std::string, c10::intrusive_ptr<c10d::Store>> stores;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = stores.find(s.rendezvous);
  if (it != stores.end()) return it->second;
  c10::intrusive_ptr<c10d::Store> store;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(s.timeout_seconds * 1000));
  if (s.rendezvous.rfind("file:", 0) == 0 && s.rendezvous.size() > 5) {
    store = c10::make_intrusive<c10d::FileStore>(s.rendezvous.substr(5), s.world_size);
  } else if (s.rendezvous.rfind("tcp:", 0) == 0 && s.rendezvous.find(':', 4) != std::string::npos) {
    const size_t colon = s.rendezvous.rfind(':');
    const std::string host = s.rendezvous.substr(4, colon - 4);
    const int port = std::atoi(s.rendezvous.c_str() + colon + 1);
    if (host.empty() || port <= 0 || port > 65535) {
      throw std::invalid_argument("train.distributed.rendezvous '" + s.rendezvous +
                                  "': expected tcp:HOST:PORT with a port in 1..65535");
    }
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(port);
    options.isServer = s.rank == 0;
    options.numWorkers = s.world_size;
    options.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(host, options);
  } else {
    throw std::invalid_argument("train.distributed.rendezvous '" + s.rendezvous +
                                "': expected file:PATH (a file every process can reach) or tcp:HOST:PORT");
  }
  store->setTimeout(timeout);
  stores.emplace(s.rendezvous, store);
  return store;
}

// Every tensor of the module that has to match across ranks, in the same order on every rank.
std::vector<at::Tensor> parameters_and_buffers(torch::nn::Module& model) {
  std::vector<at::Tensor> out;
  for (const auto& p : model.parameters()) out.push_back(p);
  for (const auto& b : model.buffers()) out.push_back(b);
  return out;
}

}  // namespace

struct DistributedContext::Group {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
};

namespace {

class ContextBatchNormSync : public models::BatchNormSync {
 public:
  explicit ContextBatchNormSync(DistributedContext& context) : context_(context) {}
  int world_size() const override { return context_.world_size(); }
  void all_reduce_sum(at::Tensor& t) override { context_.all_reduce_sum(t); }

 private:
  DistributedContext& context_;
};

}  // namespace

DistributedSettings resolve_world(DistributedSettings s) {
  if (s.world_size == 0) {
    s.world_size = env_int("SLURM_NTASKS", "train.distributed.world_size");
    s.rank = env_int("SLURM_PROCID", "train.distributed.world_size");
  }
  if (s.world_size < 1) {
    throw std::invalid_argument("train.distributed.world_size is " + std::to_string(s.world_size) +
                                ": accepted are 1 (off), 2 or more processes, or 0 (from Slurm)");
  }
  if (s.rank < 0 || s.rank >= s.world_size) {
    throw std::invalid_argument("train.distributed.rank is " + std::to_string(s.rank) + ": it must be in 0.." +
                                std::to_string(s.world_size - 1) + " for world_size " +
                                std::to_string(s.world_size));
  }
  if (s.enabled() && s.rendezvous.empty()) {
    throw std::invalid_argument("train.distributed.rendezvous is empty but world_size is " +
                                std::to_string(s.world_size) + ": give file:PATH or tcp:HOST:PORT");
  }
  return s;
}

DistributedContext::DistributedContext(const DistributedSettings& s, const std::string& scope)
    : group_(std::make_unique<Group>()),
      rank_(s.rank),
      world_size_(s.world_size),
      sync_batch_norm_(s.sync_batch_norm),
      batch_norm_sync_(std::make_shared<ContextBatchNormSync>(*this)) {
  auto store = c10::make_intrusive<c10d::PrefixStore>(scope + "/", shared_store(s));
  auto options = c10d::ProcessGroupGloo::Options::create(
      std::chrono::milliseconds(static_cast<int64_t>(s.timeout_seconds * 1000)));
  options->devices.push_back(s.interface.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                                 : c10d::ProcessGroupGloo::createDeviceForInterface(s.interface));
  // One Gloo worker thread: collectives are issued one at a time and waited for.
  options->threads = 1;
  group_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, s.rank, s.world_size, options);
}

DistributedContext::~DistributedContext() = default;

void DistributedContext::broadcast(const std::vector<at::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    // Gloo broadcasts contiguous tensors; a parameter is one, a strided view is copied back.
    std::vector<at::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
    group_->gloo->broadcast(one)->wait();
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

int64_t DistributedContext::broadcast_value(int64_t value) {
  at::Tensor t = at::full({1}, value, at::kLong);
  broadcast({t});
  return t.item<int64_t>();
}

void DistributedContext::broadcast_parameters_and_buffers(torch::nn::Module& model) {
  broadcast(parameters_and_buffers(model));
}

void DistributedContext::broadcast_buffers(torch::nn::Module& model) { broadcast(model.buffers()); }

void DistributedContext::average_gradients(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  std::vector<at::Tensor> grads;
  for (const auto& p : model.parameters()) {
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  }
  // Buckets in parameter order, each at most bucket_bytes (a larger tensor gets its own): one
  // all-reduce per bucket instead of one per tensor, without one copy of the whole model.
  size_t first = 0;
  while (first < grads.size()) {
    size_t last = first;
    int64_t bytes = 0;
    while (last < grads.size() &&
           (last == first || bytes + grads[last].numel() * grads[last].element_size() <= bucket_bytes)) {
      bytes += grads[last].numel() * grads[last].element_size();
      ++last;
    }
    std::vector<at::Tensor> flat_parts;
    for (size_t i = first; i < last; ++i) flat_parts.push_back(grads[i].reshape({-1}));
    std::vector<at::Tensor> bucket{at::cat(flat_parts)};
    group_->gloo->allreduce(bucket)->wait();
    bucket[0].div_(world_size_);
    int64_t offset = 0;
    for (size_t i = first; i < last; ++i) {
      const int64_t n = grads[i].numel();
      grads[i].copy_(bucket[0].narrow(0, offset, n).view(grads[i].sizes()));
      offset += n;
    }
    first = last;
  }
  allreduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++allreduce_calls_;
}

void DistributedContext::barrier() { group_->gloo->barrier()->wait(); }

void DistributedContext::all_reduce_sum(at::Tensor& t) {
  std::vector<at::Tensor> one{t};
  group_->gloo->allreduce(one)->wait();
}

void DistributedContext::synchronise_batch_norm(torch::nn::Module& model) {
  models::set_batch_norm_sync(model, batch_norm_sync_);
}

void broadcast_masks(DistributedContext& context, const training::MaskSet& masks, torch::optim::SGD& optimizer) {
  std::vector<at::Tensor> tensors;
  for (const auto& e : masks.entries()) tensors.push_back(e.mask);
  context.broadcast(tensors);
  masks.apply_to_weights();
  masks.apply_to_momentum(optimizer);
}

void broadcast_momentum(DistributedContext& context, torch::nn::Module& model, torch::optim::SGD& optimizer) {
  torch::NoGradGuard no_grad;
  auto& state = optimizer.state();
  std::vector<at::Tensor> buffers;
  for (const auto& p : model.parameters()) {
    const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
    auto it = state.find(key);
    if (it == state.end()) {
      auto fresh = std::make_unique<torch::optim::SGDParamState>();
      fresh->momentum_buffer(at::zeros_like(p));
      it = state.emplace(key, std::move(fresh)).first;
    }
    auto& s = static_cast<torch::optim::SGDParamState&>(*it->second);
    if (!s.momentum_buffer().defined()) s.momentum_buffer(at::zeros_like(p));
    buffers.push_back(s.momentum_buffer());
  }
  context.broadcast(buffers);
}

void add_data_parallel_hooks(DistributedContext& context, torch::nn::Module& model, training::LoopHooks& hooks) {
  hooks.reduce_gradients = [&context, &model] { context.average_gradients(model); };
  hooks.before_evaluation = [&context, &model] { context.broadcast_buffers(model); };
  hooks.evaluate = context.is_root();
  hooks.reduce_train_totals = [&context](training::TrainTotals& totals) {
    // Summed in float64: the counts stay exact far beyond any epoch's size.
    at::Tensor sums = at::tensor({totals.loss_sum, static_cast<double>(totals.correct),
                                  static_cast<double>(totals.seen)}, at::kDouble);
    context.all_reduce_sum(sums);
    const auto* s = sums.data_ptr<double>();
    totals.loss_sum = s[0] / context.world_size();  // equal slices: the mean of their means
    totals.correct = static_cast<int64_t>(std::llround(s[1]));
    totals.seen = static_cast<int64_t>(std::llround(s[2]));
  };
  if (context.sync_batch_norm()) context.synchronise_batch_norm(model);
}

}  // namespace ubp::distributed

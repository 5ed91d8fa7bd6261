// Data-parallel training (distributed/distributed.h) with real processes: the test binary starts
// itself twice as rank 0 and rank 1 (the DistributedWorker tests, which do nothing unless the
// UBP_DDP_* variables are set), the two meet on loopback through Gloo, train a tiny MobileNetV1
// with masks, and the parent compares their weights with one process doing the same steps.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "distributed/distributed.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "tiny_mobilenet.h"
#include "training/checkpoint.h"
#include "training/pruner.h"
#include "training/trainer.h"

namespace ubp::distributed {
namespace {

constexpr int64_t kGlobalBatch = 16;
constexpr int64_t kSteps = 6;  // two epochs of 64 images
constexpr double kLr = 0.05;
constexpr uint64_t kInitSeed = 3;
// (step, sparsity): masks chosen before these steps, the second on trained weights.
const std::pair<int64_t, double> kMaskUpdates[] = {{0, 0.5}, {3, 0.75}};

data::TensorDataset tiny_data() {
  data::SyntheticOptions so;
  so.num_samples = 64;
  so.image_size = 28;
  so.seed = 5;
  return data::make_synthetic(so);
}

std::unique_ptr<torch::optim::SGD> tiny_sgd(torch::nn::Module& model) {
  training::SgdSettings s;
  s.lr = kLr;
  return training::make_sgd(model, s);
}

void choose_and_install(training::MaskSet& masks, const std::vector<models::PrunableLayer>& layers,
                        torch::optim::SGD& sgd, double sparsity) {
  std::vector<at::Tensor> weights;
  for (const auto& l : layers) weights.push_back(l.weight.detach());
  training::install_masks(masks, layers, training::choose_masks(layers, weights, training::PruneSpec{}, sparsity));
  masks.apply_to_weights();
  masks.apply_to_momentum(sgd);
}

void save_result(const std::string& path, models::MobileNetV1& model, const training::MaskSet& masks,
                 const nlohmann::json& meta) {
  training::Checkpoint c;
  c.meta = meta;
  for (const auto& e : masks.entries()) c.tensors["mask/" + e.name] = e.mask;
  training::save_checkpoint(path, c, *model, nullptr);
}

// The code under test, as the training experiment wires it: run_loop with the data-parallel
// hooks, a sharded source, masks broadcast after every selection.
void train_data_parallel(DistributedContext& dist, const std::string& out_path) {
  // Rank 1 starts from other weights: the initial broadcast must replace them.
  models::MobileNetV1 model = testing::tiny_mobilenet(kInitSeed + 100 * dist.rank(), 10, /*small_input=*/true);
  dist.broadcast_parameters_and_buffers(*model);
  const data::TensorDataset dataset = tiny_data();
  ShardedBatchSource train(std::make_unique<data::BatchIterator>(dataset, kGlobalBatch, true, 7, true),
                           dist.rank(), dist.world_size());
  data::BatchIterator test(dataset, 32, false, 0);
  auto sgd = tiny_sgd(*model);
  training::LrScheduleParams lp;
  lp.decay = training::LrDecay::kConstant;
  lp.base_lr = kLr;
  lp.total_steps = kSteps;
  lp.steps_per_epoch = train.batches_per_epoch();
  const training::LrSchedule lr(lp);
  const auto layers = training::select_layers(*model, training::LayerFilter{});
  training::MaskSet masks;
  training::LoopHooks hooks;
  hooks.masks = &masks;
  add_data_parallel_hooks(dist, *model, hooks);
  hooks.before_step = [&](int64_t step) {
    for (const auto& [at_step, sparsity] : kMaskUpdates) {
      if (step != at_step) continue;
      choose_and_install(masks, layers, *sgd, sparsity);
      broadcast_masks(dist, masks, *sgd);
    }
  };
  int64_t evaluated = 0;
  hooks.epoch_done = [&](const training::EpochStats& s) { evaluated += s.test.count; };
  training::LoopSpec spec;
  spec.total_steps = kSteps;
  training::run_loop(*model, *sgd, lr, train, test, spec, hooks);
  save_result(out_path, model, masks,
              {{"evaluated", evaluated}, {"allreduce_calls", dist.allreduce_calls()},
               {"allreduce_seconds", dist.allreduce_seconds()}});
}

// The same steps in one process, written out without any distributed code: each global batch
// as `slices` consecutive slices whose mean losses are averaged (what `slices` processes compute
// together: batch norm normalises each slice with its own statistics), then one masked step.
void train_reference(int64_t slices, models::MobileNetV1& model, training::MaskSet& masks) {
  model = testing::tiny_mobilenet(kInitSeed, 10, true);
  data::BatchIterator train(tiny_data(), kGlobalBatch, true, 7, true);
  auto sgd = tiny_sgd(*model);
  const auto layers = training::select_layers(*model, training::LayerFilter{});
  int64_t step = 0;
  for (int64_t epoch = 0; step < kSteps; ++epoch) {
    train.start_epoch(epoch);
    data::Batch batch;
    while (step < kSteps && train.next(batch)) {
      for (const auto& [at_step, sparsity] : kMaskUpdates) {
        if (step == at_step) choose_and_install(masks, layers, *sgd, sparsity);
      }
      model->train();
      sgd->zero_grad();
      const int64_t share = kGlobalBatch / slices;
      for (int64_t s = 0; s < slices; ++s) {
        const at::Tensor logits = model->forward(batch.images.narrow(0, s * share, share));
        const at::Tensor loss = at::cross_entropy_loss(logits, batch.labels.narrow(0, s * share, share));
        (loss / static_cast<double>(slices)).backward();
      }
      masks.masked_step(*sgd);
      ++step;
    }
  }
}

struct Loaded {
  models::MobileNetV1 model = testing::tiny_mobilenet(0, 10, true);
  training::Checkpoint checkpoint;
};

Loaded load_result(const std::string& path) {
  Loaded l;
  auto c = training::load_checkpoint(path, *l.model, nullptr);
  if (!c) throw std::runtime_error("worker wrote no result to " + path);
  l.checkpoint = *c;
  return l;
}

double max_abs_difference(torch::nn::Module& a, torch::nn::Module& b) {
  double worst = 0;
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& item : pa) {
    worst = std::max(worst, (item.value() - pb[item.key()]).abs().max().item<double>());
  }
  return worst;
}

bool identical_tensors(torch::nn::Module& a, torch::nn::Module& b) {
  const auto ta = a.named_parameters(), tb = b.named_parameters();
  for (const auto& item : ta) {
    if (!at::equal(item.value(), tb[item.key()])) return false;
  }
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& item : ba) {
    if (!at::equal(item.value(), bb[item.key()])) return false;
  }
  return true;
}

const char* env(const char* name) { return std::getenv(name); }

// ---- the worker side: does nothing unless the parent test started this binary ---------------

TEST(DistributedWorker, Run) {
  // Left out of ctest's list (harness/CMakeLists.txt); by hand without the variables it skips.
  if (env("UBP_DDP_RANK") == nullptr) GTEST_SKIP() << "only run as a worker of the Distributed tests";
  DistributedSettings s;
  s.world_size = std::atoi(env("UBP_DDP_WORLD"));
  s.rank = std::atoi(env("UBP_DDP_RANK"));
  s.rendezvous = env("UBP_DDP_RENDEZVOUS");
  s.interface = "lo";
  s.timeout_seconds = 60;
  DistributedContext dist(s, "test");
  const std::string mode = env("UBP_DDP_MODE");
  if (mode == "train") {
    train_data_parallel(dist, env("UBP_DDP_OUT"));
  } else {  // "average": gradients rank + 1 on every element average to (world + 1) / 2
    torch::nn::Linear linear(4, 3);
    for (auto& p : linear->parameters()) p.mutable_grad() = at::full_like(p, s.rank + 1.0);
    dist.bucket_bytes = 16;  // weight and bias in separate buckets
    dist.average_gradients(*linear);
    for (const auto& p : linear->parameters()) {
      EXPECT_TRUE(at::equal(p.grad(), at::full_like(p, (s.world_size + 1) / 2.0)));
    }
    EXPECT_EQ(dist.broadcast_value(40 + s.rank), 40);
    // A resumed run: rank 0 has momentum buffers (its first step's buffer is the averaged
    // gradient, 2 for three ranks, without weight decay); the others have no optimizer state.
    training::SgdSettings no_decay;
    no_decay.weight_decay = 0;
    auto sgd = training::make_sgd(*linear, no_decay);
    if (dist.is_root()) sgd->step();
    broadcast_momentum(dist, *linear, *sgd);
    for (const auto& p : linear->parameters()) {
      const auto& state = static_cast<torch::optim::SGDParamState&>(
          *sgd->state().at(c10::guts::to_string(p.unsafeGetTensorImpl())));
      EXPECT_TRUE(at::equal(state.momentum_buffer(), at::full_like(p, 2.0)));
    }
  }
}

// ---- the parent side --------------------------------------------------------------------

std::string self_path() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  return std::string(buffer, static_cast<size_t>(n));
}

// Starts `world` workers of this binary and waits for them; returns their exit codes.
std::vector<int> run_workers(int world, const std::string& mode, const std::string& rendezvous,
                             const testing::TempDir& dir) {
  std::vector<pid_t> pids;
  for (int rank = 0; rank < world; ++rank) {
    setenv("UBP_DDP_RANK", std::to_string(rank).c_str(), 1);
    setenv("UBP_DDP_WORLD", std::to_string(world).c_str(), 1);
    setenv("UBP_DDP_RENDEZVOUS", rendezvous.c_str(), 1);
    setenv("UBP_DDP_MODE", mode.c_str(), 1);
    setenv("UBP_DDP_OUT", dir.file("rank" + std::to_string(rank) + ".pt").c_str(), 1);
    pids.push_back(testing::spawn({self_path(), "--gtest_filter=DistributedWorker.Run"}, "",
                                  dir.file("out" + std::to_string(rank)), dir.file("err" + std::to_string(rank))));
  }
  for (const char* name : {"UBP_DDP_RANK", "UBP_DDP_WORLD", "UBP_DDP_RENDEZVOUS", "UBP_DDP_MODE", "UBP_DDP_OUT"}) {
    unsetenv(name);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) codes.push_back(testing::wait_exit_code(pid));
  return codes;
}

std::string worker_output(const testing::TempDir& dir, int rank) {
  return testing::read_bytes(dir.file("out" + std::to_string(rank))) +
         testing::read_bytes(dir.file("err" + std::to_string(rank)));
}

TEST(Distributed, TwoProcessesOnLoopbackTrainLikeOneProcessWithTheSameGlobalBatch) {
  testing::TempDir dir;
  const auto codes = run_workers(2, "train", "file:" + dir.file("store"), dir);
  for (int rank = 0; rank < 2; ++rank) ASSERT_EQ(codes[rank], 0) << worker_output(dir, rank);
  Loaded rank0 = load_result(dir.file("rank0.pt")), rank1 = load_result(dir.file("rank1.pt"));

  // Every rank applies the same averaged gradient: the replicas stay identical bitwise, and
  // rank 0's batch-norm statistics were broadcast before each evaluation.
  EXPECT_TRUE(identical_tensors(*rank0.model, *rank1.model));
  EXPECT_EQ(rank0.checkpoint.meta["allreduce_calls"], kSteps);
  EXPECT_GT(rank0.checkpoint.meta["evaluated"].get<int64_t>(), 0);
  EXPECT_EQ(rank1.checkpoint.meta["evaluated"], 0) << "only rank 0 evaluates";

  models::MobileNetV1 reference = testing::tiny_mobilenet(0, 10, true);
  training::MaskSet reference_masks;
  train_reference(2, reference, reference_masks);
  // Tolerance: in general the processes' gradient sums meet in another order than one
  // process's, so float32 rounding differs at about 1e-7 relative per step, and six steps of SGD
  // with momentum at lr 0.05 keep the weights within 1e-5 absolute (they are of order 0.1 to 1).
  // With exactly two processes the difference is usually 0: (g0 + g1) / 2 and g0 / 2 + g1 / 2
  // round the same (halving is exact), but the test does not rely on that.
  const double difference = max_abs_difference(*rank0.model, *reference);
  EXPECT_LT(difference, 1e-5);
  // For the record: one process with batch norm over the whole global batch is another
  // computation (each slice's statistics differ from the batch's), not a rounding difference.
  models::MobileNetV1 whole_batch = testing::tiny_mobilenet(0, 10, true);
  training::MaskSet whole_batch_masks;
  train_reference(1, whole_batch, whole_batch_masks);
  int same_masks = 0;
  for (size_t i = 0; i < whole_batch_masks.size(); ++i) {
    same_masks += at::equal(whole_batch_masks.entries()[i].mask, reference_masks.entries()[i].mask);
  }
  std::printf("batch norm over the whole global batch instead of per slice: max |w difference| %.3g, "
              "%d of %zu masks the same\n",
              max_abs_difference(*rank0.model, *whole_batch), same_masks, whole_batch_masks.size());
  // The weights moved far more than that: the comparison is not between untouched weights.
  models::MobileNetV1 initial = testing::tiny_mobilenet(kInitSeed, 10, true);
  EXPECT_GT(max_abs_difference(*rank0.model, *initial), 1e-2);

  ASSERT_EQ(reference_masks.size(), 13u);  // the 13 pointwise layers
  for (const auto& e : reference_masks.entries()) {
    for (Loaded* r : {&rank0, &rank1}) {
      const auto it = r->checkpoint.tensors.find("mask/" + e.name);
      ASSERT_NE(it, r->checkpoint.tensors.end()) << e.name;
      EXPECT_TRUE(at::equal(it->second, e.mask)) << "mask of " << e.name;
    }
  }
  EXPECT_NEAR(reference_masks.weight_sparsity(), 0.75, 0.02);
  std::printf("2 processes vs 1: max |w difference| %.3g; all-reduce %.4f s per step (rank 0)\n", difference,
              rank0.checkpoint.meta["allreduce_seconds"].get<double>() / kSteps);
}

// `ubp run --nproc 2` end to end: the workers meet, train, rank 0 records the run; a second
// invocation finds it done on both ranks (rank 1 works on a copy of the database) and exits.
TEST(Distributed, UbpRunWithTwoLocalProcessesRecordsTheRunOnce) {
  const std::string ubp = (std::filesystem::path(self_path()).parent_path() / "ubp").string();
  ASSERT_TRUE(std::filesystem::exists(ubp)) << ubp << " is not built (cmake --build build --target ubp)";
  testing::TempDir dir;
  std::ofstream(dir.file("t.yaml")) << "experiment: {kind: training, seed: 3}\n"
                                       "data: {dataset: synthetic, image_size: 28, train_limit: 128, test_limit: 64}\n"
                                       "model: {name: mobilenet_v1, width: 0.25}\n"
                                       "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n"
                                       "prune: {method: bed, sparsity: 0.75, ramp_epochs: 0.5, finetune_epochs: 0.5}\n";
  const std::vector<std::string> argv{ubp, "run", "t.yaml", "--db", "runs/r.db", "--nproc", "2"};
  const testing::ProcessResult first = testing::run_process(argv, dir.path().string());
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("1 run: 1 done now, 0 already done, 0 failed"), std::string::npos) << first.out;
  const testing::ProcessResult second = testing::run_process(argv, dir.path().string());
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("1 run: 0 done now, 1 already done, 0 failed"), std::string::npos) << second.out;
}

int free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free TCP port on 127.0.0.1");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(Distributed, ThreeProcessesOverATcpStoreAverageGradientsInBucketsAndShareMomentum) {
  testing::TempDir dir;
  const auto codes = run_workers(3, "average", "tcp:127.0.0.1:" + std::to_string(free_tcp_port()), dir);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(codes[rank], 0) << worker_output(dir, rank);
    EXPECT_NE(worker_output(dir, rank).find("[  PASSED  ] 1 test"), std::string::npos) << worker_output(dir, rank);
  }
}

TEST(Distributed, ShardsOfAGlobalBatchAreItsSlicesInRankOrder) {
  const data::TensorDataset dataset = tiny_data();
  data::BatchIterator whole(dataset, kGlobalBatch, true, 7, true);
  ShardedBatchSource first(std::make_unique<data::BatchIterator>(dataset, kGlobalBatch, true, 7, true), 0, 4);
  ShardedBatchSource last(std::make_unique<data::BatchIterator>(dataset, kGlobalBatch, true, 7, true), 3, 4);
  whole.start_epoch(1);
  first.start_epoch(1);
  last.start_epoch(1);
  data::Batch w, f, l;
  int batches = 0;
  while (whole.next(w)) {
    ASSERT_TRUE(first.next(f));
    ASSERT_TRUE(last.next(l));
    EXPECT_TRUE(at::equal(f.labels, w.labels.narrow(0, 0, 4)));
    EXPECT_TRUE(at::equal(l.images, w.images.narrow(0, 12, 4)));
    ++batches;
  }
  EXPECT_EQ(batches, 4);
  EXPECT_FALSE(first.next(f));
  EXPECT_EQ(first.num_samples(), 16);

  ShardedBatchSource uneven(std::make_unique<data::BatchIterator>(dataset, 10, false, 0), 0, 3);
  uneven.start_epoch(0);
  try {
    uneven.next(f);
    FAIL() << "a batch of 10 over 3 processes was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("train.batch_size"), std::string::npos) << e.what();
  }
}

TEST(Distributed, SettingsComeFromTheConfigOrFromSlurm) {
  const auto s = settings_from_config({{"world_size", 4}, {"rank", 2}, {"rendezvous", "tcp:node1:29500"}});
  EXPECT_TRUE(s.enabled());
  EXPECT_EQ(s.rank, 2);
  EXPECT_FALSE(settings_from_config(nlohmann::json::object()).enabled());
  EXPECT_THROW(settings_from_config({{"world_size", 2}, {"rank", 2}, {"rendezvous", "file:/x"}}),
               std::invalid_argument);
  EXPECT_THROW(settings_from_config({{"world_size", 2}, {"rank", 0}}), std::invalid_argument);

  setenv("SLURM_NTASKS", "3", 1);
  setenv("SLURM_PROCID", "1", 1);
  const auto slurm = settings_from_config({{"world_size", 0}, {"rendezvous", "tcp:node1:29500"}});
  unsetenv("SLURM_NTASKS");
  unsetenv("SLURM_PROCID");
  EXPECT_EQ(slurm.world_size, 3);
  EXPECT_EQ(slurm.rank, 1);
  EXPECT_THROW(settings_from_config({{"world_size", 0}, {"rendezvous", "tcp:node1:29500"}}), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::distributed

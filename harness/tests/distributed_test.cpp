// Over 500 lines: the worker side and the tests that start it must stay in one binary and one file.
// Data-parallel training (distributed/distributed.h) with real processes: the test binary starts
// itself twice as rank 0 and rank 1 (the DistributedWorker tests, which do nothing unless the
// UBP_DDP_* variables are set), the two meet on loopback through Gloo, train a tiny MobileNetV1
// with masks, and the parent compares their weights with one process doing the same steps:
// with synchronised batch norm the plain single-process path over the global batch, without it
// one process normalising each slice on its own.
#include <unistd.h>

#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "distributed/distributed.h"
#include "models/batch_norm.h"
#include "support/net.h"
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
// Steps of the run at hand: kSteps, or fewer (UBP_DDP_STEPS in a worker).
int64_t g_steps = kSteps;
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

// A source's batches with the images in float64 (the float64 runs below).
class InDouble : public data::BatchSource {
 public:
  explicit InDouble(std::unique_ptr<data::BatchSource> source) : source_(std::move(source)) {}
  void start_epoch(int64_t epoch) override { source_->start_epoch(epoch); }
  bool next(data::Batch& out) override {
    if (!source_->next(out)) return false;
    out.images = out.images.to(at::kDouble);
    return true;
  }
  int64_t batches_per_epoch() const override { return source_->batches_per_epoch(); }
  int64_t num_samples() const override { return source_->num_samples(); }
  int64_t num_classes() const override { return source_->num_classes(); }

 private:
  std::unique_ptr<data::BatchSource> source_;
};

std::unique_ptr<data::BatchSource> maybe_in_double(std::unique_ptr<data::BatchSource> source, bool in_double) {
  if (!in_double) return source;
  return std::make_unique<InDouble>(std::move(source));
}

// The code under test, as the training experiment wires it: run_loop with the data-parallel
// hooks, a sharded source, masks broadcast after every selection. in_double: the model and the
// images in float64 (masks and importance stay float32, as in every run).
void train_data_parallel(DistributedContext& dist, const std::string& out_path, bool in_double) {
  // Rank 1 starts from other weights: the initial broadcast must replace them.
  models::MobileNetV1 model = testing::tiny_mobilenet(kInitSeed + 100 * dist.rank(), 10, /*small_input=*/true);
  if (in_double) model->to(at::kDouble);
  dist.broadcast_parameters_and_buffers(*model);
  const data::TensorDataset dataset = tiny_data();
  auto train = maybe_in_double(std::make_unique<data::BatchIterator>(dataset, kGlobalBatch, true, 7, true,
                                                                     data::Replica{dist.rank(), dist.world_size()}),
                               in_double);
  auto test = maybe_in_double(std::make_unique<data::BatchIterator>(dataset, 32, false, 0), in_double);
  auto sgd = tiny_sgd(*model);
  training::LrScheduleParams lp;
  lp.decay = training::LrDecay::kConstant;
  lp.base_lr = kLr;
  lp.total_steps = g_steps;
  lp.steps_per_epoch = train->batches_per_epoch();
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
  nlohmann::json epochs = nlohmann::json::array();
  hooks.epoch_done = [&](const training::EpochStats& s) {
    evaluated += s.test.count;
    epochs.push_back({{"train_loss", s.train_loss}, {"train_top1", s.train_top1}, {"steps", s.steps}});
  };
  training::LoopSpec spec;
  spec.total_steps = g_steps;
  training::run_loop(*model, *sgd, lr, *train, *test, spec, hooks);
  save_result(out_path, model, masks,
              {{"evaluated", evaluated}, {"epochs", epochs}, {"allreduce_calls", dist.allreduce_calls()},
               {"allreduce_seconds", dist.allreduce_seconds()}});
}

// The same steps in one process, written out without any distributed code: each global batch
// as `slices` consecutive slices whose mean losses are averaged (what `slices` processes compute
// together: batch norm normalises each slice with its own statistics), then one masked step.
// in_double: the same in float64 (the model stays float64), to measure how far float32 rounding
// alone takes the result, or to compare float64 runs.
struct ReferenceTotals {
  double loss_sum = 0;  // of the global batches' mean losses
  int64_t correct = 0, seen = 0;
};

void train_reference(int64_t slices, models::MobileNetV1& model, training::MaskSet& masks, bool in_double = false,
                     bool reversed_rows = false, ReferenceTotals* totals = nullptr) {
  model = testing::tiny_mobilenet(kInitSeed, 10, true);
  data::BatchIterator train(tiny_data(), kGlobalBatch, true, 7, true);
  auto sgd = tiny_sgd(*model);
  const auto layers = training::select_layers(*model, training::LayerFilter{});
  int64_t step = 0;
  for (int64_t epoch = 0; step < g_steps; ++epoch) {
    train.start_epoch(epoch);
    data::Batch batch;
    while (step < g_steps && train.next(batch)) {
      for (const auto& [at_step, sparsity] : kMaskUpdates) {
        if (step == at_step) choose_and_install(masks, layers, *sgd, sparsity);
      }
      model->train();
      sgd->zero_grad();
      if (in_double) {
        model->to(at::kDouble);
        batch.images = batch.images.to(at::kDouble);
      }
      if (reversed_rows) {
        batch.images = batch.images.flip({0});
        batch.labels = batch.labels.flip({0});
      }
      const int64_t share = kGlobalBatch / slices;
      for (int64_t s = 0; s < slices; ++s) {
        const at::Tensor logits = model->forward(batch.images.narrow(0, s * share, share));
        const at::Tensor labels = batch.labels.narrow(0, s * share, share);
        const at::Tensor loss = at::cross_entropy_loss(logits, labels);
        (loss / static_cast<double>(slices)).backward();
        if (totals != nullptr) {
          totals->loss_sum += loss.item<double>() / static_cast<double>(slices);
          totals->correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
          totals->seen += share;
        }
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

Loaded load_result(const std::string& path, bool in_double = false) {
  Loaded l;
  if (in_double) l.model->to(at::kDouble);
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

// The batch norms' running means and variances, and their num_batches_tracked (a count that
// differs by 1 or more dominates any tolerance).
double max_abs_buffer_difference(torch::nn::Module& a, torch::nn::Module& b) {
  double worst = 0;
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& item : ba) {
    const at::Tensor difference = item.value().to(at::kDouble) - bb[item.key()].to(at::kDouble);
    worst = std::max(worst, difference.abs().max().item<double>());
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
  if (env("UBP_DDP_STEPS") != nullptr) g_steps = std::atoi(env("UBP_DDP_STEPS"));
  s.sync_batch_norm = env("UBP_DDP_SYNC_BN") == nullptr || std::string(env("UBP_DDP_SYNC_BN")) != "0";
  DistributedContext dist(s, "test");
  const std::string mode = env("UBP_DDP_MODE");
  if (mode == "train" || mode == "train-double") {
    train_data_parallel(dist, env("UBP_DDP_OUT"), mode == "train-double");
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
                             const testing::TempDir& dir, bool sync_batch_norm = true) {
  setenv("UBP_DDP_STEPS", std::to_string(g_steps).c_str(), 1);
  std::vector<pid_t> pids;
  for (int rank = 0; rank < world; ++rank) {
    setenv("UBP_DDP_RANK", std::to_string(rank).c_str(), 1);
    setenv("UBP_DDP_WORLD", std::to_string(world).c_str(), 1);
    setenv("UBP_DDP_RENDEZVOUS", rendezvous.c_str(), 1);
    setenv("UBP_DDP_MODE", mode.c_str(), 1);
    setenv("UBP_DDP_SYNC_BN", sync_batch_norm ? "1" : "0", 1);
    setenv("UBP_DDP_OUT", dir.file("rank" + std::to_string(rank) + ".pt").c_str(), 1);
    pids.push_back(testing::spawn({self_path(), "--gtest_filter=DistributedWorker.Run"}, "",
                                  dir.file("out" + std::to_string(rank)), dir.file("err" + std::to_string(rank))));
  }
  for (const char* name :
       {"UBP_DDP_RANK", "UBP_DDP_WORLD", "UBP_DDP_RENDEZVOUS", "UBP_DDP_MODE", "UBP_DDP_OUT", "UBP_DDP_SYNC_BN",
                           "UBP_DDP_STEPS"}) {
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

// Runs the two "train" workers and checks what holds with or without synchronised batch norm:
// identical replicas, one all-reduce of the gradients per step, evaluation on rank 0 only.
std::pair<Loaded, Loaded> train_two_processes(const testing::TempDir& dir, bool sync_batch_norm,
                                              bool in_double = false) {
  const auto codes =
      run_workers(2, in_double ? "train-double" : "train", "file:" + dir.file("store"), dir, sync_batch_norm);
  for (int rank = 0; rank < 2; ++rank) EXPECT_EQ(codes[rank], 0) << worker_output(dir, rank);
  if (codes[0] != 0 || codes[1] != 0) throw std::runtime_error("a worker failed");
  std::pair<Loaded, Loaded> r{load_result(dir.file("rank0.pt"), in_double),
                              load_result(dir.file("rank1.pt"), in_double)};
  // Every rank applies the same averaged gradient: the replicas stay identical bitwise, and
  // rank 0's batch-norm statistics were broadcast before each evaluation.
  EXPECT_TRUE(identical_tensors(*r.first.model, *r.second.model));
  EXPECT_EQ(r.first.checkpoint.meta["allreduce_calls"], g_steps);
  EXPECT_GT(r.first.checkpoint.meta["evaluated"].get<int64_t>(), 0);
  EXPECT_EQ(r.second.checkpoint.meta["evaluated"], 0) << "only rank 0 evaluates";
  // The weights moved far more than any tolerance below: the comparisons are not between
  // untouched weights.
  models::MobileNetV1 initial = testing::tiny_mobilenet(kInitSeed, 10, true);
  EXPECT_GT(max_abs_difference(*r.first.model, *initial), 1e-2);
  return r;
}

void expect_same_masks(const training::MaskSet& reference_masks, Loaded& rank0, Loaded& rank1, double sparsity) {
  ASSERT_EQ(reference_masks.size(), 13u);  // the 13 pointwise layers
  for (const auto& e : reference_masks.entries()) {
    for (Loaded* r : {&rank0, &rank1}) {
      const auto it = r->checkpoint.tensors.find("mask/" + e.name);
      ASSERT_NE(it, r->checkpoint.tensors.end()) << e.name;
      EXPECT_TRUE(at::equal(it->second, e.mask)) << "mask of " << e.name;
    }
  }
  EXPECT_NEAR(reference_masks.weight_sparsity(), sparsity, 0.02);
}

// The default: synchronised batch norm. Two processes end where the plain single-process path
// ends with the same global batch (batch norm over all 16 images), with the same masks bitwise.
//
// Tolerance: not bitwise, since each batch norm's statistics are two ranks' partial float32 sums
// added together and its variance is E[x^2] - E[x]^2 (ATen sums the whole batch in another order
// and takes the variance in a second pass), and the gradient sums meet in another order. This
// tiny masked network amplifies rounding strongly: one step of the plain path in float32 and in
// float64 already differ by about 2e-3 in the first layers' weights, and over the six steps of
// the other test any two roundings of the same computation (even the plain path against the
// same formulas in one process) drift apart by O(1), so they are no test of correctness. The
// comparison is therefore one step, with masks chosen before it (50 % of the pointwise weights),
// and the tolerance is that float32 noise floor measured here (plain float32 against float64),
// times 2; per-slice batch norm, the computation this replaces, must land well outside it.
TEST(Distributed, TwoProcessesOnLoopbackTrainLikeOneProcessWithTheSameGlobalBatch) {
  struct OneStep {
    OneStep() { g_steps = 1; }
    ~OneStep() { g_steps = kSteps; }
  } one_step;
  testing::TempDir dir;
  auto [rank0, rank1] = train_two_processes(dir, /*sync_batch_norm=*/true);
  models::MobileNetV1 reference = testing::tiny_mobilenet(0, 10, true), exact = testing::tiny_mobilenet(0, 10, true),
                      per_slice = testing::tiny_mobilenet(0, 10, true);
  training::MaskSet reference_masks, exact_masks, per_slice_masks;
  train_reference(1, reference, reference_masks);
  train_reference(1, exact, exact_masks, /*in_double=*/true);
  train_reference(2, per_slice, per_slice_masks);
  const double noise = max_abs_difference(*reference, *exact);
  const double difference = max_abs_difference(*rank0.model, *reference);
  const double per_slice_difference = max_abs_difference(*per_slice, *reference);
  EXPECT_LT(difference, 2 * noise + 1e-6);
  EXPECT_GT(per_slice_difference, 10 * noise) << "the test cannot tell per-slice from global statistics";
  // The running statistics come from the forward pass alone, which is well conditioned.
  const double buffer_difference = max_abs_buffer_difference(*rank0.model, *reference);
  EXPECT_LT(buffer_difference, 1e-5);
  EXPECT_GT(max_abs_buffer_difference(*per_slice, *reference), 1e-3);
  expect_same_masks(reference_masks, rank0, rank1, 0.5);
  std::printf("2 processes with synchronised batch norm vs 1 process, one step: max |w difference| %.3g "
              "(float32 vs float64 in one process %.3g; per-slice batch norm %.3g), max |running statistics "
              "difference| %.3g\n",
              difference, noise, per_slice_difference, buffer_difference);
}

// The same comparison over four steps (one epoch) with both selections (50 % before the first
// step, 75 % on trained weights before the fourth), with the model and the images in float64 on
// both sides. The tiny masked network is chaotic: any two roundings of the same computation
// drift apart about 50-fold per step (float64's 1e-16 grows to about 1e-7 in four steps and to
// O(0.1) in six), so the tolerance is measured, not assumed: the noise floor is the plain
// 1-process path against itself with every global batch's rows reversed (the same mathematics:
// batch norm's statistics and the mean loss do not depend on the row order; only the rounding
// changes). Two processes must land within 100 times that floor (seen: 1 to 10 times), and
// per-slice batch norm, the computation that synchronisation replaces, lands about 1e7 times
// further away. Masks must be identical bitwise after both selections.
TEST(Distributed, InFloat64TwoProcessesTrainAnEpochWithTwoSelectionsLikeOneProcess) {
  struct FourSteps {
    FourSteps() { g_steps = 4; }
    ~FourSteps() { g_steps = kSteps; }
  } four_steps;
  testing::TempDir dir;
  auto [rank0, rank1] = train_two_processes(dir, /*sync_batch_norm=*/true, /*in_double=*/true);
  ASSERT_EQ(rank0.model->parameters()[0].scalar_type(), at::kDouble);
  models::MobileNetV1 reference = testing::tiny_mobilenet(0, 10, true), reversed = testing::tiny_mobilenet(0, 10, true),
                      per_slice = testing::tiny_mobilenet(0, 10, true);
  training::MaskSet reference_masks, reversed_masks, per_slice_masks;
  ReferenceTotals totals;
  train_reference(1, reference, reference_masks, /*in_double=*/true, /*reversed_rows=*/false, &totals);
  train_reference(1, reversed, reversed_masks, /*in_double=*/true, /*reversed_rows=*/true);
  train_reference(2, per_slice, per_slice_masks, /*in_double=*/true);
  const double noise = max_abs_difference(*reversed, *reference);
  const double difference = max_abs_difference(*rank0.model, *reference);
  const double buffer_noise = max_abs_buffer_difference(*reversed, *reference);
  const double buffer_difference = max_abs_buffer_difference(*rank0.model, *reference);
  const double per_slice_difference = max_abs_difference(*per_slice, *reference);
  EXPECT_LT(noise, 1e-5) << "float64 rounding alone moved the weights this far: the test network is too chaotic";
  EXPECT_LT(difference, 100 * noise + 1e-12);
  EXPECT_LT(buffer_difference, 100 * buffer_noise + 1e-12);
  EXPECT_GT(per_slice_difference, 1e4 * (100 * noise + 1e-12)) << "the test cannot tell per-slice from global";
  expect_same_masks(reference_masks, rank0, rank1, 0.75);
  // Both ranks report the epoch's training loss and accuracy of the global batches, not of their
  // slices (the loss within the drift above; a prediction could only flip on a near tie).
  const nlohmann::json& epoch0 = rank0.checkpoint.meta["epochs"].at(0);
  EXPECT_EQ(epoch0, rank1.checkpoint.meta["epochs"].at(0));
  ASSERT_EQ(totals.seen, 64);
  EXPECT_NEAR(epoch0["train_loss"].get<double>(), totals.loss_sum / 4, 1e-6);
  EXPECT_NEAR(epoch0["train_top1"].get<double>(), static_cast<double>(totals.correct) / 64, 1.5 / 64);
  std::printf("float64, one epoch, two selections: 2 processes with synchronised batch norm vs 1 process: max |w "
              "difference| %.3g, max |running statistics difference| %.3g; the 1-process path against itself with "
              "the rows reversed: %.3g and %.3g; per-slice batch norm: %.3g\n",
              difference, buffer_difference, noise, buffer_noise, per_slice_difference);
}

// sync_batch_norm false: each rank normalises its own slice, which is what one process computes
// when it normalises each slice of the global batch on its own.
TEST(Distributed, WithoutSyncBatchNormTwoProcessesTrainLikeOneProcessNormalisingEachSlice) {
  testing::TempDir dir;
  auto [rank0, rank1] = train_two_processes(dir, /*sync_batch_norm=*/false);
  models::MobileNetV1 reference = testing::tiny_mobilenet(0, 10, true);
  training::MaskSet reference_masks;
  train_reference(2, reference, reference_masks);
  // Tolerance: the processes' gradient sums meet in another order than one process's, so
  // float32 rounding differs at about 1e-7 relative per step, and six steps keep the weights
  // within 1e-5 absolute. With exactly two processes the difference is usually 0: (g0 + g1) / 2
  // and g0 / 2 + g1 / 2 round the same (halving is exact), but the test does not rely on that.
  const double difference = max_abs_difference(*rank0.model, *reference);
  EXPECT_LT(difference, 1e-5);
  expect_same_masks(reference_masks, rank0, rank1, 0.75);
  models::MobileNetV1 whole_batch = testing::tiny_mobilenet(0, 10, true);
  training::MaskSet whole_batch_masks;
  train_reference(1, whole_batch, whole_batch_masks);
  std::printf("per-slice batch norm: 2 processes vs 1 process normalising each slice: max |w difference| %.3g; "
              "vs batch norm over the whole global batch: %.3g\n",
              difference, max_abs_difference(*rank0.model, *whole_batch));
}

// The module the models use: plain BatchNorm2d without a synchronisation (same names, bitwise
// the same outputs and statistics); with one, the statistics of everything the processes hold.
class DoublingSync : public models::BatchNormSync {  // two processes holding the same slice
 public:
  int world_size() const override { return 2; }
  void all_reduce_sum(at::Tensor& t) override {
    t.mul_(2);
    ++calls;
  }
  int calls = 0;
};

TEST(Distributed, SyncBatchNormIsBatchNorm2dUnlessSynchronisedAndThenUsesTheGlobalStatistics) {
  torch::manual_seed(11);
  const at::Tensor x = at::randn({4, 3, 5, 5}) * 2 + 1;
  models::SyncBatchNorm2d sync_bn(3);
  torch::nn::BatchNorm2d plain(3);
  {
    torch::NoGradGuard no_grad;
    sync_bn->weight.uniform_(0.5, 1.5);
    sync_bn->bias.uniform_(-1, 1);
    plain->weight.copy_(sync_bn->weight);
    plain->bias.copy_(sync_bn->bias);
  }
  std::vector<std::string> names, plain_names;
  for (const auto& item : sync_bn->named_parameters()) names.push_back(item.key());
  for (const auto& item : sync_bn->named_buffers()) names.push_back(item.key());
  for (const auto& item : plain->named_parameters()) plain_names.push_back(item.key());
  for (const auto& item : plain->named_buffers()) plain_names.push_back(item.key());
  EXPECT_EQ(names, plain_names);
  EXPECT_NE(std::static_pointer_cast<torch::nn::Module>(sync_bn.ptr())->as<torch::nn::BatchNorm2d>(), nullptr);

  // No synchronisation: bitwise BatchNorm2d, in training and in eval mode.
  EXPECT_TRUE(at::equal(sync_bn->forward(x), plain->forward(x)));
  EXPECT_TRUE(at::equal(sync_bn->running_var, plain->running_var));
  sync_bn->eval();
  plain->eval();
  EXPECT_TRUE(at::equal(sync_bn->forward(x), plain->forward(x)));

  // Two processes with the same slice: the global statistics are the slice's, the running
  // variance's n / (n - 1) takes the global count (200 elements per channel, not 100).
  auto sync = std::make_shared<DoublingSync>();
  EXPECT_EQ(models::set_batch_norm_sync(*sync_bn, sync), 1);
  sync_bn->train();
  plain->train();
  EXPECT_FALSE(at::equal(sync_bn->running_mean, at::zeros({3})));
  const at::Tensor mean_before = sync_bn->running_mean.clone(), var_before = sync_bn->running_var.clone();
  const at::Tensor synced = sync_bn->forward(x);
  EXPECT_EQ(sync->calls, 1);
  EXPECT_LT((synced - plain->forward(x)).abs().max().item<double>(), 1e-5);
  const at::Tensor mean = x.mean({0, 2, 3}), var = x.var({0, 2, 3}, /*unbiased=*/false);
  EXPECT_TRUE(at::allclose(sync_bn->running_mean, 0.9 * mean_before + 0.1 * mean, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(sync_bn->running_var, 0.9 * var_before + 0.1 * var * (200.0 / 199.0), 1e-5, 1e-6));
  EXPECT_EQ(sync_bn->num_batches_tracked.item<int64_t>(), 2);
  // Backward all-reduces the statistics' gradient once more. Each of the two processes gets the
  // gradient of the sum of both losses with respect to its slice; here that is the gradient of
  // one process's loss through plain batch norm, which sees the same statistics.
  const at::Tensor target = at::randn({4, 3, 5, 5});
  at::Tensor input = x.clone().requires_grad_(true), plain_input = x.clone().requires_grad_(true);
  (sync_bn->forward(input) * target).sum().backward();
  (plain->forward(plain_input) * target).sum().backward();
  EXPECT_EQ(sync->calls, 3);
  EXPECT_LT((input.grad() - plain_input.grad()).abs().max().item<double>(), 1e-5);
  EXPECT_LT((sync_bn->weight.grad() - plain->weight.grad()).abs().max().item<double>(), 1e-4);

  // Eval mode and a released synchronisation are plain batch norm again.
  sync_bn->eval();
  EXPECT_FALSE(sync_bn->synchronising());
  sync_bn->forward(x);
  sync_bn->train();
  EXPECT_TRUE(sync_bn->synchronising());
  sync.reset();
  EXPECT_FALSE(sync_bn->synchronising());
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

// A global batch the processes cannot share evenly fails the plan (so no rank waits for the
// others, and no run is recorded), naming both keys and where the batch size is written.
TEST(Distributed, ABatchSizeThatIsNotAMultipleOfTheWorldSizeFailsThePlanNamingBothKeys) {
  const std::string ubp = (std::filesystem::path(self_path()).parent_path() / "ubp").string();
  testing::TempDir dir;
  std::ofstream(dir.file("t.yaml")) << "experiment: {kind: training, seed: 3}\n"
                                       "data: {dataset: synthetic, image_size: 28, train_limit: 128, test_limit: 64}\n"
                                       "model: {name: mobilenet_v1, width: 0.25}\n"
                                       "train: {epochs: 1, batch_size: 32, threads: 1}\n";
  const testing::ProcessResult r = testing::run_process(
      {ubp, "run", "t.yaml", "--db", "r.db", "train.distributed.world_size=3", "train.distributed.rank=0",
       "train.distributed.rendezvous=file:" + dir.file("store"), "train.distributed.timeout_s=5"},
      dir.path().string());
  EXPECT_EQ(r.exit_code, 2);
  const std::string output = r.out + r.err;
  EXPECT_NE(output.find("t.yaml:4:"), std::string::npos) << output;
  EXPECT_NE(output.find("train.batch_size: 32 cannot be split evenly over 3 processes (train.distributed.world_size)"),
            std::string::npos)
      << output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.db"))) << "nothing is written for a bad config";
}

TEST(Distributed, ThreeProcessesOverATcpStoreAverageGradientsInBucketsAndShareMomentum) {
  testing::TempDir dir;
  const int port = testing::free_loopback_port();
  ASSERT_GT(port, 0) << "cannot find a free TCP port on 127.0.0.1";
  const auto codes = run_workers(3, "average", "tcp:127.0.0.1:" + std::to_string(port), dir);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(codes[rank], 0) << worker_output(dir, rank);
    EXPECT_NE(worker_output(dir, rank).find("[  PASSED  ] 1 test"), std::string::npos) << worker_output(dir, rank);
  }
}

// train.distributed as the settings reader fills it (absent keys: the schema's defaults), then
// with the world resolved.
DistributedSettings from_config(const nlohmann::json& train_distributed) {
  return resolve_world(settings::read_distributed_settings(train_distributed));
}

TEST(Distributed, SettingsComeFromTheConfigOrFromSlurm) {
  const auto s = from_config({{"world_size", 4}, {"rank", 2}, {"rendezvous", "tcp:node1:29500"}});
  EXPECT_TRUE(s.enabled());
  EXPECT_EQ(s.rank, 2);
  EXPECT_FALSE(from_config(nlohmann::json::object()).enabled());
  EXPECT_THROW(from_config({{"world_size", 2}, {"rank", 2}, {"rendezvous", "file:/x"}}),
               std::invalid_argument);
  EXPECT_THROW(from_config({{"world_size", 2}, {"rank", 0}}), std::invalid_argument);

  setenv("SLURM_NTASKS", "3", 1);
  setenv("SLURM_PROCID", "1", 1);
  const auto slurm = from_config({{"world_size", 0}, {"rendezvous", "tcp:node1:29500"}});
  unsetenv("SLURM_NTASKS");
  unsetenv("SLURM_PROCID");
  EXPECT_EQ(slurm.world_size, 3);
  EXPECT_EQ(slurm.rank, 1);
  EXPECT_THROW(from_config({{"world_size", 0}, {"rendezvous", "tcp:node1:29500"}}), std::invalid_argument);
}

}  // namespace
}  // namespace ubp::distributed

// `ubp export` through the real binary: a finished training run keeps its final model, which
// exports to packed-model files for each kernel (read back with the device reader); a kernel
// that does not fit the run's masks, an unknown run and a run that is not done are refused
// with exit status 2 and a message naming the problem; --arch exports random models.
#include <filesystem>

#include "support/ubp_fixture.h"
#include "ubp/device/model_file.h"
#include "ubp/results/store.h"

namespace ubp::testing {
namespace {

namespace fs = std::filesystem;

// A few steps only: the export needs a done run with optimal (unaligned) masks, not accuracy.
const char* kTinyPrunedRun =
    "experiment: {kind: training, seed: 3}\n"
    "data: {dataset: synthetic, image_size: 28, train_limit: 128, test_limit: 64}\n"
    "model: {name: mobilenet_v1, width: 0.25}\n"
    "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n"
    "prune: {method: optimal, sparsity: 0.75, ramp_epochs: 0.5, finetune_epochs: 0.5, "
    "update_every: 1}\n";

int64_t count_storage(const device::PackedModel& m, device::WeightStorage storage) {
  int64_t n = 0;
  for (const auto& layer : m.layers) n += layer.has_weights() && layer.weights.storage == storage;
  return n;
}

class ExportCommand : public UbpTest {};

TEST_F(ExportCommand, ExportsADoneTrainingRunForEachKernelThatFitsItsMasks) {
  const auto cfg = work.write("t.yaml", kTinyPrunedRun);
  const std::string db = work.file("runs/r.db");
  const auto run = ubp({"run", cfg, "--db", db, "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto ids = query(db, "SELECT run_id FROM runs WHERE status = 'done'");
  ASSERT_EQ(ids.size(), 1u);
  const std::string id = ids[0];
  const fs::path kept = work.path() / "runs" / "models" / id / "model.pt";
  ASSERT_TRUE(fs::exists(kept)) << kept;
  EXPECT_FALSE(fs::exists(work.path() / "runs" / "work" / id));

  const auto unaligned = ubp(
      {"export", "--db", db, "--run", id, "--kernel", "unaligned", "--out", work.file("u.ubpm")});
  ASSERT_EQ(unaligned.exit_code, 0) << unaligned.err;
  EXPECT_TRUE(contains(unaligned.out, "29 layers (15 dense, 0 aligned, 13 unaligned)"))
      << unaligned.out;
  EXPECT_TRUE(contains(unaligned.out, "keep 25.00% of their weights")) << unaligned.out;
  const device::PackedModel u = device::read_model_file(work.file("u.ubpm"));
  EXPECT_EQ(u.name, "mobilenet_v1-" + id);
  EXPECT_EQ(u.input_shape, (std::array<int64_t, 3>{1, 28, 28}));
  EXPECT_EQ(count_storage(u, device::WeightStorage::kUnaligned), 13);
  EXPECT_EQ(u.layers.back().output_shape[0], 10);

  // The same blocks for the naive unaligned kernel.
  const auto naive = ubp({"export", "--db", db, "--run", id, "--kernel", "unaligned-naive", "--out",
                          work.file("n.ubpm")});
  ASSERT_EQ(naive.exit_code, 0) << naive.err;
  EXPECT_TRUE(contains(naive.out, "29 layers (15 dense, 0 aligned, 0 unaligned, 13 unaligned-naive)"))
      << naive.out;
  EXPECT_TRUE(contains(naive.out, "unaligned-naive kernel")) << naive.out;
  const device::PackedModel n = device::read_model_file(work.file("n.ubpm"));
  EXPECT_EQ(count_storage(n, device::WeightStorage::kUnalignedNaive), 13);
  for (size_t i = 0; i < n.layers.size(); ++i) {
    if (n.layers[i].has_weights()) {
      EXPECT_EQ(n.layers[i].weights.matrix(), u.layers[i].weights.matrix()) << n.layers[i].name;
    }
  }

  const auto dense =
      ubp({"export", "--db", db, "--run", id, "--kernel", "dense", "--out", work.file("d.ubpm")});
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  EXPECT_EQ(
      count_storage(device::read_model_file(work.file("d.ubpm")), device::WeightStorage::kDense),
      28);

  // Optimal blocks start at any row: the aligned kernel cannot hold them.
  const auto aligned =
      ubp({"export", "--db", db, "--run", id, "--kernel", "aligned", "--out", work.file("a.ubpm")});
  EXPECT_EQ(aligned.exit_code, 2);
  EXPECT_TRUE(contains(aligned.err, "layer 'features.")) << aligned.err;
  EXPECT_TRUE(contains(aligned.err, "--kernel unaligned")) << aligned.err;
  EXPECT_FALSE(fs::exists(work.file("a.ubpm")));

  // The kept file on its own gives the same bytes.
  const auto from_file = ubp({"export", "--checkpoint", kept.string(), "--kernel", "unaligned",
                              "--out", work.file("c.ubpm")});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(read_bytes(work.file("c.ubpm")), read_bytes(work.file("u.ubpm")));
}

TEST_F(ExportCommand, RefusesUnknownAndUnfinishedRunsAndMissingSources) {
  const std::string db = work.file("p.db");
  {
    auto store = results::Store::open(db);
    store.register_run("0123456789abcdef", "training", "{}", {});
  }
  auto r = ubp({"export", "--db", db, "--run", "feedfacefeedface", "--kernel", "dense", "--out",
                work.file("x.ubpm")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, db + ": no run 'feedfacefeedface' in the database; `ubp db runs " + db +
                                 "` lists its runs"))
      << r.err;
  r = ubp({"export", "--db", db, "--run", "0123456789abcdef", "--kernel", "dense", "--out",
           work.file("x.ubpm")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "run 0123456789abcdef is pending, not done")) << r.err;
  r = ubp({"export", "--kernel", "dense", "--out", work.file("x.ubpm")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "needs a source")) << r.err;
  r = ubp({"export", "--arch", "mobilenet_v1", "--kernel", "sparse", "--out", work.file("x.ubpm")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--kernel")) << r.err;
  EXPECT_FALSE(fs::exists(work.file("x.ubpm")));
}

TEST_F(ExportCommand, ExportsRandomModelsWithMasksFromTheSelectors) {
  auto r = ubp({"export", "--arch", "mobilenet_v1", "--width", "0.25", "--resolution", "32",
                "--classes", "10", "--method", "aligned", "--sparsity", "0.5", "--kernel",
                "aligned", "--out", work.file("m.ubpm")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const device::PackedModel m = device::read_model_file(work.file("m.ubpm"));
  EXPECT_EQ(m.input_shape, (std::array<int64_t, 3>{3, 32, 32}));
  EXPECT_EQ(count_storage(m, device::WeightStorage::kAligned), 13);
  EXPECT_TRUE(contains(r.out, "keep 50.00%")) << r.out;

  // ResNet-18's pointwise layers are its three downsample convolutions.
  r = ubp({"export", "--arch", "resnet18", "--resolution", "32", "--classes", "10", "--method",
           "bed", "--kernel", "unaligned", "--out", work.file("r.ubpm")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const device::PackedModel resnet = device::read_model_file(work.file("r.ubpm"));
  EXPECT_EQ(count_storage(resnet, device::WeightStorage::kUnaligned), 3);
  int adds = 0;
  for (const auto& layer : resnet.layers) adds += layer.kind == device::LayerKind::kAdd;
  EXPECT_EQ(adds, 8);
}

}  // namespace
}  // namespace ubp::testing

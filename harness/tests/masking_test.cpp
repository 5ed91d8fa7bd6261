// Block masks from the selectors on LibTorch weights, and masked weights staying exactly zero
// through SGD steps with Nesterov momentum and weight decay.
#include "training/masking.h"

#include <gtest/gtest.h>
#include <torch/autograd.h>

#include "data/datasets.h"
#include "models/mobilenet_v1.h"
#include "models/model_utils.h"
#include "tiny_mobilenet.h"
#include "training/train_step.h"

namespace ubp::training {
namespace {

at::Tensor seeded_randn(at::IntArrayRef sizes, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(sizes, gen, at::kFloat);
}

TEST(Masking, WeightMatrixIsTheIm2colView) {
  const at::Tensor w = seeded_randn({8, 4, 3, 3}, 1);
  const at::Tensor m = weight_matrix(w);
  ASSERT_EQ(m.sizes().vec(), (std::vector<int64_t>{8, 36}));
  // column index = cin * 9 + ky * 3 + kx
  EXPECT_EQ(m[5][2 * 9 + 1 * 3 + 2].item<float>(), w[5][2][1][2].item<float>());
}

TEST(Masking, SelectorsGiveBlockMasksWithTheBudget) {
  const at::Tensor w = seeded_randn({16, 8, 3, 3}, 2);  // 16 x 72
  for (const std::string method : {"aligned", "bed", "optimal", "greedy"}) {
    BlockMaskRequest r;
    r.method = method;
    r.block = {4, 1};
    r.sparsity = 0.75;
    const BlockMaskResult res = select_block_mask(w, r);
    EXPECT_EQ(res.budget, 16 * 72 / 4 / 4) << method;
    ASSERT_EQ(res.mask.sizes(), w.sizes()) << method;
    EXPECT_EQ(res.mask.sum().item<double>(), res.budget * 4.0) << method;
    EXPECT_TRUE(((res.mask == 0) | (res.mask == 1)).all().item<bool>()) << method;
    // Retained importance reported by the selector equals the importance under the mask.
    EXPECT_NEAR((w.abs() * res.mask).sum().item<double>(), res.selection.retained_importance, 1e-3) << method;
    // Each column's kept rows come in whole blocks of 4; aligned ones start at multiples of 4.
    const at::Tensor m2 = weight_matrix(res.mask);
    for (int64_t c = 0; c < 72; ++c) {
      int64_t run = 0;
      for (int64_t r = 0; r <= 16; ++r) {
        const bool kept = r < 16 && m2[r][c].item<float>() != 0;
        if (kept) {
          if (method == "aligned" && run == 0) {
            EXPECT_EQ(r % 4, 0) << method;
          }
          ++run;
        } else {
          EXPECT_EQ(run % 4, 0) << method << " column " << c;
          run = 0;
        }
      }
    }
  }
  BlockMaskRequest u;
  u.method = "unstructured";
  u.sparsity = 0.5;
  const BlockMaskResult res = select_block_mask(w, u);
  EXPECT_EQ(res.mask.sum().item<int64_t>(), 16 * 72 / 2);

  BlockMaskRequest bad;
  bad.method = "no-such-selector";
  EXPECT_THROW(select_block_mask(w, bad), algorithms::SelectionError);
}

TEST(Masking, OptimalKeepsAtLeastAsMuchAsAligned) {
  const at::Tensor w = seeded_randn({32, 16}, 3);
  BlockMaskRequest r;
  r.sparsity = 0.8;
  r.method = "aligned";
  const double aligned = select_block_mask(w, r).selection.retained_importance;
  r.method = "optimal";
  const double optimal = select_block_mask(w, r).selection.retained_importance;
  EXPECT_GE(optimal, aligned - 1e-4);
}

// A small MobileNetV1 whose pointwise layers are masked at 80% with BED 4x1, trained a few
// steps with SGD (Nesterov momentum 0.9, weight decay). Dense steps first, so momentum buffers
// already hold values at the positions that get pruned.
TEST(Masking, MaskedWeightsStayExactlyZeroThroughSgd) {
  models::MobileNetV1 model = testing::tiny_mobilenet(/*seed=*/0, /*num_classes=*/10, /*small_input=*/true);

  data::SyntheticOptions so;
  so.num_samples = 96;
  so.image_size = 16;
  data::BatchIterator batches(data::make_synthetic(so), 16, true, 1);
  batches.start_epoch(0);

  torch::optim::SGD sgd(model->parameters(),
                        torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-3));
  data::Batch batch;
  ASSERT_TRUE(batches.next(batch));
  train_step(*model, sgd, batch);  // dense step: fills every momentum buffer

  MaskSet masks;
  for (const auto& layer : models::prunable_layers(*model)) {
    if (layer.kind != models::LayerKind::kPointwise) continue;
    BlockMaskRequest r;
    r.method = "bed";
    r.sparsity = 0.8;
    masks.add(layer.name, layer.weight, select_block_mask(layer.weight, r).mask);
  }
  ASSERT_EQ(masks.size(), 13u);
  masks.apply_to_weights();
  masks.apply_to_momentum(sgd);

  std::vector<at::Tensor> before;
  for (const auto& e : masks.entries()) before.push_back(e.param.detach().clone());
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE(batches.next(batch));
    train_step(*model, sgd, batch, /*label_smoothing=*/0.1, &masks);
  }
  size_t i = 0;
  for (const auto& e : masks.entries()) {
    const at::Tensor pruned = e.mask == 0;
    EXPECT_EQ(e.param.detach().masked_select(pruned).abs().max().item<float>(), 0.0f) << e.name;
    auto& state = static_cast<torch::optim::SGDParamState&>(
        *sgd.state().at(c10::guts::to_string(e.param.unsafeGetTensorImpl())));
    EXPECT_EQ(state.momentum_buffer().masked_select(pruned).abs().max().item<float>(), 0.0f) << e.name;
    // The kept weights did train.
    EXPECT_FALSE(e.param.detach().masked_select(~pruned).equal(before[i].masked_select(~pruned))) << e.name;
    ++i;
  }
  EXPECT_NEAR(masks.weight_sparsity(), 0.8, 0.02);

  // Without masking the step, weight decay alone would not revive zeros, but momentum would:
  // check the guard is what keeps them at zero by stepping unmasked once.
  ASSERT_TRUE(batches.next(batch));
  train_step(*model, sgd, batch);
  EXPECT_LT(masks.weight_sparsity(), 0.5);
}

}  // namespace
}  // namespace ubp::training

// Layer choice and mask selection on real models: which layers are pruned by default, filters,
// exact budgets, the global allocation, and the records kept for the database.
#include "training/pruner.h"

#include <gtest/gtest.h>

#include "models/mobilenet_v1.h"
#include "models/resnet.h"
#include "tiny_mobilenet.h"

namespace ubp::training {
namespace {

models::MobileNetV1 small_mobilenet() { return testing::tiny_mobilenet(/*seed=*/3); }

TEST(SelectLayers, DefaultsToThePointwiseConvolutionsOnly) {
  auto model = small_mobilenet();
  const auto layers = select_layers(*model, LayerFilter{});
  ASSERT_EQ(layers.size(), 13u);
  for (const auto& l : layers) {
    EXPECT_EQ(l.kind, models::LayerKind::kPointwise) << l.name;
    EXPECT_NE(l.name.find(".pw"), std::string::npos) << l.name;
  }
}

TEST(SelectLayers, ARegexNarrowsTheChoiceAndAFilterMatchingNothingIsAClearError) {
  auto model = small_mobilenet();
  LayerFilter f;
  f.name_regex = "features\\.1[0-2]\\.";
  const auto layers = select_layers(*model, f);
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0].name, "features.10.pw");
  f.name_regex = "no_such_layer";
  try {
    select_layers(*model, f);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_layer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("features.0.pw"), std::string::npos) << e.what();
  }
  f.name_regex = "([";
  EXPECT_THROW(select_layers(*model, f), std::invalid_argument);
}

TEST(SelectLayers, TheClassifierAndFirstConvolutionJoinOnlyWhenAskedFor) {
  auto model = small_mobilenet();
  LayerFilter f;
  f.include_classifier = true;
  f.include_first_conv = true;
  const auto layers = select_layers(*model, f);
  ASSERT_EQ(layers.size(), 15u);
  EXPECT_EQ(layers.front().name, "conv1");
  EXPECT_EQ(layers.back().name, "fc");
}

TEST(ChooseMasks, KeepsExactlyTheBudgetAndRecordsEachLayer) {
  auto model = small_mobilenet();
  const auto layers = select_layers(*model, LayerFilter{});
  std::vector<at::Tensor> weights;
  for (const auto& l : layers) weights.push_back(l.weight.detach());
  PruneSpec spec;
  spec.method = "bed";
  spec.block = {4, 1};
  const auto masks = choose_masks(layers, weights, spec, 0.75);
  ASSERT_EQ(masks.size(), layers.size());
  for (size_t i = 0; i < masks.size(); ++i) {
    const auto& r = masks[i].record;
    EXPECT_EQ(r.layer, layers[i].name);
    EXPECT_EQ(r.method, "bed");
    EXPECT_EQ(r.rows * r.cols, layers[i].weight.numel());
    EXPECT_EQ(r.kept_blocks, algorithms::block_budget(r.rows, r.cols, spec.block, 0.75));
    const double kept = masks[i].mask.sum().item<double>();
    EXPECT_EQ(static_cast<int64_t>(kept), r.kept_blocks * 4) << r.layer;  // rows are multiples of 4 here
    EXPECT_NEAR(r.sparsity, 0.75, 1e-9);
    EXPECT_GT(r.retained_importance, 0.25 * r.total_importance);  // better than a random quarter
    EXPECT_LE(r.retained_importance, r.total_importance);
  }
}

TEST(ChooseMasks, GlobalAllocationKeepsTheOverallBudgetButNotEveryLayersShare) {
  auto model = small_mobilenet();
  const auto layers = select_layers(*model, LayerFilter{});
  std::vector<at::Tensor> scores;
  // Make the last layers' weights ten times larger: a global threshold must favour them.
  for (size_t i = 0; i < layers.size(); ++i) {
    scores.push_back(layers[i].weight.detach() * (i >= 10 ? 10.0 : 1.0));
  }
  PruneSpec spec;
  spec.method = "aligned";
  spec.allocation = algorithms::AllocationMode::kGlobal;
  const auto masks = choose_masks(layers, scores, spec, 0.8);
  int64_t kept = 0, total = 0;
  for (const auto& m : masks) {
    kept += m.mask.sum().item<int64_t>();
    total += m.mask.numel();
  }
  EXPECT_NEAR(1.0 - static_cast<double>(kept) / static_cast<double>(total), 0.8, 0.01);
  EXPECT_LT(masks.back().record.sparsity, 0.8);
  EXPECT_GT(masks.front().record.sparsity, 0.8);
}

TEST(ChooseMasks, SparsityZeroKeepsEverythingWithoutSelecting) {
  auto model = small_mobilenet();
  const auto layers = select_layers(*model, LayerFilter{});
  std::vector<at::Tensor> weights;
  for (const auto& l : layers) weights.push_back(l.weight.detach());
  const auto masks = choose_masks(layers, weights, PruneSpec{}, 0.0);
  for (const auto& m : masks) {
    EXPECT_EQ(m.mask.sum().item<int64_t>(), m.mask.numel());
    EXPECT_EQ(m.record.sparsity, 0.0);
    EXPECT_DOUBLE_EQ(m.record.retained_importance, m.record.total_importance);
  }
}

TEST(ChooseMasks, ResNetThreeByThreeLayersArePrunedAsCoutByCinTimesNine) {
  torch::manual_seed(1);
  models::ResNetOptions o;
  o.depth = 18;
  o.num_classes = 10;
  models::ResNet model(o);
  LayerFilter f;
  f.kinds = "conv";
  const auto layers = select_layers(*model, f);
  ASSERT_FALSE(layers.empty());
  EXPECT_EQ(layers.front().name, "layer1.0.conv1");
  std::vector<at::Tensor> weights{layers.front().weight.detach()};
  const auto masks = choose_masks({layers.front()}, weights, PruneSpec{}, 0.5);
  EXPECT_EQ(masks[0].record.rows, 64);
  EXPECT_EQ(masks[0].record.cols, 64 * 9);
  EXPECT_EQ(masks[0].mask.sizes(), layers.front().weight.sizes());
}

TEST(EmptyChannels, CountsTheRowsAndColumnsOfTheWeightMatrixWhereTheMaskKeepsNothing) {
  // A pointwise mask [4 out, 3 in, 1, 1]: output channel 1 and input channel 2 keep nothing.
  const at::Tensor mask = at::tensor({1.f, 1.f, 0.f,  //
                                      0.f, 0.f, 0.f,  //
                                      0.f, 1.f, 0.f,  //
                                      1.f, 0.f, 0.f})
                              .reshape({4, 3, 1, 1});
  const EmptyChannels e = empty_channels(mask);
  EXPECT_EQ(e.rows, 4);
  EXPECT_EQ(e.empty_rows, 1);
  EXPECT_EQ(e.cols, 3);
  EXPECT_EQ(e.empty_cols, 1);

  // A 3x3 convolution's matrix is Cout x (Cin * 9): a column is one input channel at one tap.
  const EmptyChannels full = empty_channels(at::ones({2, 2, 3, 3}));
  EXPECT_EQ(full.rows, 2);
  EXPECT_EQ(full.cols, 18);
  EXPECT_EQ(full.empty_rows + full.empty_cols, 0);
}

}  // namespace
}  // namespace ubp::training

// Over 500 lines: block decomposition, packed export and engine-vs-LibTorch agreement share the model builders.
// Export to packed-model files: the block list recovered from a mask is the one the mask was
// built from (random block lists of both kinds, edges included), masks that fit no block list
// are refused with the layer, column group and row named, and exported MobileNetV1 and ResNet
// models run through the device engine give LibTorch's outputs (random weights, random batch
// norm statistics and affine parameters, dense / aligned / unaligned storage of random block
// masks that are applied to the LibTorch weights too).
#include "export/packed_export.h"

#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <random>

#include <spdlog/sinks/null_sink.h>

#include "config/document.h"
#include "config/plan.h"
#include "experiments/training_experiment.h"
#include "export/block_decomposition.h"
#include "export/final_model.h"
#include "models/mobilenet_v1.h"
#include "models/resnet.h"
#include "support/temp_dir.h"
#include "training/masking.h"
#include "ubp/algorithms/blocks.h"
#include "ubp/device/engine.h"

namespace ubp::exporter {
namespace {

using kernels::Block;
using kernels::BlockShape;

std::vector<Block> sorted(std::vector<Block> blocks) {
  std::sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) {
    return a.col_group != b.col_group ? a.col_group < b.col_group : a.start_row < b.start_row;
  });
  return blocks;
}

std::string text(const std::vector<Block>& blocks) {
  std::string s;
  for (const auto& b : blocks)
    s += "(" + std::to_string(b.col_group) + "," + std::to_string(b.start_row) + ")";
  return s;
}

// A random list of non-overlapping blocks on the padded grid. Per column group one of: empty,
// full (every tile, so blocks are adjacent and the last one may run into the padding), or
// random runs; unaligned groups also get a block ending exactly at the last padded row.
std::vector<Block> random_blocks(int64_t rows, int64_t cols, BlockShape shape, BlockLayout layout,
                                 std::mt19937_64& rng) {
  const int64_t bh = shape.rows, padded = (rows + bh - 1) / bh * bh;
  const int64_t groups = (cols + shape.cols - 1) / shape.cols;
  std::vector<Block> blocks;
  std::uniform_real_distribution<double> u(0, 1);
  for (int64_t g = 0; g < groups; ++g) {
    const int pattern = static_cast<int>(rng() % 4);
    if (pattern == 0) continue;  // empty group
    if (pattern == 1) {
      for (int64_t r = 0; r + bh <= padded; r += bh) blocks.push_back({g, r});
      continue;
    }
    const bool touch_padding = layout == BlockLayout::kUnaligned && pattern == 2;
    const int64_t limit = touch_padding ? padded - bh : padded;  // rows left for random blocks
    int64_t r = 0;
    while (r + bh <= limit) {
      const bool aligned_here = r % bh == 0;
      if ((layout == BlockLayout::kUnaligned || aligned_here) && u(rng) < 0.35) {
        blocks.push_back({g, r});
        r += bh;
      } else {
        r += layout == BlockLayout::kAligned ? bh : 1;
      }
    }
    if (touch_padding && r <= padded - bh) blocks.push_back({g, padded - bh});
  }
  return blocks;
}

TEST(BlockDecomposition, RecoversRandomBlockListsOfBothKindsFromTheirMasks) {
  std::mt19937_64 rng(7);
  const BlockShape shapes[] = {{4, 1}, {8, 1}, {2, 2}, {1, 1}, {4, 3}, {2, 1}};
  const int64_t row_counts[] = {1, 3, 8, 10, 13, 33};
  const int64_t col_counts[] = {1, 5, 7};
  int checked = 0;
  for (const BlockShape shape : shapes) {
    for (const int64_t rows : row_counts) {
      for (const int64_t cols : col_counts) {
        for (const BlockLayout layout : {BlockLayout::kAligned, BlockLayout::kUnaligned}) {
          for (int trial = 0; trial < 4; ++trial) {
            const auto blocks = sorted(random_blocks(rows, cols, shape, layout, rng));
            const auto mask = mask_from_blocks(blocks, rows, cols, shape);
            const std::string where = std::to_string(rows) + "x" + std::to_string(cols) + " " +
                                      std::to_string(shape.rows) + "x" +
                                      std::to_string(shape.cols) + " " + to_string(layout) + " " +
                                      text(blocks);
            EXPECT_EQ(text(blocks_from_mask(mask, rows, cols, shape, BlockLayout::kUnaligned, "l")),
                      text(blocks))
                << where;
            if (layout == BlockLayout::kAligned) {
              EXPECT_EQ(text(blocks_from_mask(mask, rows, cols, shape, BlockLayout::kAligned, "l")),
                        text(blocks))
                  << where;
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 6 * 6 * 3 * 2 * 4);
}

TEST(BlockDecomposition, AgreesWithTheMasksTrainingBuildsFromSelectorBlocks) {
  // training::mask_from_blocks is how a run turns the selector's blocks into its mask.
  std::mt19937_64 rng(11);
  const at::Tensor weight = at::zeros({37, 6, 3, 3});  // 37 x 54, ragged for 4 rows and 4 columns
  for (const BlockShape shape : {BlockShape{4, 1}, BlockShape{8, 1}, BlockShape{4, 4}}) {
    const auto blocks = sorted(random_blocks(37, 54, shape, BlockLayout::kUnaligned, rng));
    std::vector<algorithms::Block> selector_blocks;
    for (const auto& b : blocks) selector_blocks.push_back({b.col_group, b.start_row});
    const at::Tensor mask = training::mask_from_blocks(
        weight, algorithms::make_grid(37, 54, {shape.rows, shape.cols}), selector_blocks);
    const at::Tensor flat = mask.reshape({-1}).contiguous();
    const std::vector<float> values(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
    EXPECT_EQ(text(blocks_from_mask(values, 37, 54, shape, BlockLayout::kUnaligned, "l")),
              text(blocks));
  }
}

TEST(BlockDecomposition, EdgesAdjacentBlocksAndThePaddingRows) {
  // 10 rows, 4-row blocks: padded to 12. Column 0: blocks at 0 and 4 (adjacent, rows 0..7);
  // column 1: a block at 7 keeps rows 7..9 and runs into the padding; column 2: empty;
  // column 3: full (blocks 0, 4, 8; the last keeps rows 8, 9); column 4: block at 2.
  const std::vector<Block> blocks = {{0, 0}, {0, 4}, {1, 7}, {3, 0}, {3, 4}, {3, 8}, {4, 2}};
  const auto mask = mask_from_blocks(blocks, 10, 5, {4, 1});
  EXPECT_EQ(text(blocks_from_mask(mask, 10, 5, {4, 1}, BlockLayout::kUnaligned, "l")),
            text(blocks));
  // Column 1's block at 7 and column 4's at 2 are not aligned.
  try {
    blocks_from_mask(mask, 10, 5, {4, 1}, BlockLayout::kAligned, "features.3.pw");
    FAIL() << "an unaligned mask was accepted as aligned";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("layer 'features.3.pw'"), std::string::npos) << m;
    EXPECT_NE(m.find("column group 1"), std::string::npos) << m;
    EXPECT_NE(m.find("row 7"), std::string::npos) << m;
    EXPECT_NE(m.find("--kernel unaligned"), std::string::npos) << m;
  }
}

std::string refusal(const std::vector<float>& mask, int64_t rows, int64_t cols, BlockShape shape,
                    BlockLayout layout) {
  try {
    blocks_from_mask(mask, rows, cols, shape, layout, "layer1.0.conv2");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(BlockDecomposition, RefusesMasksThatNoBlockListGives) {
  // Three kept rows in the middle of a 4-row grid: no whole number of blocks.
  std::vector<float> short_run(16, 0.0f);
  for (int r = 4; r < 7; ++r) short_run[static_cast<size_t>(r)] = 1;
  std::string m = refusal(short_run, 16, 1, {4, 1}, BlockLayout::kUnaligned);
  EXPECT_NE(m.find("layer 'layer1.0.conv2'"), std::string::npos) << m;
  EXPECT_NE(m.find("column group 0"), std::string::npos) << m;
  EXPECT_NE(m.find("row 7"), std::string::npos) << m;
  EXPECT_NE(m.find("--kernel dense"), std::string::npos) << m;
  // The last real row alone, where a block would run past the padded grid (10 -> 12 rows).
  std::vector<float> last_row(10, 0.0f);
  last_row[9] = 1;
  m = refusal(last_row, 10, 1, {4, 1}, BlockLayout::kUnaligned);
  EXPECT_NE(m.find("padded grid of 12 rows"), std::string::npos) << m;
  // The same run near the end is fine when the grid has room: rows 8 and 9 of 10.
  std::vector<float> tail(10, 0.0f);
  tail[8] = tail[9] = 1;
  EXPECT_EQ(refusal(tail, 10, 1, {4, 1}, BlockLayout::kUnaligned), "(accepted)");
  // 2x2 blocks whose two columns disagree on row 1.
  std::vector<float> split(4 * 2, 0.0f);  // 4 rows x 2 columns
  split[0 * 2 + 0] = split[0 * 2 + 1] = split[1 * 2 + 0] = 1;
  m = refusal(split, 4, 2, {2, 2}, BlockLayout::kUnaligned);
  EXPECT_NE(m.find("column group 0 (columns 0..1), row 1"), std::string::npos) << m;
}

// ---- LibTorch against the device engine ----

// Batch norm with statistics, affine parameters and eps far from the identity, so that folding
// is exercised: a fold that dropped the mean, gamma, beta or the module's own eps (0.1 here
// against variances from 0.05) would change the output by far more than the tolerance.
void randomize_batch_norms(torch::nn::Module& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->options.eps(0.1);
      bn->weight.copy_(at::rand(bn->weight.sizes(), gen) + 0.5);    // 0.5 .. 1.5
      bn->bias.copy_(at::rand(bn->bias.sizes(), gen) * 0.6 - 0.3);  // -0.3 .. 0.3
      bn->running_mean.copy_(at::rand(bn->running_mean.sizes(), gen) * 0.6 - 0.3);
      bn->running_var.copy_(at::rand(bn->running_var.sizes(), gen) * 1.95 + 0.05);  // .05 .. 2
    }
  }
}

// Random block masks of `layout` for every convolution but the stem and the depthwise ones,
// applied to the LibTorch weights.
std::map<std::string, at::Tensor> random_masks(models::Classifier& model, BlockShape shape,
                                               BlockLayout layout, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, at::Tensor> masks;
  torch::NoGradGuard no_grad;
  for (const auto& layer : models::prunable_layers(model)) {
    if (layer.kind != models::LayerKind::kPointwise && layer.kind != models::LayerKind::kConv)
      continue;
    const auto blocks = random_blocks(layer.rows, layer.cols, shape, layout, rng);
    std::vector<algorithms::Block> selector_blocks;
    for (const auto& b : blocks) selector_blocks.push_back({b.col_group, b.start_row});
    const at::Tensor mask = training::mask_from_blocks(
        layer.weight, algorithms::make_grid(layer.rows, layer.cols, {shape.rows, shape.cols}),
        selector_blocks);
    masks[layer.name] = mask;
  }
  return masks;
}

void apply_masks(models::Classifier& model, const std::map<std::string, at::Tensor>& masks) {
  torch::NoGradGuard no_grad;
  for (const auto& layer : models::prunable_layers(model)) {
    const auto it = masks.find(layer.name);
    if (it != masks.end()) layer.weight.mul_(it->second);
  }
}

struct Comparison {
  double max_abs_diff = 0, max_abs_ref = 0;
  double relative() const { return max_abs_diff / max_abs_ref; }
};

Comparison compare(models::Classifier& model, const device::PackedModel& packed,
                   const at::Tensor& input) {
  at::Tensor reference;
  {
    torch::NoGradGuard no_grad;
    model.eval();
    reference = model.forward(input).reshape({-1}).contiguous();
  }
  device::Engine engine(packed, 1);
  const at::Tensor x = input.reshape({-1}).contiguous();
  const std::vector<float> out =
      engine.run(std::vector<float>(x.data_ptr<float>(), x.data_ptr<float>() + x.numel()));
  Comparison c;
  EXPECT_EQ(static_cast<int64_t>(out.size()), reference.numel());
  if (static_cast<int64_t>(out.size()) != reference.numel()) return c;
  const float* ref = reference.data_ptr<float>();
  for (size_t i = 0; i < out.size(); ++i) {
    c.max_abs_diff = std::max(c.max_abs_diff, std::abs(static_cast<double>(out[i]) - ref[i]));
    c.max_abs_ref = std::max(c.max_abs_ref, std::abs(static_cast<double>(ref[i])));
  }
  return c;
}

// Float32 sums in another order (the kernels' panels and SIMD lanes, im2col, batch norm folded
// into the weights instead of applied after the convolution) round differently in every layer:
// about sqrt(K) * 2^-24 of a layer's magnitude, growing slowly over 20 to 70 layers. Observed
// here: at most 1e-6 of the largest logit (each case prints its figure). 2e-5 leaves room for
// other SIMD widths and compilers, while a real mistake (a lost bias, a wrong tap, a block in the
// wrong rows, batch norm folded with the wrong eps) moves the output by 1e-3 or more.
constexpr double kRelativeTolerance = 2e-5;

struct ModelCase {
  std::string label;
  models::ModelSpec spec;
  int64_t resolution;
  std::vector<BlockShape> shapes;
};

void check_against_libtorch(const ModelCase& c) {
  torch::manual_seed(21);
  auto model = models::make_model(c.spec);
  randomize_batch_norms(*model, 5);
  model->eval();
  ExportOptions options;
  options.input_shape = {c.spec.in_channels, c.resolution, c.resolution};
  options.name = c.label;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor input =
      at::rand({1, c.spec.in_channels, c.resolution, c.resolution}, gen) * 2 - 1;

  {  // No masks at all: every layer dense.
    const auto packed = export_model(*model, {}, options);
    const Comparison r = compare(*model, packed, input);
    std::printf("  %s unmasked dense: max |diff| %.3g, max |out| %.3g, relative %.3g\n",
                c.label.c_str(), r.max_abs_diff, r.max_abs_ref, r.relative());
    EXPECT_LE(r.relative(), kRelativeTolerance) << c.label;
  }
  const auto state = [&] {  // the unmasked weights, restored between mask sets
    std::vector<at::Tensor> saved;
    for (const auto& p : model->parameters()) saved.push_back(p.detach().clone());
    return saved;
  }();
  uint64_t seed = 100;
  for (const BlockShape shape : c.shapes) {
    options.block = {shape.rows, shape.cols};
    for (const BlockLayout layout : {BlockLayout::kAligned, BlockLayout::kUnaligned}) {
      {
        torch::NoGradGuard no_grad;
        const auto params = model->parameters();
        for (size_t i = 0; i < params.size(); ++i) params[i].copy_(state[i]);
      }
      const auto masks = random_masks(*model, shape, layout, seed++);
      apply_masks(*model, masks);
      // Dense storage takes any mask; the mask's own layout packs it (unaligned masks also for
      // the naive unaligned kernel).
      std::vector<ExportKernel> kernels = {ExportKernel::kDense};
      if (layout == BlockLayout::kAligned) {
        kernels.push_back(ExportKernel::kAligned);
      } else {
        kernels.push_back(ExportKernel::kUnaligned);
        kernels.push_back(ExportKernel::kUnalignedNaive);
      }
      for (const ExportKernel kernel : kernels) {
        options.kernel = kernel;
        const auto packed = export_model(*model, masks, options);
        const ExportSummary summary = summarize_export(packed, masks);
        EXPECT_EQ(summary.masked_layers, static_cast<int64_t>(masks.size()));
        EXPECT_EQ(kernel == ExportKernel::kAligned          ? summary.aligned
                  : kernel == ExportKernel::kUnaligned      ? summary.unaligned
                  : kernel == ExportKernel::kUnalignedNaive ? summary.unaligned_naive
                                                            : 0,
                  kernel == ExportKernel::kDense ? 0 : static_cast<int64_t>(masks.size()));
        const Comparison r = compare(*model, packed, input);
        std::printf(
            "  %s %dx%d %s masks, %s storage (keeps %.0f%%): max |diff| %.3g, max |out| "
            "%.3g, relative %.3g\n",
            c.label.c_str(), shape.rows, shape.cols, to_string(layout).c_str(),
            to_string(kernel).c_str(), 100 * summary.kept_fraction, r.max_abs_diff, r.max_abs_ref,
            r.relative());
        EXPECT_LE(r.relative(), kRelativeTolerance)
            << c.label << " " << to_string(layout) << " masks, " << to_string(kernel);
      }
    }
  }
}

models::ModelSpec spec_of(const std::string& name, double width, bool small_input = false) {
  models::ModelSpec s;
  s.name = name;
  s.width = width;
  s.num_classes = 100;
  s.in_channels = 3;
  s.small_input = small_input;
  return s;
}

TEST(ExportAgainstLibTorch, MobileNetV1Width025) {
  check_against_libtorch(
      {"mobilenet_v1 0.25 @64", spec_of("mobilenet_v1", 0.25), 64, {{4, 1}, {8, 1}, {2, 2}}});
}

TEST(ExportAgainstLibTorch, MobileNetV1Width1) {
  check_against_libtorch(
      {"mobilenet_v1 1.0 @64", spec_of("mobilenet_v1", 1.0), 64, {{4, 1}, {8, 1}}});
}

TEST(ExportAgainstLibTorch, ResNet18StandardStemAndSmallInput) {
  check_against_libtorch({"resnet18 @64", spec_of("resnet18", 1.0), 64, {{4, 1}, {2, 2}}});
  check_against_libtorch(
      {"resnet18 small_input @32", spec_of("resnet18", 1.0, true), 32, {{4, 1}}});
}

TEST(ExportAgainstLibTorch, ResNet50) {
  check_against_libtorch({"resnet50 @64", spec_of("resnet50", 1.0), 64, {{4, 1}, {8, 1}}});
}

TEST(ExportAgainstLibTorch, TheComparisonSeesABatchNormFoldedWithTheWrongEps) {
  // The tolerance is meaningful only if a plausible folding mistake exceeds it by far.
  torch::manual_seed(21);
  auto model = models::make_model(spec_of("mobilenet_v1", 0.25));
  randomize_batch_norms(*model, 5);
  ExportOptions options;
  options.input_shape = {3, 64, 64};
  auto set_eps = [&](double eps) {
    for (const auto& m : model->modules(/*include_self=*/false)) {
      if (auto* bn = m->as<torch::nn::BatchNorm2d>()) bn->options.eps(eps);
    }
  };
  set_eps(1e-5);  // LibTorch's default, as an export that ignored the module's eps would use
  const auto wrong = export_model(*model, {}, options);
  set_eps(0.1);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor input = at::rand({1, 3, 64, 64}, gen) * 2 - 1;
  EXPECT_GT(compare(*model, wrong, input).relative(), 100 * kRelativeTolerance);
  EXPECT_LE(compare(*model, export_model(*model, {}, options), input).relative(),
            kRelativeTolerance);
}

// ---- structure and errors ----

TEST(Export, ResNet50LayersRunInExecutionOrderWithTheShortcutReadingTheBlockInput) {
  torch::manual_seed(1);
  auto model = models::make_model(spec_of("resnet50", 1.0));
  ExportOptions options;
  options.input_shape = {3, 64, 64};
  const auto packed = export_model(*model, {}, options);
  // stem conv + max pool, 16 bottlenecks of 3 convolutions and an add, 4 shortcuts, pool, fc.
  ASSERT_EQ(packed.layers.size(), 2u + 16 * 4 + 4 + 2);
  EXPECT_EQ(packed.layers[1].name, "maxpool");
  // layer1.0: conv1 (2), conv2 (3), conv3 (4), downsample (5) reading the max pool's output,
  // add (6) of conv3 to the shortcut.
  EXPECT_EQ(packed.layers[5].name, "layer1.0.downsample.0");
  EXPECT_EQ(packed.layers[5].input_from, 1);
  EXPECT_EQ(packed.layers[6].kind, device::LayerKind::kAdd);
  EXPECT_EQ(packed.layers[6].residual_from, 4);
  // layer1.1 has no downsample: its add reads the block input, layer1.0's add.
  EXPECT_EQ(packed.layers[10].name, "layer1.1.add");
  EXPECT_EQ(packed.layers[10].residual_from, 6);
  EXPECT_EQ(packed.layers.back().output_shape, (std::array<int64_t, 3>{100, 1, 1}));
}

std::string export_error(models::Classifier& model, const std::map<std::string, at::Tensor>& masks,
                         ExportKernel kernel) {
  ExportOptions options;
  options.input_shape = {3, 32, 32};
  options.kernel = kernel;
  try {
    export_model(model, masks, options);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(exported)";
}

TEST(Export, RefusesMasksThatDoNotFitTheKernelOrTheModel) {
  torch::manual_seed(2);
  auto model = models::make_model(spec_of("mobilenet_v1", 0.25));
  // features.3.pw is 64 x 32: one 4x1 block at row 1 of column 5.
  at::Tensor unaligned = at::zeros({64, 32, 1, 1});
  unaligned.slice(0, 1, 5).select(1, 5).fill_(1);
  const std::map<std::string, at::Tensor> masks{{"features.3.pw", unaligned}};
  EXPECT_EQ(export_error(*model, masks, ExportKernel::kUnaligned), "(exported)");
  EXPECT_EQ(export_error(*model, masks, ExportKernel::kDense), "(exported)");
  std::string m = export_error(*model, masks, ExportKernel::kAligned);
  EXPECT_NE(m.find("layer 'features.3.pw'"), std::string::npos) << m;
  EXPECT_NE(m.find("column group 5"), std::string::npos) << m;
  EXPECT_NE(m.find("row 1"), std::string::npos) << m;
  EXPECT_NE(m.find("unaligned"), std::string::npos) << m;

  m = export_error(*model, {{"features.99.pw", unaligned}}, ExportKernel::kDense);
  EXPECT_NE(m.find("'features.99.pw'"), std::string::npos) << m;
  EXPECT_NE(m.find("features.12.pw"), std::string::npos) << m;  // the layers that exist
  m = export_error(*model, {{"features.2.pw", unaligned}}, ExportKernel::kDense);
  EXPECT_NE(m.find("layer 'features.2.pw': the mask has shape 64x32x1x1, the weight 32x32x1x1"),
            std::string::npos)
      << m;
}

TEST(Export, MasksChosenForExportComeFromTheSelectorsOnThePointwiseLayers) {
  torch::manual_seed(4);
  auto model = models::make_model(spec_of("mobilenet_v1", 0.25));
  MaskChoice choice;
  choice.method = "aligned";
  choice.sparsity = 0.75;
  const auto masks = choose_masks_for_export(*model, choice);
  ASSERT_EQ(masks.size(), 13u);
  ExportOptions options;
  options.input_shape = {3, 32, 32};
  options.kernel = ExportKernel::kAligned;
  const auto packed = export_model(*model, masks, options);
  const ExportSummary s = summarize_export(packed, masks);
  EXPECT_EQ(s.aligned, 13);
  EXPECT_EQ(s.dense, 1 + 13 + 1);  // stem, depthwise layers, fc
  EXPECT_NEAR(s.kept_fraction, 0.25, 0.01);
  choice.method = "none";
  EXPECT_TRUE(choose_masks_for_export(*model, choice).empty());
}

TEST(Export, AWrittenFileReadsBackToTheSameOutputs) {
  torch::manual_seed(6);
  auto model = models::make_model(spec_of("mobilenet_v1", 0.25));
  randomize_batch_norms(*model, 8);
  const auto masks = random_masks(*model, {4, 1}, BlockLayout::kUnaligned, 9);
  apply_masks(*model, masks);
  ExportOptions options;
  options.input_shape = {3, 32, 32};
  std::vector<float> input(3 * 32 * 32);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : input) v = u(rng);
  testing::TempDir dir;
  std::map<ExportKernel, std::vector<float>> outputs;
  for (const ExportKernel kernel : {ExportKernel::kUnaligned, ExportKernel::kUnalignedNaive}) {
    options.kernel = kernel;
    const auto packed = export_model(*model, masks, options);
    const std::string path = dir.file(to_string(kernel) + ".ubpm");
    device::write_model_file(path, packed);
    const auto read = device::read_model_file(path);
    int64_t stored = 0;
    for (const auto& layer : read.layers) {
      stored += layer.has_weights() && device::to_string(layer.weights.storage) == to_string(kernel);
    }
    EXPECT_EQ(stored, static_cast<int64_t>(masks.size())) << to_string(kernel);
    device::Engine a(packed, 1), b(read, 1);
    outputs[kernel] = b.run(input);
    EXPECT_EQ(a.run(input), outputs[kernel]) << to_string(kernel);
  }
  // The naive kernel computes what WROS computes, in the same order: the same bits.
  EXPECT_EQ(outputs[ExportKernel::kUnalignedNaive], outputs[ExportKernel::kUnaligned]);
}

// ---- the final model a training run keeps ----

nlohmann::json tiny_training_config(const std::string& prune) {
  const auto doc = config::load_config_text(
      "experiment: {kind: training, seed: 1}\n"
      "data: {dataset: synthetic, image_size: 28, train_limit: 128, test_limit: 64}\n"
      "model: {name: mobilenet_v1, width: 0.25}\n"
      "train: {epochs: 1, batch_size: 32, lr: 0.05, threads: 1}\n"
      "prune: " +
          prune + "\n",
      "t.yaml");
  return config::ubp_schema().resolve(doc.tree, "training");
}

// Runs the training kind as the runner does and loads the model it kept.
SavedModel run_and_load(const nlohmann::json& cfg, const testing::TempDir& dir) {
  experiments::RunContext ctx;
  ctx.run_id = "r1";
  ctx.work_dir = dir.file("work/r1");
  ctx.cache_dir = dir.file("cache");
  ctx.models_dir = dir.file("models/r1");
  spdlog::logger quiet("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  experiments::TrainingExperiment().run(cfg, ctx, quiet);
  return load_saved_model(dir.file("models/r1/model.pt"));
}

TEST(FinalModel, ATrainingRunKeepsItsPrunedModelMasksAndConfigForExport) {
  const nlohmann::json cfg = tiny_training_config(
      "{method: bed, sparsity: 0.75, ramp_epochs: 0.5, finetune_epochs: 0.5, update_every: 1}");
  testing::TempDir dir;
  const SavedModel saved = run_and_load(cfg, dir);
  EXPECT_EQ(saved.run_id, "r1");
  EXPECT_EQ(saved.config, cfg);
  EXPECT_EQ(saved.spec.name, "mobilenet_v1");
  EXPECT_EQ(saved.input_shape, (std::array<int64_t, 3>{1, 28, 28}));
  EXPECT_EQ(saved.block.rows, 4);
  ASSERT_EQ(saved.masks.size(), 13u);
  // The kept weights are the pruned ones: zero wherever the mask is.
  for (const auto& layer : models::prunable_layers(*saved.model)) {
    if (layer.kind != models::LayerKind::kPointwise) continue;  // the run prunes pointwise only
    const auto it = saved.masks.find(layer.name);
    ASSERT_NE(it, saved.masks.end()) << layer.name;
    EXPECT_EQ((layer.weight.detach() * (1 - it->second)).abs().max().item<float>(), 0.0f)
        << layer.name;
    EXPECT_NEAR(it->second.mean().item<double>(), 0.25, 1e-9) << layer.name;
  }
  // ... and export: BED's blocks start at any row, which the unaligned kernel holds.
  ExportOptions options;
  options.input_shape = saved.input_shape;
  options.block = saved.block;
  options.kernel = ExportKernel::kUnaligned;
  EXPECT_EQ(
      summarize_export(export_model(*saved.model, saved.masks, options), saved.masks).unaligned,
      13);
}

TEST(FinalModel, AnUnprunedRunKeepsItsDenseModelWithoutMasks) {
  const nlohmann::json cfg = tiny_training_config("{method: none}");
  testing::TempDir dir;
  const SavedModel saved = run_and_load(cfg, dir);
  EXPECT_EQ(saved.config, cfg);
  EXPECT_TRUE(saved.masks.empty());
  ExportOptions options;
  options.input_shape = saved.input_shape;
  options.kernel = ExportKernel::kAligned;
  EXPECT_EQ(summarize_export(export_model(*saved.model, saved.masks, options), saved.masks).dense,
            28);
}

}  // namespace
}  // namespace ubp::exporter

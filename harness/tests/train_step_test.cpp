// Fifty SGD steps (5 epochs x 10 batches of 32, about 3 s) of a small MobileNetV1 0.25 on the synthetic data reduce the loss, and
// evaluate() reports consistent top-1/top-5 once the batch-norm statistics describe the trained weights.
#include "training/train_step.h"

#include <gtest/gtest.h>

#include "models/mobilenet_v1.h"
#include "tiny_mobilenet.h"

namespace ubp::training {
namespace {

TEST(TrainStep, TinyTrainingReducesTheLoss) {
  models::MobileNetV1 model = testing::tiny_mobilenet(/*seed=*/0, /*num_classes=*/10, /*small_input=*/true);

  data::SyntheticOptions so;
  so.num_samples = 320;
  so.image_size = 28;
  so.seed = 5;
  const data::TensorDataset train = data::make_synthetic(so);
  data::BatchIterator batches(train, 32, /*shuffle=*/true, /*seed=*/11);
  torch::optim::SGD sgd(model->parameters(),
                        torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(4e-5));

  data::BatchIterator eval_batches(train, 64, false, 0);
  const EvalResult before = evaluate(*model, eval_batches);
  std::vector<double> losses;
  for (int epoch = 0; epoch < 5; ++epoch) {
    batches.start_epoch(epoch);
    data::Batch batch;
    while (batches.next(batch)) losses.push_back(train_step(*model, sgd, batch, 0.1).loss);
  }
  ASSERT_EQ(losses.size(), 50u);
  const double first = (losses[0] + losses[1] + losses[2]) / 3;
  const double last = (losses[47] + losses[48] + losses[49]) / 3;
  EXPECT_LT(last, first * 0.8) << "first " << first << " last " << last;

  // Evaluation mode normalises with the batch-norm running statistics, which follow the weights
  // with momentum 0.1 and lag them after 50 fast-moving steps by an amount that depends on the
  // CPU's rounding (on an AVX2 Zen host the lag alone put the evaluation loss above the start).
  // Recomputed on the training batches as a plain average, they describe the trained weights.
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::nn::BatchNorm2dImpl*> norms;
    for (const auto& module : model->modules(/*include_self=*/false)) {
      if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        bn->reset_running_stats();
        bn->options.momentum(c10::nullopt);  // cumulative average over the batches seen
        norms.push_back(bn);
      }
    }
    ASSERT_FALSE(norms.empty());
    model->train();
    batches.start_epoch(5);
    data::Batch batch;
    while (batches.next(batch)) model->forward(batch.images);
    for (auto* bn : norms) bn->options.momentum(0.1);
  }
  const EvalResult after = evaluate(*model, eval_batches);
  EXPECT_EQ(after.count, 320);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_GT(after.top1, 0.5);
  EXPECT_GE(after.top5, after.top1);
  EXPECT_LE(after.top5, 1.0);
}

}  // namespace
}  // namespace ubp::training

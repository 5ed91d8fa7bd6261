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
  const int64_t epoch_batches = batches.batches_per_epoch();
  ASSERT_EQ(recalibrate_batch_norm(*model, batches, /*epoch=*/5, /*max_batches=*/1000), epoch_batches);
  const EvalResult after = evaluate(*model, eval_batches);
  EXPECT_EQ(after.count, 320);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_GT(after.top1, 0.5);
  EXPECT_GE(after.top5, after.top1);
  EXPECT_LE(after.top5, 1.0);
}

TEST(RecalibrateBatchNorm, SetsTheStemStatisticsToTheAverageOverTheBatchesAndRestoresMomentum) {
  models::MobileNetV1 model = testing::tiny_mobilenet(/*seed=*/1, /*num_classes=*/10, /*small_input=*/true);
  data::SyntheticOptions so;
  so.num_samples = 96;
  so.image_size = 28;
  so.seed = 2;
  data::BatchIterator batches(data::make_synthetic(so), 32, /*shuffle=*/true, /*seed=*/3);
  const std::vector<at::Tensor> weights_before = [&] {
    std::vector<at::Tensor> w;
    for (const auto& t : model->parameters()) w.push_back(t.detach().clone());
    return w;
  }();

  ASSERT_EQ(recalibrate_batch_norm(*model, batches, /*epoch=*/4, /*max_batches=*/2), 2);

  // The stem's batch norm sees conv1's output: its running statistics must be the average of
  // the two batches' means and unbiased variances per channel.
  torch::NoGradGuard no_grad;
  batches.start_epoch(4);
  at::Tensor mean_sum, var_sum;
  data::Batch batch;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(batches.next(batch));
    const at::Tensor x = model->conv1->forward(batch.images).transpose(0, 1).flatten(1);
    const at::Tensor m = x.mean(1), v = x.var(1, /*unbiased=*/true);
    mean_sum = i == 0 ? m : mean_sum + m;
    var_sum = i == 0 ? v : var_sum + v;
  }
  EXPECT_TRUE(at::allclose(model->bn1->running_mean, mean_sum / 2, 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(model->bn1->running_var, var_sum / 2, 1e-4, 1e-5));
  EXPECT_EQ(model->bn1->options.momentum(), c10::optional<double>(0.1));

  // Only the buffers change: every weight is as it was.
  const auto params = model->parameters();
  ASSERT_EQ(params.size(), weights_before.size());
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i], weights_before[i])) << i;

  // The result does not depend on the statistics it replaces.
  const at::Tensor first_mean = model->bn1->running_mean.clone();
  model->bn1->running_mean.fill_(7.0);
  ASSERT_EQ(recalibrate_batch_norm(*model, batches, 4, 2), 2);
  EXPECT_TRUE(at::equal(model->bn1->running_mean, first_mean));
  EXPECT_EQ(recalibrate_batch_norm(*model, batches, 4, 0), 0);
}

}  // namespace
}  // namespace ubp::training

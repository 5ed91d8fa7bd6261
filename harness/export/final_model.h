// The final model of a training run, kept after the run is done so it can be exported
// (`ubp export --db DB --run ID`, packed_export.h).
//
// A finished `kind: training` run writes <db dir>/models/<run id>/model.pt: a training
// checkpoint (training/checkpoint.h) without optimizer state whose tensors are the masks
// ("mask/<layer>", none for an unpruned run) and whose meta holds
//   run_id       the run's id
//   config       the resolved config
//   model        {"name", "width", "num_classes", "in_channels", "small_input"} (ModelSpec)
//   input_shape  [C, H, W] of the network input
//   block        [bh, bw], the grid the masks were chosen on
// Part of ubp_training (the training experiment writes it); no device/ dependency.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "models/classifier.h"
#include "models/model_utils.h"
#include "ubp/algorithms/blocks.h"

namespace ubp::exporter {

inline constexpr const char* kFinalModelFile = "model.pt";

struct SavedModel {
  std::shared_ptr<models::Classifier> model;  // weights loaded, in eval mode
  models::ModelSpec spec;
  std::map<std::string, at::Tensor> masks;  // by layer name
  algorithms::BlockShape block{4, 1};
  std::array<int64_t, 3> input_shape{};
  std::string run_id;
  nlohmann::json config;  // the run's resolved config
};

// Writes `saved` (everything but `model`, whose weights come from `model`) to `path`
// atomically. Throws std::runtime_error naming the file.
void save_final_model(const std::string& path, const SavedModel& saved, models::Classifier& model);

// Throws std::runtime_error naming the file when it is missing, damaged or lacks the meta keys.
SavedModel load_saved_model(const std::string& path);

}  // namespace ubp::exporter

#include "export/final_model.h"

#include <stdexcept>

#include "training/checkpoint.h"

namespace ubp::exporter {

namespace {
constexpr const char* kMaskPrefix = "mask/";
}  // namespace

void save_final_model(const std::string& path, const SavedModel& saved, models::Classifier& model) {
  training::Checkpoint c;
  c.meta = {{"run_id", saved.run_id},
            {"config", saved.config},
            {"model",
             {{"name", saved.spec.name},
              {"width", saved.spec.width},
              {"num_classes", saved.spec.num_classes},
              {"in_channels", saved.spec.in_channels},
              {"small_input", saved.spec.small_input}}},
            {"input_shape", saved.input_shape},
            {"block", {saved.block.rows, saved.block.cols}}};
  for (const auto& [name, mask] : saved.masks) c.tensors[kMaskPrefix + name] = mask;
  training::save_checkpoint(path, c, model, nullptr);
}

SavedModel load_saved_model(const std::string& path) {
  const auto meta = training::read_checkpoint_meta(path);
  if (!meta) throw std::runtime_error("model file " + path + " does not exist");
  SavedModel saved;
  try {
    const nlohmann::json& m = meta->at("model");
    saved.spec.name = m.at("name").get<std::string>();
    saved.spec.width = m.at("width").get<double>();
    saved.spec.num_classes = m.at("num_classes").get<int64_t>();
    saved.spec.in_channels = m.at("in_channels").get<int64_t>();
    saved.spec.small_input = m.at("small_input").get<bool>();
    saved.input_shape = meta->at("input_shape").get<std::array<int64_t, 3>>();
    const auto block = meta->at("block").get<std::array<int, 2>>();
    saved.block = {block[0], block[1]};
    saved.run_id = meta->value("run_id", "");
    saved.config = meta->value("config", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("model file " + path + " lacks the final-model metadata (model, " +
                             "input_shape, block: " + e.what() +
                             "); it is not the final model of a training run");
  }
  saved.model = models::make_model(saved.spec);
  auto checkpoint = training::load_checkpoint(path, *saved.model, nullptr);
  if (!checkpoint) throw std::runtime_error("model file " + path + " does not exist");
  const std::string prefix = kMaskPrefix;
  for (const auto& [name, tensor] : checkpoint->tensors) {
    if (name.rfind(prefix, 0) == 0) saved.masks[name.substr(prefix.size())] = tensor;
  }
  saved.model->eval();
  return saved;
}

}  // namespace ubp::exporter

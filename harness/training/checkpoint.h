// Training state on disk: the model, the optimizer (momentum buffers), named extra tensors
// (masks, ADMM's Z and U) and a JSON document (position, metrics so far).
//
// A checkpoint is written to "<path>.tmp", flushed to disk, then renamed over <path>, so a kill
// at any moment leaves either the previous checkpoint or the new one, never a torn file.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/optim/sgd.h>

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ubp::training {

struct Checkpoint {
  nlohmann::json meta;                        // anything JSON; "format" is set on save
  std::map<std::string, at::Tensor> tensors;  // named extras
};

// Throws std::runtime_error naming the file when it cannot be written.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint, torch::nn::Module& model,
                     torch::optim::SGD* optimizer);

// nullopt when `path` does not exist. Restores the model (and the optimizer when given) in
// place. Throws std::runtime_error naming the file when it is damaged or from another format.
std::optional<Checkpoint> load_checkpoint(const std::string& path, torch::nn::Module& model,
                                          torch::optim::SGD* optimizer);

// Only the JSON document, without touching a model (nullopt when the file does not exist).
std::optional<nlohmann::json> read_checkpoint_meta(const std::string& path);

}  // namespace ubp::training

// Pretrained weights: reading a PyTorch state_dict (`torch.save(model.state_dict(), path)`) or
// a TorchScript archive (`torch.jit.save` / `ScriptModule.save`) and copying it into one of our
// models by parameter name, plus writing our own models' weights in the same state_dict form.
//
// Our ResNets use torchvision's names, so torchvision's weights load one to one. MobileNetV1
// has no torchvision counterpart: its files come from save_state_dict below.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "models/torch_pickle.h"

namespace ubp::models {

// Every problem reading or matching a weights file; the message names the file.
class WeightImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class WeightFileFormat { kStateDict, kTorchScript };
const char* to_string(WeightFileFormat format);  // "PyTorch state_dict" | "TorchScript archive"

struct WeightsFile {
  WeightFileFormat format = WeightFileFormat::kStateDict;
  NamedTensors tensors;  // parameters and buffers by state_dict key, on the CPU
};

// Reads either format, told apart by content (not by the extension). Throws WeightImportError
// naming the file when it is missing, unreadable, damaged or truncated, or neither format.
WeightsFile read_weights_file(const std::string& path);

struct WeightImportOptions {
  // Keys missing from the file or unknown to the model are errors; when false they are listed
  // in the report's `skipped` instead. Shape mismatches are errors either way.
  bool strict = true;
  // Leaves the model's classifier (`classifier_prefix` keys) as initialised when the file's
  // classifier has another number of classes: fine-tuning an ImageNet model on fewer classes.
  bool skip_classifier_on_class_mismatch = false;
  std::string classifier_prefix = "fc.";
  // ECMAScript regular expression searched for in every key (anchor it with ^...$ to match
  // whole keys); matching keys are neither loaded nor reported missing or unexpected.
  std::string exclude;
};

struct SkippedKey {
  std::string key;
  std::string reason;
};

struct WeightImportReport {
  WeightFileFormat format = WeightFileFormat::kStateDict;
  std::vector<std::string> loaded;  // model keys that now hold the file's values
  std::vector<SkippedKey> skipped;  // keys of the model or of the file left alone, and why
};

// Copies the file's tensors into `model`'s parameters and buffers (in place, so optimizers
// holding them stay valid), converting the dtype where they differ. All problems (missing
// keys, unexpected keys, shape mismatches) are reported together in one WeightImportError;
// nothing is copied unless everything matches. A `num_batches_tracked` counter the file lacks
// (files from before PyTorch 0.4.1) keeps the model's value instead of counting as missing.
WeightImportReport import_weights(torch::nn::Module& model, const std::string& path,
                                  const WeightImportOptions& options = {});

// The module's parameters and buffers by state_dict key (LibTorch's registration order).
NamedTensors module_state(torch::nn::Module& module);

// Writes the tensors (or the module's state) as a state_dict file that read_weights_file,
// import_weights and Python's torch.load all read. Written to "<path>.tmp" and renamed, so an
// interrupted save leaves no torn file. Throws WeightImportError naming the file.
void save_state_dict(const NamedTensors& tensors, const std::string& path);
void save_state_dict(torch::nn::Module& module, const std::string& path);

}  // namespace ubp::models

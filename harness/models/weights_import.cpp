#include "models/weights_import.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "io/zip_archive.h"
#include "ubp/support/atomic_file.h"

namespace ubp::models {

namespace fs = std::filesystem;

namespace {

constexpr const char* kAccepted =
    "accepted: a PyTorch state_dict saved with torch.save(model.state_dict(), path), or a TorchScript "
    "archive saved with torch.jit.save or ScriptModule.save";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw WeightImportError("weights file '" + path + "' " + what);
}

// LibTorch's errors carry a C++ backtrace that says nothing to someone holding a bad file.
std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

std::string shape_text(at::IntArrayRef sizes) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
  out << ']';
  return out.str();
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// BatchNorm's step counter: it only matters for momentum=None, and files written before
// PyTorch 0.4.1 do not have it.
bool is_batch_counter(const std::string& key) {
  static const std::string kName = "num_batches_tracked";
  return key == kName || (key.size() > kName.size() && key.compare(key.size() - kName.size() - 1, std::string::npos,
                                                                   "." + kName) == 0);
}

WeightsFile read_state_dict_archive(caffe2::serialize::PyTorchStreamReader& reader, const std::string& path) {
  try {
    if (reader.hasRecord("byteorder")) {
      const auto [order, size] = reader.getRecord("byteorder");
      const std::string text(static_cast<const char*>(order.get()), size);
      if (text != "little") fail(path, "stores its tensors in '" + text + "' byte order; only little-endian is read");
    }
    const auto [pickle_data, pickle_size] = reader.getRecord("data.pkl");
    const std::string pickle(static_cast<const char*>(pickle_data.get()), pickle_size);
    const StorageLoader load_storage = [&reader](const std::string& key, at::ScalarType dtype, int64_t numel) {
      const std::string record = "data/" + key;
      if (!reader.hasRecord(record)) throw std::runtime_error("the storage record '" + record + "' is missing");
      const auto [data, size] = reader.getRecord(record);
      // numel comes from the pickle: compared by division, so no product can wrap around.
      const size_t element = at::elementSize(dtype);
      const bool fits = numel >= 0 && static_cast<uint64_t>(numel) <= size / element;
      const size_t needed = fits ? static_cast<size_t>(numel) * element : 0;
      if (!fits) {
        throw std::runtime_error("the storage record '" + record + "' holds " + std::to_string(size) +
                                 " bytes, too few for its " + std::to_string(numel) + " " + at::toString(dtype) +
                                 " elements of " + std::to_string(element) + " bytes");
      }
      at::Tensor storage = at::empty({numel}, at::TensorOptions().dtype(dtype));
      if (needed > 0) std::memcpy(storage.data_ptr(), data.get(), needed);
      return storage;
    };
    return {WeightFileFormat::kStateDict, unpickle_tensor_dict(pickle, load_storage)};
  } catch (const WeightImportError&) {
    throw;
  } catch (const std::exception& e) {
    fail(path, "(a PyTorch state_dict archive) cannot be read: " + message_of(e));
  }
}

WeightsFile read_torchscript(const std::string& path) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, at::Device(at::kCPU));
  } catch (const std::exception& e) {
    fail(path, "(a TorchScript archive) cannot be loaded: " + message_of(e));
  }
  WeightsFile out;
  out.format = WeightFileFormat::kTorchScript;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.tensors.emplace_back(p.name, p.value.detach());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.tensors.emplace_back(b.name, b.value.detach());
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string count_of(size_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

}  // namespace

const char* to_string(WeightFileFormat format) {
  return format == WeightFileFormat::kTorchScript ? "TorchScript archive" : "PyTorch state_dict";
}

WeightsFile read_weights_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "does not exist");
  if (fs::is_directory(path, ec)) fail(path, std::string("is a directory; ") + kAccepted);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot be opened for reading");
  unsigned char magic[4] = {};
  in.read(reinterpret_cast<char*>(magic), sizeof magic);
  const std::streamsize got = in.gcount();
  in.close();

  // Both accepted formats are zip archives; a bare pickle is torch.save's pre-1.6 format.
  if (got == 4 && std::memcmp(magic, "PK\x03\x04", 4) != 0 && magic[0] == 0x80) {
    fail(path, std::string("is a bare pickle: PyTorch's legacy (before 1.6) torch.save format, which is not "
                           "read here; load and re-save it with a current PyTorch; ") + kAccepted);
  }
  if (got < 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    fail(path, std::string(got == 0 ? "is empty" : "is not a zip archive") + ", so neither format; " + kAccepted);
  }

  // LibTorch's reader trusts the archive's sizes and offsets: our bounded check goes first.
  try {
    io::check_zip_archive(path);
  } catch (const io::ZipArchiveError& e) {
    fail(path, "is not a sound zip archive (damaged, truncated or crafted): " + e.problem() + "; " + kAccepted);
  }
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const std::exception& e) {
    fail(path, "is a zip archive that PyTorch's reader rejects (damaged, truncated, or not written by PyTorch: " +
                   message_of(e) + "); " + kAccepted);
  }
  // TorchScript archives carry their code and constants next to data.pkl.
  bool torchscript = reader->hasRecord("constants.pkl");
  for (const std::string& record : reader->getAllRecords()) torchscript = torchscript || starts_with(record, "code/");
  if (torchscript) {
    reader.reset();
    return read_torchscript(path);
  }
  if (!reader->hasRecord("data.pkl")) {
    fail(path, std::string("is a zip archive without data.pkl, so neither format; ") + kAccepted);
  }
  return read_state_dict_archive(*reader, path);
}

NamedTensors module_state(torch::nn::Module& module) {
  // PyTorch's state_dict order: each module's own parameters, then its buffers, depth first.
  NamedTensors out;
  for (const auto& item : module.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const std::string prefix = item.key().empty() ? "" : item.key() + ".";
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) {
      if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value());
    }
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false)) {
      if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value());
    }
  }
  return out;
}

WeightImportReport import_weights(torch::nn::Module& model, const std::string& path,
                                  const WeightImportOptions& options) {
  std::optional<std::regex> exclude;
  if (!options.exclude.empty()) {
    try {
      exclude.emplace(options.exclude, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("weights exclude pattern '" + options.exclude +
                                  "' is not a valid ECMAScript regular expression: " + e.what());
    }
  }
  const auto excluded = [&exclude](const std::string& key) { return exclude && std::regex_search(key, *exclude); };

  const WeightsFile file = read_weights_file(path);
  const NamedTensors target = module_state(model);
  std::unordered_map<std::string, at::Tensor> in_file;
  for (const auto& [key, tensor] : file.tensors) in_file.emplace(key, tensor);
  std::unordered_set<std::string> in_model;
  for (const auto& entry : target) in_model.insert(entry.first);

  WeightImportReport report;
  report.format = file.format;

  // The classifier is left out as a whole (weight and bias) when its class counts differ.
  const std::string& fc = options.classifier_prefix;
  std::string classifier_reason;
  std::optional<std::pair<int64_t, int64_t>> class_counts;  // (model, file)
  {
    const auto model_fc = std::find_if(target.begin(), target.end(), [&](const auto& e) { return e.first == fc + "weight"; });
    const auto file_fc = in_file.find(fc + "weight");
    if (model_fc != target.end() && file_fc != in_file.end() && model_fc->second.dim() >= 1 &&
        file_fc->second.dim() >= 1 && model_fc->second.size(0) != file_fc->second.size(0)) {
      class_counts.emplace(model_fc->second.size(0), file_fc->second.size(0));
    }
  }
  const bool skip_classifier = options.skip_classifier_on_class_mismatch && class_counts.has_value();
  if (skip_classifier) {
    classifier_reason = "classifier: " + std::to_string(class_counts->second) + " classes in the file, " +
                        std::to_string(class_counts->first) + " in the model; keeps the model's values";
  }
  const auto is_skipped_classifier = [&](const std::string& key) { return skip_classifier && starts_with(key, fc); };

  std::vector<std::string> missing, unexpected, mismatched;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (model's tensor, file's tensor)
  for (const auto& [key, destination] : target) {
    if (excluded(key)) {
      report.skipped.push_back({key, "matches the exclude pattern; keeps the model's values"});
      continue;
    }
    if (is_skipped_classifier(key)) {
      report.skipped.push_back({key, classifier_reason});
      continue;
    }
    const auto found = in_file.find(key);
    if (found == in_file.end()) {
      if (is_batch_counter(key)) {
        report.skipped.push_back({key, "not in the file; keeps the model's counter"});
      } else {
        missing.push_back(key);
      }
      continue;
    }
    const at::Tensor& source = found->second;
    if (source.sizes() != destination.sizes()) {
      // Some PyTorch versions stored the counter as shape [1] rather than a scalar.
      if (is_batch_counter(key) && source.numel() == 1 && destination.numel() == 1) {
        copies.emplace_back(destination, source.reshape(destination.sizes()));
        report.loaded.push_back(key);
      } else {
        mismatched.push_back(key + ": model " + shape_text(destination.sizes()) + ", file " +
                             shape_text(source.sizes()));
      }
      continue;
    }
    copies.emplace_back(destination, source);
    report.loaded.push_back(key);
  }
  for (const auto& entry : file.tensors) {
    const std::string& key = entry.first;
    if (in_model.count(key) != 0) continue;
    if (excluded(key)) {
      report.skipped.push_back({key, "in the file only; matches the exclude pattern"});
    } else if (is_skipped_classifier(key)) {
      report.skipped.push_back({key, classifier_reason});
    } else if (is_batch_counter(key)) {
      report.skipped.push_back({key, "in the file only; the model keeps no such counter"});
    } else {
      unexpected.push_back(key);
    }
  }
  if (!options.strict) {
    for (const auto& key : missing) report.skipped.push_back({key, "not in the file; keeps the model's values"});
    for (const auto& key : unexpected) report.skipped.push_back({key, "in the file only; the model has no such key"});
    missing.clear();
    unexpected.clear();
  }

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string message = std::string("(") + to_string(file.format) + ") does not match the model:";
    if (!missing.empty()) {
      message += "\n  " + count_of(missing.size(), "key", "keys") + " missing from the file: " + join(missing);
    }
    if (!unexpected.empty()) {
      message += "\n  " + count_of(unexpected.size(), "key", "keys") + " in the file but not in the model: " +
                 join(unexpected);
    }
    if (!mismatched.empty()) {
      message += "\n  " + count_of(mismatched.size(), "shape mismatch", "shape mismatches") + ": " + join(mismatched);
    }
    if (class_counts && !options.skip_classifier_on_class_mismatch) {
      message += "\n  (the classifier has " + std::to_string(class_counts->second) + " classes in the file and " +
                 std::to_string(class_counts->first) +
                 " in the model; skip_classifier_on_class_mismatch keeps the model's classifier)";
    }
    fail(path, message);
  }

  torch::NoGradGuard no_grad;
  for (auto& [destination, source] : copies) destination.copy_(source);
  return report;
}

void save_state_dict(const NamedTensors& tensors, const std::string& path) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [key, tensor] : tensors) {
    if (!tensor.defined()) fail(path, "cannot be written: the tensor '" + key + "' is undefined");
    if (dict.contains(key)) fail(path, "cannot be written: the key '" + key + "' appears twice");
    // A fresh compact copy: the pickle writes a tensor's whole storage, views included.
    dict.insert(key, tensor.detach().to(at::kCPU).clone(at::MemoryFormat::Contiguous));
  }
  const std::vector<char> bytes = torch::jit::pickle_save(dict);

  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  try {
    support::write_file_atomically(path, std::string_view(bytes.data(), bytes.size()));
  } catch (const support::FileError& e) {
    fail(path, std::string("cannot be written: ") + e.what());
  }
}

void save_state_dict(torch::nn::Module& module, const std::string& path) {
  save_state_dict(module_state(module), path);
}

}  // namespace ubp::models

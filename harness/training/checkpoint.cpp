#include "training/checkpoint.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "io/zip_archive.h"
#include "ubp/support/atomic_file.h"

namespace ubp::training {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "ubp-checkpoint-v1";

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint, torch::nn::Module& model,
                     torch::optim::SGD* optimizer) {
  nlohmann::json meta = checkpoint.meta;
  meta["format"] = kFormat;
  // Tensor names may hold dots, which archive keys must not: store them by index.
  nlohmann::json names = nlohmann::json::array();

  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optimizer_archive, extra_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer != nullptr) {
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  int64_t index = 0;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    names.push_back(name);
    extra_archive.write("t" + std::to_string(index++), tensor);
  }
  archive.write("extra", extra_archive);
  meta["tensor_names"] = names;
  archive.write("meta", c10::IValue(meta.dump()));

  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  // LibTorch's zip writer must never see a short write: it then throws from a destructor, which
  // ends the process (std::terminate) instead of failing the run. The writer below swallows the
  // rest of the archive after the first failed write and reports that write's error; the
  // atomic-write helper then syncs, renames and syncs the directory.
  try {
    support::AtomicFile file(path);
    std::optional<support::FileError> write_error;
    try {
      archive.save_to([&](const void* data, size_t size) -> size_t {
        if (!write_error) {
          try {
            file.write(data, size);
          } catch (const support::FileError& e) {
            write_error = e;
          }
        }
        return size;
      });
    } catch (const std::exception& e) {
      throw std::runtime_error("checkpoint " + path + ": cannot write (" + std::string(e.what()).substr(0, 200) + ")");
    }
    if (write_error) throw *write_error;
    file.commit();
  } catch (const support::FileError& e) {
    throw std::runtime_error("checkpoint " + path + ": " + e.what());
  }
}

namespace {

nlohmann::json read_meta(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue value;
  if (!archive.try_read("meta", value) || !value.isString()) {
    throw std::runtime_error("checkpoint " + path + " has no ubp metadata; delete it to start over");
  }
  nlohmann::json meta = nlohmann::json::parse(value.toStringRef(), nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || meta.value("format", "") != kFormat) {
    throw std::runtime_error("checkpoint " + path + " is not a " + kFormat + " file; delete it to start over");
  }
  return meta;
}

torch::serialize::InputArchive open_archive(const std::string& path) {
  // LibTorch's reader trusts the archive's sizes and offsets: our bounded check goes first.
  try {
    io::check_zip_archive(path);
  } catch (const io::ZipArchiveError& e) {
    throw std::runtime_error("checkpoint " + path + " is damaged (" + e.problem() + "); delete it to start over");
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint " + path + " is damaged (" + std::string(e.what()).substr(0, 200) +
                             "); delete it to start over");
  }
  return archive;
}

}  // namespace

std::optional<Checkpoint> load_checkpoint(const std::string& path, torch::nn::Module& model,
                                          torch::optim::SGD* optimizer) {
  if (!fs::exists(path)) return std::nullopt;
  torch::serialize::InputArchive archive = open_archive(path);
  Checkpoint out;
  out.meta = read_meta(archive, path);
  try {
    torch::serialize::InputArchive model_archive, optimizer_archive, extra_archive;
    archive.read("model", model_archive);
    // Module::load replaces each tensor with the stored one, shape included: check the shapes.
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
    for (const auto& p : model.named_parameters()) shapes.emplace_back(p.key(), p.value().sizes().vec());
    for (const auto& b : model.named_buffers()) shapes.emplace_back(b.key(), b.value().sizes().vec());
    model.load(model_archive);
    const auto params = model.named_parameters();
    const auto buffers = model.named_buffers();
    for (const auto& [name, before] : shapes) {
      const at::Tensor* now = params.find(name);
      if (now == nullptr) now = buffers.find(name);
      if (now != nullptr && now->sizes().vec() != before) {
        throw std::runtime_error(name + " has shape " + c10::str(now->sizes()) + " in the file but " +
                                 c10::str(c10::IntArrayRef(before)) + " in the model");
      }
    }
    if (optimizer != nullptr) {
      archive.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
    }
    archive.read("extra", extra_archive);
    const auto& names = out.meta.at("tensor_names");
    for (size_t i = 0; i < names.size(); ++i) {
      at::Tensor t;
      extra_archive.read("t" + std::to_string(i), t);
      out.tensors[names[i].get<std::string>()] = t;
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint " + path + " does not fit this run's model (" +
                             std::string(e.what()).substr(0, 300) + "); delete it to start over");
  }
  return out;
}

std::optional<nlohmann::json> read_checkpoint_meta(const std::string& path) {
  if (!fs::exists(path)) return std::nullopt;
  torch::serialize::InputArchive archive = open_archive(path);
  return read_meta(archive, path);
}

}  // namespace ubp::training

#include "latency/latency_devices.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>


namespace ubp::latency {

namespace fs = std::filesystem;

std::vector<std::string> kernels_for_method(const std::vector<std::string>& requested,
                                            const std::string& method,
                                            std::vector<std::string>* skipped) {
  // Which packed formats can hold the masks a method produces: aligned blocks fit every block
  // format, unaligned ones only the unaligned ones (WROS and naive); an unpruned model is dense
  // only in "auto" (a block format of an unpruned model measures the kernel, not the pruning).
  const bool aligned_masks = method == "aligned" || method == "none";
  if (requested.size() == 1 && requested[0] == "auto") {
    if (method == "none") return {"dense"};
    return {"dense", aligned_masks ? "aligned" : "unaligned"};
  }
  std::vector<std::string> out;
  for (const std::string& k : requested) {
    if (k == "aligned" && !aligned_masks) {
      if (skipped) skipped->push_back(k);
      continue;
    }
    out.push_back(k);
  }
  return out;
}

std::string executable_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

std::string default_devices_dir() {
  if (fs::is_directory("configs/devices")) return "configs/devices";
  const fs::path from_build = fs::path(executable_dir()) / ".." / ".." / "configs" / "devices";
  std::error_code ec;
  if (fs::is_directory(from_build, ec)) return fs::weakly_canonical(from_build, ec).string();
  return "configs/devices";
}

device::DeviceConfig load_device(const std::string& spec, const std::string& devices_dir) {
  return device::load_device_config(spec, devices_dir.empty() ? default_devices_dir() : devices_dir);
}

}  // namespace ubp::latency

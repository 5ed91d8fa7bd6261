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
  // format, unaligned ones only the unaligned ones (WROS and naive). An unpruned model is timed
  // dense only: a block format of it keeps every block, so it would time a kernel on a fully
  // dense pattern, which says nothing about pruning (and the kernel claims leave such runs out).
  if (requested.size() == 1 && requested[0] == "auto") {
    if (method == "none") return {"dense"};
    return {"dense", method == "aligned" ? "aligned" : "unaligned"};
  }
  std::vector<std::string> out;
  for (const std::string& k : requested) {
    if (k != "dense" && method == "none") {
      if (skipped) {
        skipped->push_back("kernel " + k + " skipped: the run is not pruned (prune.method none), so its model "
                           "in that format would keep every block; it is timed dense only");
      }
      continue;
    }
    if (k == "aligned" && method != "aligned") {
      if (skipped) {
        skipped->push_back("kernel " + k + " skipped: method " + method + " chose unaligned blocks, which only the "
                           "unaligned kernels (unaligned, unaligned-naive) run");
      }
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

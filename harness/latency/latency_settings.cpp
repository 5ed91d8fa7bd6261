#include "latency/latency_settings.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "config/schema.h"

namespace ubp::latency {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<std::string> kKernels = {"dense", "aligned", "unaligned", "unaligned-naive"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

LatencySettings latency_settings_from(const json& resolved) {
  LatencySettings s;
  const json& l = resolved.at("latency");
  s.devices = l.at("devices").get<std::vector<std::string>>();
  s.kernels = config::split_comma_list(l.at("kernels").get<std::string>());
  if (s.kernels.empty()) s.kernels = {"auto"};
  for (const std::string& k : s.kernels) {
    if (k == "auto" && s.kernels.size() == 1) continue;
    if (std::find(kKernels.begin(), kKernels.end(), k) == kKernels.end()) {
      throw std::invalid_argument("latency.kernels: unknown kernel '" + k + "' (accepted: auto, or a comma-separated list of " +
                                  join(kKernels) + ")");
    }
  }
  s.threads = l.at("threads").get<std::vector<int>>();
  if (s.threads.empty()) s.threads = {1};
  device::ProtocolOptions& p = s.protocol;
  p.sessions = l.at("sessions").get<int>();
  p.cooldown_s = l.at("cooldown_s").get<double>();
  p.warmup = l.at("warmup").get<int>();
  p.warmup_s = l.at("warmup_s").get<double>();
  p.iterations = l.at("iterations").get<int>();
  p.min_seconds = l.at("min_seconds").get<double>();
  p.min_sample_ms = l.at("min_sample_ms").get<double>();
  p.max_cv = l.at("max_cv").get<double>();
  p.dispersion = device::dispersion_from_name(l.at("dispersion").get<std::string>());
  p.noisy_retries = l.at("noisy_retries").get<int>();
  p.seed = resolved.at("experiment").at("seed").get<uint64_t>();
  device::check_protocol_options(p);
  return s;
}

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

// Device facts from /proc, /sys and uname (see device_facts.h). Every read tolerates a missing
// or malformed file: the benchmark must still run on a phone that hides cpufreq or thermal zones.
#include "ubp/device/device_facts.h"

#include <dirent.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace ubp::device {

const std::vector<std::string> kIsaFeaturesOfInterest = {
    // x86 ("flags")
    "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile",
    // ARM ("Features"): asimd = NEON; fphp/asimdhp = fp16 arithmetic; asimddp = dot product;
    // asimdfhm = fp16 multiply-accumulate into fp32; i8mm = int8 matrix multiply.
    "asimd", "fphp", "asimdhp", "asimddp", "asimdfhm", "i8mm", "bf16", "sve", "sve2", "sme"};

namespace {

// The whole file, or "" when it cannot be opened. sysfs files are small; /proc/cpuinfo of a
// large server is a few hundred KB at most.
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// A whole-line decimal integer (sysfs style), or -1 for anything else. Reading a sysfs file of
// an offline CPU or a broken sensor can fail with EIO/EINVAL, which also lands here.
int64_t read_integer(const std::string& path) {
  const std::string text = trim(read_text(path));
  if (text.empty()) return -1;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0') return -1;
  return value;
}

// Numbers N of the entries "<prefix>N" of a directory, ascending.
std::vector<int> numbered_entries(const std::string& dir, const std::string& prefix) {
  std::vector<int> numbers;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return numbers;
  while (const dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    numbers.push_back(std::stoi(digits));
  }
  closedir(d);
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

std::string cpu_dir(const SystemPaths& paths) { return paths.sys + "/devices/system/cpu"; }

// "0-3,6" -> 5; -1 when the text is not a CPU list.
int count_cpu_list(const std::string& text) {
  const std::string list = trim(text);
  if (list.empty()) return -1;
  int count = 0;
  std::stringstream ranges(list);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    int first = 0, last = 0;
    char dash = 0;
    std::istringstream r(range);
    if (!(r >> first)) return -1;
    if (r >> dash) {
      if (dash != '-' || !(r >> last) || last < first) return -1;
    } else {
      last = first;
    }
    count += last - first + 1;
  }
  return count;
}

// The key/value pairs of /proc/cpuinfo: the first processor block's value of each key, and keys
// that appear once after all blocks (ARM's "Hardware").
struct CpuInfo {
  std::map<std::string, std::string> first;                    // first value of each key
  std::vector<std::pair<std::string, std::string>> arm_parts;  // (implementer, part) per CPU
};

CpuInfo parse_cpuinfo(const std::string& text) {
  CpuInfo info;
  std::istringstream lines(text);
  std::string line, implementer;
  while (std::getline(lines, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    info.first.emplace(key, value);
    // Each ARM processor block has its implementer before its part; big.LITTLE parts differ.
    if (key == "CPU implementer") implementer = value;
    if (key == "CPU part") info.arm_parts.emplace_back(implementer, value);
  }
  return info;
}

std::string cpu_model_of(const CpuInfo& info) {
  for (const char* key : {"model name", "Hardware", "Model"}) {
    const auto it = info.first.find(key);
    if (it != info.first.end() && !it->second.empty()) return it->second;
  }
  if (info.arm_parts.empty()) return "";
  // "ARM implementer 0x41 part 0xd05, 0xd0d": the distinct parts in order of first appearance.
  std::string implementer = info.arm_parts.front().first, parts;
  std::set<std::string> seen;
  for (const auto& [impl, part] : info.arm_parts) {
    if (impl != implementer) implementer += "/" + impl;
    if (!seen.insert(part).second) continue;
    parts += (parts.empty() ? "" : ", ") + part;
  }
  return "ARM implementer " + implementer + " part " + parts;
}

std::vector<std::string> isa_of(const CpuInfo& info) {
  std::set<std::string> listed;
  for (const char* key : {"flags", "Features"}) {
    const auto it = info.first.find(key);
    if (it == info.first.end()) continue;
    std::istringstream words(it->second);
    std::string word;
    while (words >> word) listed.insert(word);
  }
  std::vector<std::string> isa;
  for (const auto& feature : kIsaFeaturesOfInterest) {
    if (listed.count(feature) != 0) isa.push_back(feature);
  }
  return isa;
}

std::vector<int> affinity_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace

DeviceFacts read_device_facts(const SystemPaths& paths) {
  DeviceFacts facts;
  utsname names{};
  if (uname(&names) == 0) {
    facts.machine = names.machine;
    facts.kernel = names.release;
    facts.hostname = names.nodename;
  }
  const CpuInfo info = parse_cpuinfo(read_text(paths.proc + "/cpuinfo"));
  facts.cpu_model = cpu_model_of(info);
  facts.isa = isa_of(info);

  facts.cpus_online = count_cpu_list(read_text(cpu_dir(paths) + "/online"));
  if (facts.cpus_online < 0) {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    facts.cpus_online = online > 0 ? static_cast<int>(online) : -1;
  }

  std::vector<std::string> governors;
  for (int cpu : numbered_entries(cpu_dir(paths), "cpu")) {
    const std::string freq = cpu_dir(paths) + "/cpu" + std::to_string(cpu) + "/cpufreq/";
    const std::string governor = trim(read_text(freq + "scaling_governor"));
    if (!governor.empty() &&
        std::find(governors.begin(), governors.end(), governor) == governors.end()) {
      governors.push_back(governor);
    }
    const int64_t min_khz = read_integer(freq + "cpuinfo_min_freq");
    const int64_t max_khz = read_integer(freq + "cpuinfo_max_freq");
    if (min_khz >= 0 && (facts.freq_min_khz < 0 || min_khz < facts.freq_min_khz)) {
      facts.freq_min_khz = min_khz;
    }
    if (max_khz >= 0) facts.freq_max_khz = std::max(facts.freq_max_khz, max_khz);
  }
  for (const auto& governor : governors) {
    facts.governor += (facts.governor.empty() ? "" : ",") + governor;
  }
  facts.affinity_cpus = affinity_cpus();
  return facts;
}

ThermalSnapshot read_thermal_snapshot(const SystemPaths& paths) {
  ThermalSnapshot snapshot;
  const std::vector<int> cpus = numbered_entries(cpu_dir(paths), "cpu");
  if (!cpus.empty()) {
    snapshot.freq_khz.assign(static_cast<size_t>(cpus.back()) + 1, -1);
    for (int cpu : cpus) {
      const std::string freq = cpu_dir(paths) + "/cpu" + std::to_string(cpu) + "/cpufreq/";
      int64_t khz = read_integer(freq + "scaling_cur_freq");
      if (khz < 0) khz = read_integer(freq + "cpuinfo_cur_freq");
      snapshot.freq_khz[static_cast<size_t>(cpu)] = khz;
    }
  }
  const std::string thermal = paths.sys + "/class/thermal";
  for (int zone : numbered_entries(thermal, "thermal_zone")) {
    const std::string dir = thermal + "/thermal_zone" + std::to_string(zone) + "/";
    Temperature t;
    t.zone = trim(read_text(dir + "type"));
    if (t.zone.empty()) t.zone = "zone" + std::to_string(zone);
    const int64_t millidegrees = read_integer(dir + "temp");
    if (millidegrees != -1) t.celsius = static_cast<double>(millidegrees) / 1000.0;
    snapshot.temperatures.push_back(t);
  }
  return snapshot;
}

}  // namespace ubp::device

// What ubp-devbench reports about the machine it measured on: CPU, ISA features, kernel,
// frequency scaling, temperatures and the CPUs the process may run on.
//
// Everything is read from /proc, /sys and uname(2) and is best effort: phones and containers hide
// much of it, so a value that cannot be read is -1 (numbers) or "" (text), a list is left
// without it, and nothing here throws for a missing or malformed file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ubp::device {

// Where /proc and /sys are; tests point these at a fake tree.
struct SystemPaths {
  std::string proc = "/proc";
  std::string sys = "/sys";
};

struct DeviceFacts {
  std::string machine;   // uname -m: "x86_64", "aarch64"
  std::string kernel;    // uname -r
  std::string hostname;  // uname -n
  // "model name" of /proc/cpuinfo (x86, some ARM kernels), else "Hardware", else the distinct
  // "CPU implementer / CPU part" pairs of an ARM cpuinfo, e.g. "ARM implementer 0x41 part
  // 0xd05, 0xd0d" ("" when none of these is present).
  std::string cpu_model;
  // CPUs listed in <sys>/devices/system/cpu/online ("0-3,6"), else sysconf(_SC_NPROCESSORS_ONLN).
  int cpus_online = -1;
  // ISA features that matter for these kernels, in the order of kIsaFeaturesOfInterest, that
  // the first processor of /proc/cpuinfo lists ("flags" on x86, "Features" on ARM).
  std::vector<std::string> isa;
  // scaling_governor of the CPUs with cpufreq, distinct values joined by "," in CPU order
  // ("schedutil,performance" on a phone whose clusters differ); "" when unreadable.
  std::string governor;
  // Lowest cpuinfo_min_freq and highest cpuinfo_max_freq over the CPUs, kHz; -1 when unreadable.
  int64_t freq_min_khz = -1;
  int64_t freq_max_khz = -1;
  std::vector<int> affinity_cpus;  // sched_getaffinity of the calling thread, ascending
};

// Features reported in DeviceFacts::isa when the CPU has them: x86 SIMD levels and the ARM
// features the NEON/SVE kernels and their fp16 / dot-product / int8-matmul variants depend on.
extern const std::vector<std::string> kIsaFeaturesOfInterest;

struct Temperature {
  // thermal_zone<N>/type ("x86_pkg_temp", "cpu-1-0-usr"); "zone<N>" when unreadable.
  std::string zone;
  double celsius = -1;  // thermal_zone<N>/temp / 1000; -1 when unreadable
};

// Frequencies and temperatures at one moment, to compare before and after a measurement.
struct ThermalSnapshot {
  // scaling_cur_freq (else cpuinfo_cur_freq) of cpu0, cpu1, ... up to the highest CPU number
  // in <sys>/devices/system/cpu; -1 for a CPU whose value is unreadable (offline, no cpufreq).
  std::vector<int64_t> freq_khz;
  std::vector<Temperature> temperatures;  // thermal zones in zone-number order
};

DeviceFacts read_device_facts(const SystemPaths& paths = {});
ThermalSnapshot read_thermal_snapshot(const SystemPaths& paths = {});

}  // namespace ubp::device

// Device facts from fake /proc and /sys trees written by the test (an x86 server, an ARM
// big.LITTLE phone, a container that hides everything), and from the real machine.
#include <gtest/gtest.h>
#include <sched.h>

#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "ubp/device/device_facts.h"

namespace ubp::device {
namespace {

using ubp::testing::TempDir;

SystemPaths paths_in(const TempDir& dir) { return {dir.file("proc"), dir.file("sys")}; }

void write_cpufreq(const TempDir& dir, int cpu, const std::string& governor, int64_t min_khz,
                   int64_t max_khz, const std::string& cur_khz) {
  const std::string base = "sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/cpufreq/";
  dir.write(base + "scaling_governor", governor + "\n");
  dir.write(base + "cpuinfo_min_freq", std::to_string(min_khz) + "\n");
  dir.write(base + "cpuinfo_max_freq", std::to_string(max_khz) + "\n");
  dir.write(base + "scaling_cur_freq", cur_khz + "\n");
}

TEST(DeviceFacts, X86CpuinfoFrequenciesAndThermalZones) {
  TempDir dir;
  dir.write("proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: GenuineIntel\n"
            "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
            "flags\t\t: fpu sse sse2 sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw "
            "avx512_vnni\n\n"
            "processor\t: 1\nmodel name\t: Something Else\nflags\t\t: fpu\n\n");
  dir.write("sys/devices/system/cpu/online", "0-1\n");
  write_cpufreq(dir, 0, "performance", 800000, 3800000, "3000000");
  write_cpufreq(dir, 1, "performance", 900000, 3500000, "garbage");
  dir.write("sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
  dir.write("sys/class/thermal/thermal_zone0/temp", "41500\n");
  dir.write("sys/class/thermal/thermal_zone2/type", "acpitz\n");
  dir.write("sys/class/thermal/thermal_zone2/temp", "-2000\n");
  dir.write("sys/class/thermal/thermal_zone10/temp", "oops\n");  // no type, bad value

  const DeviceFacts facts = read_device_facts(paths_in(dir));
  EXPECT_EQ(facts.cpu_model, "Intel(R) Xeon(R) Platinum 8480+");
  // Only the first processor's flags, in kIsaFeaturesOfInterest order.
  EXPECT_EQ(facts.isa, (std::vector<std::string>{"sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c",
                                                 "avx512f", "avx512bw", "avx512_vnni"}));
  EXPECT_EQ(facts.cpus_online, 2);
  EXPECT_EQ(facts.governor, "performance");
  EXPECT_EQ(facts.freq_min_khz, 800000);
  EXPECT_EQ(facts.freq_max_khz, 3800000);

  const ThermalSnapshot snapshot = read_thermal_snapshot(paths_in(dir));
  EXPECT_EQ(snapshot.freq_khz, (std::vector<int64_t>{3000000, -1}));
  ASSERT_EQ(snapshot.temperatures.size(), 3u);
  EXPECT_EQ(snapshot.temperatures[0].zone, "x86_pkg_temp");
  EXPECT_DOUBLE_EQ(snapshot.temperatures[0].celsius, 41.5);
  EXPECT_EQ(snapshot.temperatures[1].zone, "acpitz");
  EXPECT_DOUBLE_EQ(snapshot.temperatures[1].celsius, -2.0);
  EXPECT_EQ(snapshot.temperatures[2].zone, "zone10");  // numeric order, not text order
  EXPECT_EQ(snapshot.temperatures[2].celsius, -1);
}

TEST(DeviceFacts, ArmBigLittlePhone) {
  TempDir dir;
  std::string cpuinfo;
  // Four Cortex-A55 (0xd05) and two Cortex-A78 (0xd41); no "model name", as on most phones.
  for (int cpu = 0; cpu < 6; ++cpu) {
    cpuinfo += "processor\t: " + std::to_string(cpu) +
               "\nBogoMIPS\t: 52.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
               "atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: "
               "0x41\nCPU architecture: 8\nCPU part\t: " +
               std::string(cpu < 4 ? "0xd05" : "0xd41") + "\n\n";
  }
  dir.write("proc/cpuinfo", cpuinfo);
  dir.write("sys/devices/system/cpu/online", "0-3,5\n");  // cpu4 offline
  for (int cpu = 0; cpu < 4; ++cpu)
    write_cpufreq(dir, cpu, "schedutil", 300000, 1800000, "1200000");
  dir.write("sys/devices/system/cpu/cpu4/online", "0\n");  // offline: no cpufreq directory
  write_cpufreq(dir, 5, "performance", 500000, 2850000, "2850000");

  const DeviceFacts facts = read_device_facts(paths_in(dir));
  EXPECT_EQ(facts.cpu_model, "ARM implementer 0x41 part 0xd05, 0xd41");
  EXPECT_EQ(facts.isa, (std::vector<std::string>{"asimd", "fphp", "asimdhp", "asimddp"}));
  EXPECT_EQ(facts.cpus_online, 5);
  EXPECT_EQ(facts.governor, "schedutil,performance");
  EXPECT_EQ(facts.freq_min_khz, 300000);
  EXPECT_EQ(facts.freq_max_khz, 2850000);
  const ThermalSnapshot snapshot = read_thermal_snapshot(paths_in(dir));
  EXPECT_EQ(snapshot.freq_khz,
            (std::vector<int64_t>{1200000, 1200000, 1200000, 1200000, -1, 2850000}));
  EXPECT_TRUE(snapshot.temperatures.empty());
}

TEST(DeviceFacts, EverythingHiddenGivesUnknownsNotErrors) {
  TempDir dir;  // empty: no cpuinfo, no sysfs
  const DeviceFacts facts = read_device_facts(paths_in(dir));
  EXPECT_EQ(facts.cpu_model, "");
  EXPECT_TRUE(facts.isa.empty());
  EXPECT_EQ(facts.governor, "");
  EXPECT_EQ(facts.freq_min_khz, -1);
  EXPECT_EQ(facts.freq_max_khz, -1);
  EXPECT_GE(facts.cpus_online, 1);  // falls back to sysconf
  const ThermalSnapshot snapshot = read_thermal_snapshot(paths_in(dir));
  EXPECT_TRUE(snapshot.freq_khz.empty());
  EXPECT_TRUE(snapshot.temperatures.empty());
}

TEST(DeviceFacts, RealMachine) {
  const DeviceFacts facts = read_device_facts();
  EXPECT_FALSE(facts.machine.empty());
  EXPECT_FALSE(facts.kernel.empty());
  EXPECT_GE(facts.cpus_online, 1);
  // The affinity list is what sched_getaffinity says, whatever /sys hides.
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(static_cast<int>(facts.affinity_cpus.size()), CPU_COUNT(&set));
  for (int cpu : facts.affinity_cpus) EXPECT_TRUE(CPU_ISSET(cpu, &set)) << cpu;
#if defined(__x86_64__)
  EXPECT_EQ(facts.machine, "x86_64");
#elif defined(__aarch64__)
  EXPECT_EQ(facts.machine, "aarch64");
#endif
}

}  // namespace
}  // namespace ubp::device

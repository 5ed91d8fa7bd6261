// Device files (configs/devices/*.yaml, ubp/device/device_config.h): what `ubp latency` and the
// latency section of a config name with `--device`.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "ubp/device/device_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ubp::fuzz::write_scratch("device.yaml", data, size);
  try {
    const ubp::device::DeviceConfig config = ubp::device::load_device_config(path, ubp::fuzz::scratch_dir().string());
    (void)ubp::device::device_lock_key(config);
  } catch (const ubp::device::DeviceConfigError&) {
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("load_device_config", e);
  }
  return 0;
}

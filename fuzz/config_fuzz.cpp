// YAML configs through the whole front end of `ubp run` / `ubp plan`: loading (includes,
// aliases, scalar typing), overrides, the ubp schema's validation and resolution, the sweep
// expansion and run ids (config/plan.h).
//
// Input: the config text, optionally followed by a NUL byte and override lines ("key=value",
// one per line), as `ubp run CONFIG KEY=VALUE...` passes them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config_error.h"
#include "config/plan.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string::npos) {
    size_t start = nul + 1;
    while (start <= input.size() && overrides.size() < 16) {
      const size_t end = std::min(input.find('\n', start), input.size());
      overrides.push_back(input.substr(start, end - start));
      start = end + 1;
    }
  }
  const std::string path =
      ubp::fuzz::write_scratch("config.yaml", reinterpret_cast<const uint8_t*>(text.data()), text.size());
  try {
    const ubp::config::Plan plan = ubp::config::make_plan(path, overrides);
    for (const auto& run : plan.runs) (void)run.resolved_json.size();
  } catch (const ubp::config::ConfigError&) {
  } catch (const std::exception& e) {
    ubp::fuzz::unexpected_exception("make_plan", e);
  }
  return 0;
}

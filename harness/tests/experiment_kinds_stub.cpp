// For the builds without LibTorch (the sanitizer tests, the config fuzz target): the ubp schema
// (config/ubp_schema.cpp) lists the experiment kinds through experiments::experiment_kinds(),
// which experiments/registry.cpp defines next to the kinds themselves, and those need LibTorch.
// Keep this list equal to the registry's.
#include <string>
#include <vector>

#include "experiments/experiment.h"

namespace ubp::experiments {

std::vector<std::string> experiment_kinds() { return {"selection", "training"}; }

}  // namespace ubp::experiments

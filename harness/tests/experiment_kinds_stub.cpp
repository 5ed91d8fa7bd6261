// For the builds without LibTorch (the sanitizer tests, the config fuzz target): the ubp schema
// (config/ubp_schema.cpp) lists the experiment kinds through experiments::experiment_kinds(),
// which experiments/registry.cpp answers from the kinds' own registrations, and the kinds need
// LibTorch. This file stands in for registry.cpp there. Keep this list equal to the kinds that
// UBP_REGISTER_EXPERIMENT registers.
#include <string>
#include <vector>

#include "experiments/experiment.h"

namespace ubp::experiments {

std::vector<std::string> experiment_kinds() { return {"selection", "training"}; }

}  // namespace ubp::experiments

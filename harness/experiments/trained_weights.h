// The weight matrices of a trained model, for selection runs on real weights (`kind: selection`
// with `selection.source: run` or `file`). A torch-free interface: the selection experiment
// compiles without LibTorch; trained_weights.cpp, in ubp_training, reads the model.
#pragma once

#include <string>
#include <vector>

#include "ubp/algorithms/matrix.h"

namespace ubp::experiments {

struct TrainedLayer {
  std::string name;            // module name, e.g. "features.3.pw"
  algorithms::Matrix weights;  // Cout x Cin*kh*kw, as the training run's selectors see it
};

// The layers `kinds` selects ("pointwise", "conv" or "all", as prune.layers) of the kept final
// model at `model_path` (a training run's <db dir>/models/<run id>/model.pt). Throws
// std::runtime_error naming the file when it is missing or not such a model.
std::vector<TrainedLayer> load_trained_layers(const std::string& model_path, const std::string& kinds);

}  // namespace ubp::experiments

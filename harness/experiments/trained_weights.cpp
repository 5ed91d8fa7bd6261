#include "experiments/trained_weights.h"

#include <cstring>

#include "export/final_model.h"
#include "training/masking.h"
#include "training/pruner.h"

namespace ubp::experiments {

std::vector<TrainedLayer> load_trained_layers(const std::string& model_path, const std::string& kinds) {
  const exporter::SavedModel saved = exporter::load_saved_model(model_path);
  training::LayerFilter filter;
  filter.kinds = kinds;
  std::vector<TrainedLayer> out;
  for (const auto& layer : training::select_layers(*saved.model, filter)) {
    const at::Tensor w = training::weight_matrix(layer.weight);
    TrainedLayer t{layer.name, algorithms::Matrix(w.size(0), w.size(1))};
    std::memcpy(t.weights.values.data(), w.data_ptr<float>(), t.weights.values.size() * sizeof(float));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace ubp::experiments

#include "experiments/training/prune_state.h"

namespace ubp::experiments {

using nlohmann::json;

namespace {

json records_json(const std::vector<results::LayerRecord>& records) {
  json out = json::array();
  for (const auto& r : records) {
    out.push_back({{"layer", r.layer}, {"rows", r.rows}, {"cols", r.cols}, {"bh", r.block_rows},
                   {"bw", r.block_cols}, {"method", r.method}, {"kept_blocks", r.kept_blocks},
                   {"sparsity", r.sparsity}, {"retained", r.retained_importance},
                   {"total", r.total_importance}, {"seconds", r.selection_seconds}});
  }
  return out;
}

std::vector<results::LayerRecord> records_from_json(const json& j) {
  std::vector<results::LayerRecord> out;
  for (const auto& e : j) {
    results::LayerRecord r;
    r.layer = e.at("layer");
    r.rows = e.at("rows");
    r.cols = e.at("cols");
    r.block_rows = e.at("bh");
    r.block_cols = e.at("bw");
    r.method = e.at("method");
    r.kept_blocks = e.at("kept_blocks");
    r.sparsity = e.at("sparsity");
    r.retained_importance = e.at("retained");
    r.total_importance = e.at("total");
    r.selection_seconds = e.at("seconds");
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

training::PruneSpec prune_spec(const settings::PruneSettings& p) {
  training::PruneSpec spec;
  spec.method = p.method;
  spec.block = p.block;
  spec.norm = p.norm;
  spec.allocation = p.allocation;
  spec.min_sparsity = p.min_sparsity;
  spec.max_sparsity = p.max_sparsity;
  spec.selector_options.memory_limit_bytes = p.memory_limit_bytes;
  return spec;
}

training::LayerFilter layer_filter(const settings::PruneSettings& p) {
  training::LayerFilter f;
  f.kinds = p.layers;
  f.name_regex = p.layer_regex;
  f.include_first_conv = p.include_first_conv;
  f.include_classifier = p.include_classifier;
  return f;
}

// Chooses and installs the masks at `sparsity` (training/shadow_weights.h) and keeps their records.
void select_masks(PruneState& st, const std::vector<models::PrunableLayer>& layers, const training::PruneSpec& spec,
                  torch::optim::SGD& sgd, double sparsity) {
  const training::MaskUpdate update =
      training::update_masks(layers, spec, sparsity, st.masks, st.shadow ? &*st.shadow : nullptr, &sgd);
  st.records.clear();
  for (const auto& c : update.chosen) {
    st.records.push_back(c.record);
    st.selection_seconds += c.record.selection_seconds;
  }
  st.revived_weights += update.revived_weights;
  st.target_sparsity = sparsity;
}

training::Checkpoint to_checkpoint(const PruneState& st, const std::vector<models::PrunableLayer>& layers,
                                   const std::string& run_id, const json& resolved) {
  training::Checkpoint c;
  c.meta = {{"run_id", run_id},
            {"config", resolved},
            {"epochs", st.epochs},
            {"records", records_json(st.records)},
            {"target_sparsity", st.target_sparsity},
            {"selection_seconds", st.selection_seconds},
            {"revived_weights", st.revived_weights}};
  for (const auto& e : st.masks.entries()) c.tensors["mask/" + e.name] = e.mask;
  if (st.shadow) {
    for (size_t i = 0; i < layers.size(); ++i) c.tensors["shadow/" + layers[i].name] = st.shadow->ranked()[i];
  }
  for (size_t i = 0; i < st.z.size(); ++i) {
    c.tensors["z/" + layers[i].name] = st.z[i];
    c.tensors["u/" + layers[i].name] = st.u[i];
  }
  return c;
}

void from_checkpoint(PruneState& st, const training::Checkpoint& c,
                     const std::vector<models::PrunableLayer>& layers) {
  st.epochs = c.meta.at("epochs");
  st.records = records_from_json(c.meta.at("records"));
  st.target_sparsity = c.meta.at("target_sparsity");
  st.selection_seconds = c.meta.at("selection_seconds");
  st.revived_weights = c.meta.value("revived_weights", int64_t{0});
  st.masks.clear();
  std::vector<at::Tensor> shadow;
  for (const auto& layer : layers) {
    const auto it = c.tensors.find("mask/" + layer.name);
    if (it != c.tensors.end()) st.masks.add(layer.name, layer.weight, it->second);
    const auto z = c.tensors.find("z/" + layer.name), u = c.tensors.find("u/" + layer.name);
    if (z != c.tensors.end() && u != c.tensors.end()) {
      st.z.push_back(z->second);
      st.u.push_back(u->second);
    }
    if (const auto it_shadow = c.tensors.find("shadow/" + layer.name); it_shadow != c.tensors.end()) {
      shadow.push_back(it_shadow->second);
    }
  }
  // A checkpoint taken before the first selection has no shadows yet: the run's own stand.
  if (st.shadow && shadow.size() == layers.size()) st.shadow.emplace(layers, std::move(shadow));
}

}  // namespace ubp::experiments

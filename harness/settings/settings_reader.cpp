#include "settings/settings_reader.h"

#include <map>
#include <stdexcept>

#include "config/plan.h"

namespace ubp::settings {

namespace {

// Every key's default, converted once from the schema's ordered JSON.
const std::map<std::string, nlohmann::json>& schema_defaults() {
  static const std::map<std::string, nlohmann::json> defaults = [] {
    std::map<std::string, nlohmann::json> out;
    for (const config::KeySpec& spec : config::ubp_schema().keys()) {
      if (!spec.default_value.is_null()) out.emplace(spec.path, nlohmann::json::parse(spec.default_value.dump()));
    }
    return out;
  }();
  return defaults;
}

const nlohmann::json* find_dotted(const nlohmann::json& tree, const std::string& dotted) {
  const nlohmann::json* node = &tree;
  size_t begin = 0;
  while (begin <= dotted.size()) {
    const size_t dot = dotted.find('.', begin);
    const std::string part = dotted.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (!node->is_object()) return nullptr;
    const auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string::npos) break;
    begin = dot + 1;
  }
  return node;
}

}  // namespace

SettingsReader::SettingsReader(const nlohmann::json& resolved, std::string prefix)
    : tree_(resolved), prefix_(std::move(prefix)) {}

std::string SettingsReader::full_path(const std::string& key) const {
  return prefix_.empty() ? key : prefix_ + "." + key;
}

bool SettingsReader::contains(const std::string& key) const { return find_dotted(tree_, key) != nullptr; }

const nlohmann::json& SettingsReader::at(const std::string& key) const {
  if (const nlohmann::json* value = find_dotted(tree_, key)) return *value;
  const auto& defaults = schema_defaults();
  const auto it = defaults.find(full_path(key));
  if (it != defaults.end()) return it->second;
  throw std::invalid_argument("config key " + full_path(key) + " is missing and has no default");
}

void SettingsReader::throw_wrong_type(const std::string& key, const nlohmann::json& value) const {
  throw std::invalid_argument("config key " + full_path(key) + " has the value " + value.dump() +
                              " of the wrong type (`ubp keys` lists what each key accepts)");
}

}  // namespace ubp::settings

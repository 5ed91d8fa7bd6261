#include "config/document.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace ubp::config {
namespace fs = std::filesystem;

namespace {

SourceLocation at_mark(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return SourceLocation{file, 0, 0};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

// YAML 1.2 core-schema scalars; a quoted scalar is always a string.
Json scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  static const std::regex integer(R"([-+]?[0-9]+)");
  static const std::regex hex(R"(0x[0-9a-fA-F]+)");
  static const std::regex floating(
      R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
    return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (std::regex_match(text, integer)) {
    try {
      return static_cast<int64_t>(std::stoll(text));
    } catch (const std::out_of_range&) {
      return std::stod(text);
    }
  }
  if (std::regex_match(text, hex)) return static_cast<int64_t>(std::stoll(text, nullptr, 16));
  if (std::regex_match(text, floating)) return std::stod(text);
  if (text == ".inf" || text == "+.inf") return std::numeric_limits<double>::infinity();
  if (text == "-.inf") return -std::numeric_limits<double>::infinity();
  return text;
}

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

class Converter {
 public:
  Converter(std::string file, ConfigDocument& doc) : file_(std::move(file)), doc_(doc) {}

  Json convert(const YAML::Node& node, const std::string& path) {
    doc_.value_locations[path] = at_mark(file_, node.Mark());
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar_to_json(node);
      case YAML::NodeType::Sequence: {
        Json list = Json::array();
        size_t i = 0;
        for (const auto& item : node) {
          list.push_back(convert(item, path + "[" + std::to_string(i++) + "]"));
        }
        return list;
      }
      case YAML::NodeType::Map: {
        Json map = Json::object();
        for (const auto& entry : node) {
          const SourceLocation key_at = at_mark(file_, entry.first.Mark());
          if (!entry.first.IsScalar()) {
            throw ConfigError(ConfigIssue{key_at, path, "a mapping key must be a plain name"});
          }
          const std::string key = entry.first.Scalar();
          const std::string sub = child_path(path, key);
          if (map.contains(key)) {
            throw ConfigError(ConfigIssue{key_at, sub, "key appears twice in the same mapping"});
          }
          doc_.key_locations[sub] = key_at;
          map[key] = convert(entry.second, sub);
        }
        return map;
      }
    }
    return nullptr;
  }

 private:
  std::string file_;
  ConfigDocument& doc_;
};

// Maps merge key by key; any other value replaces what was there.
void deep_merge(Json& base, const Json& overlay) {
  if (!base.is_object() || !overlay.is_object()) {
    base = overlay;
    return;
  }
  for (auto it = overlay.begin(); it != overlay.end(); ++it) {
    if (base.contains(it.key())) {
      deep_merge(base[it.key()], it.value());
    } else {
      base[it.key()] = it.value();
    }
  }
}

void merge_document(ConfigDocument& into, const ConfigDocument& from) {
  deep_merge(into.tree, from.tree);
  for (const auto& [path, where] : from.key_locations) into.key_locations[path] = where;
  for (const auto& [path, where] : from.value_locations) into.value_locations[path] = where;
}

YAML::Node parse_yaml(const std::string& text, const std::string& display_name) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(ConfigIssue{at_mark(display_name, e.mark), "", "malformed YAML: " + e.msg});
  }
}

std::string read_file(const std::string& path, const SourceLocation& referenced_from) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw ConfigError(ConfigIssue{referenced_from, "", "'" + path + "' is a directory, not a YAML file"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(ConfigIssue{referenced_from, "",
                                  "cannot read config file '" + path + "': " +
                                      std::generic_category().message(errno)});
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

ConfigDocument load_text(const std::string& text, const std::string& display_name,
                         const fs::path& base_dir, std::vector<fs::path>& stack);

ConfigDocument load_file(const fs::path& path, const std::string& display_name,
                         const SourceLocation& referenced_from, std::vector<fs::path>& stack) {
  const std::string text = read_file(path.string(), referenced_from);
  return load_text(text, display_name, path.parent_path(), stack);
}

std::vector<std::pair<std::string, SourceLocation>> include_list(const ConfigDocument& doc) {
  std::vector<std::pair<std::string, SourceLocation>> out;
  const Json& inc = doc.tree["include"];
  auto bad = [&](const std::string& path) {
    throw ConfigError(ConfigIssue{doc.value_location(path), "include",
                                  "accepted: a file path or a list of file paths"});
  };
  if (inc.is_string()) {
    out.emplace_back(inc.get<std::string>(), doc.value_location("include"));
  } else if (inc.is_array()) {
    for (size_t i = 0; i < inc.size(); ++i) {
      const std::string p = "include[" + std::to_string(i) + "]";
      if (!inc[i].is_string()) bad(p);
      out.emplace_back(inc[i].get<std::string>(), doc.value_location(p));
    }
  } else {
    bad("include");
  }
  return out;
}

ConfigDocument load_text(const std::string& text, const std::string& display_name,
                         const fs::path& base_dir, std::vector<fs::path>& stack) {
  const YAML::Node root = parse_yaml(text, display_name);
  ConfigDocument own;
  own.root_file = display_name;
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap()) {
      throw ConfigError(ConfigIssue{at_mark(display_name, root.Mark()), "",
                                    "the top level of a config must be a mapping of keys"});
    }
    Converter converter(display_name, own);
    own.tree = converter.convert(root, "");
  }
  own.value_locations.erase("");
  if (!own.tree.contains("include")) return own;

  ConfigDocument merged;
  merged.root_file = display_name;
  for (const auto& [relative, where] : include_list(own)) {
    fs::path target = fs::path(relative).is_absolute() ? fs::path(relative) : base_dir / relative;
    std::error_code ec;
    if (!fs::exists(target, ec)) {
      throw ConfigError(ConfigIssue{where, "include",
                                    "included file '" + relative + "' not found (looked for " +
                                        target.lexically_normal().string() + ")"});
    }
    const fs::path canonical = fs::weakly_canonical(target);
    if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
      std::string chain;
      for (const auto& p : stack) chain += p.filename().string() + " -> ";
      throw ConfigError(ConfigIssue{where, "include",
                                    "include cycle: " + chain + canonical.filename().string()});
    }
    stack.push_back(canonical);
    ConfigDocument included =
        load_file(target, target.lexically_normal().string(), where, stack);
    stack.pop_back();
    merge_document(merged, included);
  }
  own.tree.erase("include");
  merge_document(merged, own);
  return merged;
}

}  // namespace

SourceLocation ConfigDocument::value_location(const std::string& path) const {
  if (auto it = value_locations.find(path); it != value_locations.end()) return it->second;
  return key_location(path);
}

SourceLocation ConfigDocument::key_location(const std::string& path) const {
  std::string p = path;
  while (!p.empty()) {
    if (auto it = key_locations.find(p); it != key_locations.end()) return it->second;
    const auto dot = p.find_last_of(".[");
    if (dot == std::string::npos) break;
    p.resize(dot);
  }
  return SourceLocation{root_file, 0, 0};
}

ConfigDocument load_config(const std::string& path) {
  std::vector<fs::path> stack;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw ConfigError(ConfigIssue{SourceLocation{path, 0, 0}, "",
                                  "config file not found; pass the path of a YAML config such as "
                                  "configs/quickstart.yaml"});
  }
  stack.push_back(fs::weakly_canonical(path));
  return load_file(path, path, SourceLocation{path, 0, 0}, stack);
}

ConfigDocument load_config_text(const std::string& text, const std::string& display_name) {
  std::vector<fs::path> stack;
  return load_text(text, display_name, fs::current_path(), stack);
}

std::vector<std::string> split_key(const std::string& dotted) {
  std::vector<std::string> parts;
  if (dotted.rfind("sweep.", 0) == 0) return {"sweep", dotted.substr(6)};
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Override parse_override(const std::string& text, int position) {
  const SourceLocation where{"command line override '" + text + "'", 0, 0};
  (void)position;
  const size_t eq = text.find('=');
  const std::string key = eq == std::string::npos ? "" : text.substr(0, eq);
  static const std::regex key_shape(R"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)");
  if (eq == std::string::npos || !std::regex_match(key, key_shape)) {
    throw ConfigError(ConfigIssue{where, "",
                                  "expected key=value with a dotted key, e.g. prune.sparsity=0.9 "
                                  "or prune.block=[4,1]"});
  }
  Override out;
  out.dotted = key;
  out.path = split_key(key);
  out.where = where;
  ConfigDocument parsed = load_config_text("v: " + text.substr(eq + 1), where.file);
  out.value = parsed.tree.contains("v") ? parsed.tree["v"] : Json(nullptr);
  return out;
}

void apply_override(ConfigDocument& doc, const Override& ov) {
  Json* node = &doc.tree;
  std::string path;
  for (size_t i = 0; i + 1 < ov.path.size(); ++i) {
    path = child_path(path, ov.path[i]);
    if (!node->is_object()) *node = Json::object();
    if (!node->contains(ov.path[i]) || !(*node)[ov.path[i]].is_object()) {
      (*node)[ov.path[i]] = Json::object();
    }
    node = &(*node)[ov.path[i]];
  }
  if (!node->is_object()) *node = Json::object();
  (*node)[ov.path.back()] = ov.value;
  // Forget where the replaced value and its children came from.
  for (auto* locations : {&doc.key_locations, &doc.value_locations}) {
    for (auto it = locations->begin(); it != locations->end();) {
      const std::string& p = it->first;
      const bool under = p == ov.dotted || p.rfind(ov.dotted + ".", 0) == 0 ||
                         p.rfind(ov.dotted + "[", 0) == 0;
      it = under ? locations->erase(it) : std::next(it);
    }
  }
  doc.key_locations[ov.dotted] = ov.where;
  doc.value_locations[ov.dotted] = ov.where;
}

}  // namespace ubp::config

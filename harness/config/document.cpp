#include "config/document.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <cctype>
#include <limits>
#include <unordered_set>

#include "ubp/support/read_file.h"
#include "ubp/support/text.h"

namespace ubp::config {
namespace fs = std::filesystem;

namespace {

SourceLocation at_mark(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return SourceLocation{file, 0, 0};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

// Limits on what a config may ask for (harness/README.md documents them): a config is a few
// kilobytes, a generated sweep perhaps a few hundred; these are far beyond that and far below
// what would exhaust memory or time.
constexpr size_t kMaxConfigFileBytes = size_t{4} << 20;
constexpr size_t kMaxConfigNodes = 100000;  // values after YAML aliases are expanded
constexpr int kMaxConfigDepth = 64;
constexpr size_t kMaxIncludedFiles = 256;   // files loaded for one config, includes of includes too
constexpr size_t kMaxOverrideKeyBytes = 256;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The YAML 1.2 core schema's number forms, scanned by hand (no std::regex: libstdc++'s recurses
// once per character and overflows the stack on a 100 000-digit scalar).
bool looks_integer(const std::string& t) {  // [-+]?[0-9]+
  size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
  if (i == t.size()) return false;
  for (; i < t.size(); ++i) {
    if (!is_digit(t[i])) return false;
  }
  return true;
}

bool looks_hex(const std::string& t) {  // 0x[0-9a-fA-F]+
  if (t.size() < 3 || t[0] != '0' || t[1] != 'x') return false;
  for (size_t i = 2; i < t.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

bool looks_float(const std::string& t) {  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  double ignored = 0;
  return support::parse_double(t, ignored) != support::ParseStatus::kSyntax;
}

std::string child_path_of(const std::string& parent, const std::string& key);

std::string child_path_of(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// YAML nodes to JSON, recording where each value came from. YAML aliases share nodes, so a
// few lines can name billions of values ("billion laughs"); the converter counts the values it
// makes and stops at kMaxConfigNodes, and stops nesting at kMaxConfigDepth.
class Converter {
 public:
  Converter(std::string file, ConfigDocument& doc) : file_(std::move(file)), doc_(doc) {}

  Json convert(const YAML::Node& node, const std::string& path, int depth = 0) {
    const SourceLocation at = at_mark(file_, node.Mark());
    if (++nodes_ > kMaxConfigNodes) {
      fail(at, path, "the config holds more than " + std::to_string(kMaxConfigNodes) +
                         " values once YAML aliases are expanded (accepted: up to that many)");
    }
    if (depth > kMaxConfigDepth) {
      fail(at, path, "nested deeper than " + std::to_string(kMaxConfigDepth) + " levels");
    }
    doc_.value_locations[path] = at;
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(node, path);
      case YAML::NodeType::Sequence: {
        Json list = Json::array();
        size_t i = 0;
        for (const auto& item : node) {
          list.push_back(convert(item, path + "[" + std::to_string(i++) + "]", depth + 1));
        }
        return list;
      }
      case YAML::NodeType::Map: {
        Json map = Json::object();
        // ordered_json looks keys up linearly: duplicates are found here, and entries appended,
        // so a mapping of n keys costs n, not n squared.
        std::unordered_set<std::string> seen;
        auto& entries = map.get_ref<Json::object_t&>();
        for (const auto& entry : node) {
          const SourceLocation key_at = at_mark(file_, entry.first.Mark());
          if (!entry.first.IsScalar()) {
            throw ConfigError(ConfigIssue{key_at, path, "a mapping key must be a plain name"});
          }
          const std::string key = entry.first.Scalar();
          check_text(key_at, path, key, "key");
          const std::string sub = child_path_of(path, key);
          if (!seen.insert(key).second) {
            throw ConfigError(ConfigIssue{key_at, support::excerpt(sub), "key appears twice in the same mapping"});
          }
          doc_.key_locations[sub] = key_at;
          entries.emplace_back(key, convert(entry.second, sub, depth + 1));
        }
        return map;
      }
    }
    return nullptr;
  }

 private:
  [[noreturn]] void fail(const SourceLocation& at, const std::string& path, const std::string& what) const {
    throw ConfigError(ConfigIssue{at, support::excerpt(path), what});
  }

  // Text must be UTF-8: it ends up in JSON (run ids, the database), which holds nothing else.
  void check_text(const SourceLocation& at, const std::string& path, const std::string& text,
                  const char* what) const {
    size_t bad = 0;
    if (!support::is_valid_utf8(text, &bad)) {
      fail(at, path, std::string("the ") + what + " '" + support::excerpt(text, 40) + "' is not UTF-8 text (byte " +
                         std::to_string(bad) + "); accepted: UTF-8");
    }
  }

  [[noreturn]] void does_not_fit(const SourceLocation& at, const std::string& path, const std::string& text) const {
    fail(at, path, "the number " + support::excerpt(text, 40) +
                       " does not fit (accepted: integers from -9223372036854775808 to 9223372036854775807, "
                       "other numbers of magnitude 2.3e-308 to 1.8e308, or 0)");
  }

  // YAML 1.2 core-schema scalars; a quoted scalar is always a string.
  Json scalar(const YAML::Node& node, const std::string& path) const {
    const std::string& text = node.Scalar();
    const SourceLocation at = at_mark(file_, node.Mark());
    check_text(at, path, text, "value");
    if (node.Tag() == "!") return text;
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    if (looks_integer(text)) {
      int64_t value = 0;
      if (support::parse_int64(text, value) == support::ParseStatus::kOk) return value;
      // Too large for int64: a float if a double holds it (as YAML readers do), else an error.
      double real = 0;
      if (support::parse_double(text, real) == support::ParseStatus::kOk) return real;
      does_not_fit(at, path, text);
    }
    if (looks_hex(text)) {
      int64_t value = 0;
      if (support::parse_hex_int64(text.substr(2), value) == support::ParseStatus::kOk) return value;
      does_not_fit(at, path, text);
    }
    if (looks_float(text)) {
      double value = 0;
      if (support::parse_double(text, value) == support::ParseStatus::kOk) return value;
      does_not_fit(at, path, text);
    }
    if (text == ".inf" || text == "+.inf") return std::numeric_limits<double>::infinity();
    if (text == "-.inf") return -std::numeric_limits<double>::infinity();
    return text;
  }

  std::string file_;
  ConfigDocument& doc_;
  size_t nodes_ = 0;
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
    // DeepRecursion (yaml-cpp's own nesting limit) is a ParserException too.
    throw ConfigError(ConfigIssue{at_mark(display_name, e.mark), "", "malformed YAML: " + support::excerpt(e.msg, 200)});
  } catch (const YAML::Exception& e) {
    throw ConfigError(ConfigIssue{at_mark(display_name, e.mark), "", "unreadable YAML: " + support::excerpt(e.msg, 200)});
  }
}

// A config file or an include: a regular file of at most kMaxConfigFileBytes (so `include:
// /dev/zero` or a FIFO is refused, never read forever).
std::string read_file(const std::string& path, const SourceLocation& referenced_from) {
  try {
    return support::read_file_bounded(path, kMaxConfigFileBytes, "config file");
  } catch (const support::FileError& e) {
    throw ConfigError(ConfigIssue{referenced_from, "", e.what()});
  }
}

// The chain of files being loaded (to find include cycles) and how many were loaded in all (a
// diamond of includes, each listing the next several times, would otherwise load exponentially
// many files).
struct LoadState {
  std::vector<fs::path> stack;
  size_t files_loaded = 0;
};

ConfigDocument load_text(const std::string& text, const std::string& display_name,
                         const fs::path& base_dir, LoadState& state);

ConfigDocument load_file(const fs::path& path, const std::string& display_name,
                         const SourceLocation& referenced_from, LoadState& state) {
  if (++state.files_loaded > kMaxIncludedFiles) {
    throw ConfigError(ConfigIssue{referenced_from, "include",
                                  "more than " + std::to_string(kMaxIncludedFiles) +
                                      " files loaded through include: (counting every inclusion)"});
  }
  const std::string text = read_file(path.string(), referenced_from);
  return load_text(text, display_name, path.parent_path(), state);
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
                         const fs::path& base_dir, LoadState& state) {
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
    const fs::path canonical = fs::weakly_canonical(target, ec);
    if (std::find(state.stack.begin(), state.stack.end(), canonical) != state.stack.end()) {
      std::string chain;
      for (const auto& p : state.stack) chain += p.filename().string() + " -> ";
      throw ConfigError(ConfigIssue{where, "include",
                                    "include cycle: " + chain + canonical.filename().string()});
    }
    state.stack.push_back(canonical);
    ConfigDocument included =
        load_file(target, target.lexically_normal().string(), where, state);
    state.stack.pop_back();
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
  LoadState state;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw ConfigError(ConfigIssue{SourceLocation{path, 0, 0}, "",
                                  "config file not found; pass the path of a YAML config such as "
                                  "configs/quickstart.yaml"});
  }
  state.stack.push_back(fs::weakly_canonical(path, ec));
  return load_file(path, path, SourceLocation{path, 0, 0}, state);
}

ConfigDocument load_config_text(const std::string& text, const std::string& display_name) {
  LoadState state;
  return load_text(text, display_name, fs::current_path(), state);
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

namespace {

// A dotted key: names of [A-Za-z_][A-Za-z0-9_]* joined by single dots, at most
// kMaxOverrideKeyBytes long.
bool is_dotted_key(const std::string& key) {
  if (key.empty() || key.size() > kMaxOverrideKeyBytes) return false;
  bool at_start = true;
  for (char c : key) {
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (c == '.') {
      if (at_start) return false;
      at_start = true;
    } else if (letter || (!at_start && is_digit(c))) {
      at_start = false;
    } else {
      return false;
    }
  }
  return !at_start;
}

}  // namespace

Override parse_override(const std::string& text, int position) {
  const SourceLocation where{"command line override '" + support::excerpt(text, 120) + "'", 0, 0};
  (void)position;
  const size_t eq = text.find('=');
  const std::string key = eq == std::string::npos ? "" : text.substr(0, eq);
  if (eq == std::string::npos || !is_dotted_key(key)) {
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
    path = child_path_of(path, ov.path[i]);
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

#include "config/schema.h"

#include "ubp/support/strings.h"
#include "ubp/support/text.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

namespace ubp::config {

namespace {

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string range_text(const KeySpec& spec) {
  if (spec.min && spec.max) return " in [" + number_text(*spec.min) + ", " + number_text(*spec.max) + "]";
  if (spec.min) return " >= " + number_text(*spec.min);
  if (spec.max) return " <= " + number_text(*spec.max);
  return "";
}

bool in_range(const KeySpec& spec, double v) {
  return !(spec.min && v < *spec.min) && !(spec.max && v > *spec.max);
}

// A value for a message: at most 80 characters of its JSON.
std::string shown_value(const Json& value) { return support::excerpt(value.dump(), 80); }

// Problems listed in full; past this many only their number is given (a file of a million
// unknown keys must not take minutes of did-you-mean searches).
constexpr size_t kMaxListedIssues = 50;

std::optional<std::pair<int64_t, int64_t>> block_shape_of(const Json& value) {
  if (value.is_string()) {
    const auto shape = support::parse_block_shape(value.get<std::string>());
    if (!shape) return std::nullopt;
    return std::make_pair(shape->first, shape->second);
  }
  if (value.is_array() && value.size() == 2 && value[0].is_number_integer() &&
      value[1].is_number_integer()) {
    return std::make_pair(value[0].get<int64_t>(), value[1].get<int64_t>());
  }
  return std::nullopt;
}

// "" when `text` is allowed for `spec` (or any text is), else " is not allowed" with a
// did-you-mean hint.
std::string not_allowed(const KeySpec& spec, const std::string& text) {
  if (!spec.allowed) return "";
  const auto allowed = spec.allowed();
  if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) return "";
  for (const auto& candidate : allowed) {
    // The size check first: the text may be of any length, the distance is quadratic.
    if (text.size() <= candidate.size() + 2 && edit_distance(candidate, text) <= 2) return " is not allowed (did you mean '" + candidate + "'?)";
  }
  return " is not allowed";
}

bool kind_matches(const KeySpec& spec, const std::string& kind) {
  return spec.kinds.empty() ||
         std::find(spec.kinds.begin(), spec.kinds.end(), kind) != spec.kinds.end();
}

void set_path(nlohmann::json& root, const std::string& dotted, nlohmann::json value) {
  nlohmann::json* node = &root;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string part = dotted.substr(start, dot - start);
    if (dot == std::string::npos) {
      (*node)[part] = std::move(value);
      return;
    }
    node = &(*node)[part];
    start = dot + 1;
  }
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const Json* lookup(const Json& tree, const std::string& dotted) {
  const Json* node = &tree;
  for (const auto& part : split_key(dotted)) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

Schema& Schema::add(KeySpec spec) {
  keys_.push_back(std::move(spec));
  return *this;
}

KeySpec& Schema::add_and_get(KeySpec spec) {
  keys_.push_back(std::move(spec));
  return keys_.back();
}

Schema& Schema::add_rule(CrossKeyRule rule) {
  rules_.push_back(std::move(rule));
  return *this;
}

const KeySpec* Schema::find(const std::string& path) const {
  for (const auto& spec : keys_) {
    if (spec.path == path) return &spec;
  }
  return nullptr;
}

std::string Schema::describe_accepted(const KeySpec& spec) {
  switch (spec.type) {
    case ValueType::kBool:
      return "true or false";
    case ValueType::kInt:
      return "an integer" + range_text(spec);
    case ValueType::kFloat:
      return "a number" + range_text(spec);
    case ValueType::kString:
      if (spec.allowed) return "one of: " + support::join(spec.allowed());
      if (spec.max_chars) return "a string of at most " + std::to_string(*spec.max_chars) + " characters";
      return "a string";
    case ValueType::kBlockShape:
      return "a block shape [rows, cols] or \"RxC\" with each side" + range_text(spec);
    case ValueType::kIntList:
      return "a list of integers [a, b, ...]" + std::string(spec.min || spec.max ? ", each" : "") +
             range_text(spec);
    case ValueType::kStringList:
      if (spec.allowed) return "a list [a, b, ...] of: " + support::join(spec.allowed());
      return "a list of strings [a, b, ...]";
  }
  return "";
}

std::vector<ConfigIssue> Schema::validate_value(const KeySpec& spec, const Json& value,
                                                const SourceLocation& where) const {
  auto issue = [&](const std::string& what) {
    return std::vector<ConfigIssue>{
        ConfigIssue{where, spec.path, what + "; accepted: " + describe_accepted(spec)}};
  };
  const std::string shown = shown_value(value);
  switch (spec.type) {
    case ValueType::kBool:
      if (!value.is_boolean()) return issue("wrong type: " + shown + " is not a boolean");
      break;
    case ValueType::kInt:
      if (!value.is_number_integer()) return issue("wrong type: " + shown + " is not an integer");
      if (!in_range(spec, static_cast<double>(value.get<int64_t>())))
        return issue("value " + shown + " is out of range");
      break;
    case ValueType::kFloat:
      if (!value.is_number()) return issue("wrong type: " + shown + " is not a number");
      if (!std::isfinite(value.get<double>()) || !in_range(spec, value.get<double>()))
        return issue("value " + shown + " is out of range");
      break;
    case ValueType::kString: {
      if (!value.is_string()) return issue("wrong type: " + shown + " is not a string");
      if (spec.max_chars && value.get_ref<const std::string&>().size() > *spec.max_chars) {
        return issue("value " + shown + " is " + std::to_string(value.get_ref<const std::string&>().size()) +
                     " characters long");
      }
      if (const std::string problem = not_allowed(spec, value.get<std::string>()); !problem.empty()) {
        return issue("value " + shown + problem);
      }
      break;
    }
    case ValueType::kStringList: {
      if (value.is_string() && spec.reads_comma_string) {
        for (const auto& item : support::split_comma_list(value.get<std::string>())) {
          if (const std::string problem = not_allowed(spec, item); !problem.empty()) {
            return issue("item '" + item + "' of " + shown + problem);
          }
        }
        break;
      }
      if (!value.is_array()) return issue("wrong type: " + shown + " is not a list");
      for (const auto& element : value) {
        if (!element.is_string())
          return issue("wrong type: element " + element.dump() + " of " + shown + " is not a string");
        if (const std::string problem = not_allowed(spec, element.get<std::string>()); !problem.empty()) {
          return issue("element " + element.dump() + " of " + shown + problem);
        }
      }
      break;
    }
    case ValueType::kBlockShape: {
      const auto shape = block_shape_of(value);
      if (!shape) return issue("wrong type: " + shown + " is not a block shape");
      if (!in_range(spec, static_cast<double>(shape->first)) ||
          !in_range(spec, static_cast<double>(shape->second)))
        return issue("value " + shown + " is out of range");
      break;
    }
    case ValueType::kIntList: {
      if (!value.is_array()) return issue("wrong type: " + shown + " is not a list");
      for (const auto& element : value) {
        if (!element.is_number_integer())
          return issue("wrong type: element " + shown_value(element) + " of " + shown + " is not an integer");
        if (!in_range(spec, static_cast<double>(element.get<int64_t>())))
          return issue("element " + shown_value(element) + " of " + shown + " is out of range");
      }
      break;
    }
  }
  return {};
}

ConfigIssue Schema::unknown_key(const std::string& path_text, const SourceLocation& where) const {
  const std::string path = support::excerpt(path_text, 120);
  // Candidates: every declared key and every section name.
  std::set<std::string> candidates;
  for (const auto& spec : keys_) {
    candidates.insert(spec.path);
    for (size_t dot = spec.path.find('.'); dot != std::string::npos;
         dot = spec.path.find('.', dot + 1)) {
      candidates.insert(spec.path.substr(0, dot));
    }
  }
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& candidate : candidates) {
    const size_t d = edit_distance(path, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  std::string message = "unknown key";
  // Allow about one typo per two letters of the unknown key's own name, so 'prunning' finds
  // 'prune' but a short unrelated key does not match anything.
  const size_t leaf_length = path.size() - (path.find_last_of('.') == std::string::npos ? 0 : path.find_last_of('.') + 1);
  const size_t budget = std::max<size_t>(2, leaf_length / 2);
  if (!best.empty() && best_distance <= budget) message += "; did you mean '" + best + "'?";
  // List the keys of the enclosing section, so the user sees what is accepted there.
  const size_t dot = path.find_last_of('.');
  const std::string parent = dot == std::string::npos ? "" : path.substr(0, dot);
  std::set<std::string> siblings;
  for (const auto& candidate : candidates) {
    const size_t cdot = candidate.find_last_of('.');
    const std::string cparent = cdot == std::string::npos ? "" : candidate.substr(0, cdot);
    if (cparent == parent) siblings.insert(candidate.substr(cdot == std::string::npos ? 0 : cdot + 1));
  }
  if (parent.empty()) siblings.insert("sweep");
  if (parent.empty()) siblings.insert("include");
  message += " (accepted " + (parent.empty() ? std::string("top-level keys") : "keys of '" + parent + "'") +
             ": " + support::join({siblings.begin(), siblings.end()}) + ")";
  return ConfigIssue{where, path, message};
}

std::vector<ConfigIssue> Schema::validate(const Json& tree, const ConfigDocument& doc) const {
  std::vector<ConfigIssue> issues;
  size_t unlisted = 0;
  // Past kMaxListedIssues problems, the rest are only counted.
  auto add = [&](auto make_issue) {
    if (issues.size() >= kMaxListedIssues) {
      ++unlisted;
    } else {
      issues.push_back(make_issue());
    }
  };
  auto is_section = [&](const std::string& path) {
    for (const auto& spec : keys_) {
      if (spec.path.rfind(path + ".", 0) == 0) return true;
    }
    return false;
  };
  std::function<void(const Json&, const std::string&)> walk = [&](const Json& node,
                                                                  const std::string& prefix) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (prefix.empty() && it.key() == "sweep") continue;
      if (const KeySpec* spec = find(path)) {
        if (it.value().is_null() && !spec->required) continue;  // `key:` with no value = default
        for (auto& found : validate_value(*spec, it.value(), doc.value_location(path))) {
          add([&] { return std::move(found); });
        }
      } else if (is_section(path)) {
        if (it.value().is_object()) {
          walk(it.value(), path);
        } else if (!it.value().is_null()) {
          add([&] {
            return ConfigIssue{doc.value_location(path), path,
                               "wrong type: " + shown_value(it.value()) + " is not a section; accepted: a mapping of keys"};
          });
        }
      } else {
        add([&] { return unknown_key(path, doc.key_location(path)); });
      }
    }
  };
  if (tree.is_object()) walk(tree, "");
  for (const auto& spec : keys_) {
    if (!spec.required) continue;
    const Json* value = lookup(tree, spec.path);
    if (value == nullptr || value->is_null()) {
      SourceLocation where = doc.key_location(spec.path);
      issues.push_back(ConfigIssue{where, spec.path,
                                   "required key is missing; accepted: " + describe_accepted(spec)});
    }
  }
  if (unlisted > 0) {
    issues.push_back(ConfigIssue{SourceLocation{doc.root_file, 0, 0}, "",
                                 "and " + std::to_string(unlisted) + " more problems like these (only the first " +
                                     std::to_string(kMaxListedIssues) + " are listed)"});
  }
  return issues;
}

std::vector<ConfigIssue> Schema::deprecations(const Json& tree, const ConfigDocument& doc) const {
  std::vector<ConfigIssue> found;
  for (const auto& spec : keys_) {
    if (!spec.reads_comma_string) continue;
    const Json* value = lookup(tree, spec.path);
    // An empty string stays quiet: `key=` on the command line is the usual way to clear a list.
    if (value == nullptr || !value->is_string() || support::split_comma_list(value->get<std::string>()).empty()) continue;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& item : support::split_comma_list(value->get<std::string>())) list.push_back(item);
    std::string shown;
    for (const auto& item : list) shown += (shown.empty() ? "" : ", ") + item.get<std::string>();
    found.push_back(ConfigIssue{doc.value_location(spec.path), spec.path,
                                "a comma-separated string is deprecated and read as the list [" + shown +
                                    "]; write a YAML list instead, e.g. " + split_key(spec.path).back() + ": [" +
                                    shown + "]"});
  }
  return found;
}

nlohmann::json Schema::resolve(const Json& tree, const std::string& kind) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& spec : keys_) {
    if (!kind_matches(spec, kind)) continue;
    const Json* given = lookup(tree, spec.path);
    const Json& value = (given != nullptr && !given->is_null()) ? *given : spec.default_value;
    nlohmann::json canonical;
    switch (spec.type) {
      case ValueType::kBool:
        canonical = value.get<bool>();
        break;
      case ValueType::kInt:
        canonical = value.get<int64_t>();
        break;
      case ValueType::kFloat:
        canonical = value.get<double>();
        break;
      case ValueType::kString:
        canonical = value.get<std::string>();
        break;
      case ValueType::kBlockShape: {
        const auto shape = block_shape_of(value);
        canonical = nlohmann::json::array({shape->first, shape->second});
        break;
      }
      case ValueType::kIntList:
        canonical = nlohmann::json::array();
        for (const auto& element : value) canonical.push_back(element.get<int64_t>());
        break;
      case ValueType::kStringList:
        canonical = nlohmann::json::array();
        if (value.is_string()) {
          for (const auto& item : support::split_comma_list(value.get<std::string>())) canonical.push_back(item);
        } else {
          for (const auto& element : value) canonical.push_back(element.get<std::string>());
        }
        break;
    }
    set_path(out, spec.path, std::move(canonical));
  }
  for (const auto& normalize : normalizers_) normalize(out);
  return out;
}

Schema& Schema::add_normalizer(Normalizer normalizer) {
  normalizers_.push_back(std::move(normalizer));
  return *this;
}

}  // namespace ubp::config

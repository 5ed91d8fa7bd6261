#include "config/plan.h"

#include "ubp/support/text.h"

#include <openssl/evp.h>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace ubp::config {

namespace {

constexpr size_t kMaxPlannedRuns = 100000;

struct SweepDimension {
  std::string key;
  std::vector<Json> values;
};

void set_nested(Json& tree, const std::string& dotted, const Json& value) {
  Json* node = &tree;
  const auto parts = split_key(dotted);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!node->contains(parts[i]) || !(*node)[parts[i]].is_object()) (*node)[parts[i]] = Json::object();
    node = &(*node)[parts[i]];
  }
  (*node)[parts.back()] = value;
}

void erase_path(nlohmann::json& tree, const std::string& dotted) {
  const size_t dot = dotted.find('.');
  if (dot == std::string::npos) {
    tree.erase(dotted);
    return;
  }
  const std::string head = dotted.substr(0, dot);
  if (!tree.contains(head)) return;
  erase_path(tree[head], dotted.substr(dot + 1));
  if (tree[head].is_object() && tree[head].empty()) tree.erase(head);
}

bool has_path(const nlohmann::json& tree, const std::string& dotted) {
  const nlohmann::json* node = &tree;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    const std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(part)) return false;
    node = &(*node)[part];
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

void flatten_into(const nlohmann::json& node, const std::string& prefix,
                  std::vector<std::pair<std::string, nlohmann::json>>& out) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      flatten_into(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    }
  } else {
    out.emplace_back(prefix, node);
  }
}

std::vector<SweepDimension> extract_sweep(const ConfigDocument& doc, const Schema& schema,
                                          std::vector<ConfigIssue>& issues) {
  std::vector<SweepDimension> dims;
  if (!doc.tree.contains("sweep") || doc.tree["sweep"].is_null()) return dims;
  const Json& sweep = doc.tree["sweep"];
  if (!sweep.is_object()) {
    issues.push_back(ConfigIssue{doc.value_location("sweep"), "sweep",
                                 "wrong type: " + support::excerpt(sweep.dump(), 80) +
                                     " is not a mapping; accepted: dotted keys mapped to lists of values"});
    return dims;
  }
  for (auto it = sweep.begin(); it != sweep.end(); ++it) {
    const std::string path = "sweep." + it.key();
    const KeySpec* spec = schema.find(it.key());
    if (spec == nullptr) {
      ConfigIssue issue = schema.unknown_key(it.key(), doc.key_location(path));
      issue.key = path;
      issues.push_back(issue);
      continue;
    }
    if (!spec->sweepable) {
      issues.push_back(ConfigIssue{doc.key_location(path), path,
                                   "this key is campaign-wide and cannot be swept; set it once "
                                   "outside `sweep:`"});
      continue;
    }
    if (!it.value().is_array() || it.value().empty()) {
      issues.push_back(ConfigIssue{doc.value_location(path), path,
                                   "wrong type: " + support::excerpt(it.value().dump(), 80) +
                                       " is not a list of values; accepted: a non-empty list of " +
                                       Schema::describe_accepted(*spec)});
      continue;
    }
    SweepDimension dim{it.key(), {}};
    for (size_t i = 0; i < it.value().size(); ++i) {
      const Json& value = it.value()[i];
      auto found = schema.validate_value(
          *spec, value, doc.value_location(path + "[" + std::to_string(i) + "]"));
      for (auto& issue : found) issue.key = path + "[" + std::to_string(i) + "]";
      issues.insert(issues.end(), found.begin(), found.end());
      dim.values.push_back(value);
    }
    dims.push_back(std::move(dim));
  }
  return dims;
}

}  // namespace

std::string PlannedRun::label() const {
  if (assignment.empty()) return "(no sweep)";
  std::string out;
  for (const auto& [key, value] : assignment) {
    out += (out.empty() ? "" : " ") + key + "=" + value.dump();
  }
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed (OpenSSL EVP_Digest)");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string run_id_of(const nlohmann::json& resolved, const Schema& schema) {
  nlohmann::json identity = resolved;
  for (const auto& spec : schema.keys()) {
    if (!spec.affects_id) erase_path(identity, spec.path);
  }
  return sha256_hex("ubp-run-v1\n" + identity.dump()).substr(0, 16);
}

std::vector<std::pair<std::string, nlohmann::json>> flatten(const nlohmann::json& resolved) {
  std::vector<std::pair<std::string, nlohmann::json>> out;
  flatten_into(resolved, "", out);
  return out;
}

Plan make_plan(const std::string& config_path, const std::vector<std::string>& overrides,
               const Schema& schema) {
  Plan plan = make_plan(load_config(config_path), overrides, schema);
  plan.config_path = config_path;
  return plan;
}

Plan make_plan(ConfigDocument doc, const std::vector<std::string>& overrides, const Schema& schema) {
  std::vector<ConfigIssue> issues;
  std::set<std::string> pinned;  // keys an override fixed: their sweep dimension is dropped
  for (size_t i = 0; i < overrides.size(); ++i) {
    try {
      const Override ov = parse_override(overrides[i], static_cast<int>(i));
      apply_override(doc, ov);
      if (ov.path.size() > 1 || ov.path[0] != "sweep") pinned.insert(ov.dotted);
    } catch (const ConfigError& e) {
      issues.insert(issues.end(), e.issues().begin(), e.issues().end());
    }
  }
  if (doc.tree.contains("sweep") && doc.tree["sweep"].is_object()) {
    for (const auto& key : pinned) doc.tree["sweep"].erase(key);
  }

  std::vector<SweepDimension> dims = extract_sweep(doc, schema, issues);
  Json base = doc.tree;
  base.erase("sweep");
  std::set<std::string> swept;
  for (const auto& dim : dims) swept.insert(dim.key);
  for (auto& issue : schema.validate(base, doc)) {
    const bool supplied_by_sweep =
        swept.count(issue.key) > 0 && issue.message.rfind("required key is missing", 0) == 0;
    if (!supplied_by_sweep) issues.push_back(std::move(issue));
  }
  if (!issues.empty()) throw ConfigError(std::move(issues));

  size_t total = 1;
  for (const auto& dim : dims) {
    total *= dim.values.size();
    if (total > kMaxPlannedRuns) {
      throw ConfigError(ConfigIssue{doc.key_location("sweep"), "sweep",
                                    "the sweep expands to more than " +
                                        std::to_string(kMaxPlannedRuns) +
                                        " runs; split it into several configs"});
    }
  }

  Plan plan;
  plan.config_path = doc.root_file;
  plan.warnings = schema.deprecations(base, doc);
  for (const auto& spec : schema.keys()) {
    if (spec.sweepable) continue;
    const Json* given = lookup(base, spec.path);
    nlohmann::json value = (given && !given->is_null()) ? nlohmann::json::parse(given->dump())
                                                       : nlohmann::json::parse(spec.default_value.dump());
    plan.campaign[spec.path] = value;
  }
  std::set<std::string> seen, rule_messages;
  std::vector<ConfigIssue> rule_issues;
  std::vector<size_t> odometer(dims.size(), 0);
  for (size_t point = 0; point < total; ++point) {
    Json tree = base;
    PlannedRun run;
    for (size_t d = 0; d < dims.size(); ++d) {
      const Json& value = dims[d].values[odometer[d]];
      set_nested(tree, dims[d].key, value);
      run.assignment.emplace_back(dims[d].key, value);
    }
    // Last dimension varies fastest, like nested loops written in the file's order.
    for (size_t d = dims.size(); d-- > 0;) {
      if (++odometer[d] < dims[d].values.size()) break;
      odometer[d] = 0;
    }
    run.kind = lookup(tree, "experiment.kind")->get<std::string>();
    run.resolved = schema.resolve(tree, run.kind);
    // A swept key that normalisation dropped (it cannot matter to this run) is not its label.
    run.assignment.erase(std::remove_if(run.assignment.begin(), run.assignment.end(),
                                        [&](const auto& kv) { return !has_path(run.resolved, kv.first); }),
                         run.assignment.end());
    run.resolved_json = run.resolved.dump();
    run.run_id = run_id_of(run.resolved, schema);
    for (const auto& rule : schema.rules()) {
      const std::string problem = rule.check(run.resolved);
      if (problem.empty() || !rule_messages.insert(problem).second) continue;  // once per distinct problem
      rule_issues.push_back(ConfigIssue{doc.value_location(rule.keys.front()), rule.keys.front(), problem});
    }
    if (!seen.insert(run.run_id).second) {
      ++plan.duplicates_dropped;
      continue;
    }
    run.index = plan.runs.size();
    plan.runs.push_back(std::move(run));
  }
  if (!rule_issues.empty()) throw ConfigError(std::move(rule_issues));
  return plan;
}

}  // namespace ubp::config

// The declared shape of a config: every key, its type, default, range or allowed values.
//
// Validation runs before anything executes and reports every problem at once, each naming the
// file, line and column, the dotted key, the bad value and what is accepted. Resolution fills
// every default and coerces values to their canonical type (an int given for a float key
// becomes a float), so equal experiments resolve to byte-identical JSON.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/document.h"

namespace ubp::config {

enum class ValueType {
  kBool,
  kInt,
  kFloat,
  kString,      // optionally one of `allowed`
  kBlockShape,  // [rows, cols] or "4x1"; canonical form [rows, cols]
  kIntList,     // [a, b, ...], possibly empty; min/max bound each element
  kStringList,  // [a, b, ...], possibly empty; optionally each one of `allowed`
};

struct KeySpec {
  std::string path;  // dotted, e.g. "prune.sparsity"
  ValueType type = ValueType::kString;
  Json default_value;  // null together with `required`: the user must set it
  bool required = false;
  std::optional<double> min, max;  // numbers, and each side of a block shape
  // Strings: the most characters accepted, for values that later go through std::regex (whose
  // libstdc++ compiler recurses once per character) or other costly machinery.
  std::optional<size_t> max_chars;
  // Allowed strings; computed when validating so registries (selectors, experiment kinds) can
  // grow without touching the schema.
  std::function<std::vector<std::string>()> allowed;
  // Whether the key is part of the experiment's identity (its run id). Names, output paths and
  // other bookkeeping are not.
  bool affects_id = true;
  // Whether the key may appear under `sweep:` (campaign-wide keys such as output paths may not).
  bool sweepable = true;
  // A string list that earlier versions took as one comma-separated string: such a string is
  // still read (split at commas, items trimmed) and reported by Schema::deprecations.
  bool reads_comma_string = false;
  // Experiment kinds the key belongs to; empty means every kind.
  std::vector<std::string> kinds;
  std::string help;

  KeySpec() = default;
  KeySpec(std::string key_path, ValueType value_type, Json default_json, std::string help_text)
      : path(std::move(key_path)), type(value_type), default_value(std::move(default_json)),
        help(std::move(help_text)) {}

  // Chainable refinements, so the schema reads as a list of declarations.
  KeySpec& must_be_given() { required = true; return *this; }
  KeySpec& range(double lo, double hi) { min = lo; max = hi; return *this; }
  KeySpec& at_least(double lo) { min = lo; return *this; }
  KeySpec& at_most_chars(size_t n) { max_chars = n; return *this; }
  KeySpec& one_of(std::function<std::vector<std::string>()> values) { allowed = std::move(values); return *this; }
  KeySpec& one_of(std::vector<std::string> values) {
    allowed = [values] { return values; };
    return *this;
  }
  KeySpec& only_for(std::vector<std::string> experiment_kinds) { kinds = std::move(experiment_kinds); return *this; }
  KeySpec& not_identity() { affects_id = false; return *this; }
  KeySpec& campaign_wide() { affects_id = false; sweepable = false; return *this; }
  KeySpec& formerly_comma_string() { reads_comma_string = true; return *this; }
};

// A check that spans several keys (e.g. min <= max), run on each resolved run. `check` returns
// an empty string when the run is fine, otherwise what is wrong and what is accepted.
struct CrossKeyRule {
  std::vector<std::string> keys;  // the first one locates the error in the file
  std::function<std::string(const nlohmann::json& resolved)> check;
};

// Rewrites a resolved run so that settings which cannot matter take one canonical value (e.g.
// the block shape of an unpruned run), so equal experiments get equal run ids.
using Normalizer = std::function<void(nlohmann::json& resolved)>;

class Schema {
 public:
  Schema& add(KeySpec spec);
  // Adds and returns the stored spec for further refinement; the reference is valid until the
  // next add.
  KeySpec& add_and_get(KeySpec spec);
  Schema& add_rule(CrossKeyRule rule);
  Schema& add_normalizer(Normalizer normalizer);
  const std::vector<CrossKeyRule>& rules() const { return rules_; }
  const KeySpec* find(const std::string& path) const;
  const std::vector<KeySpec>& keys() const { return keys_; }

  // Problems with `tree` (the merged config without its `sweep:` section), located with `doc`.
  std::vector<ConfigIssue> validate(const Json& tree, const ConfigDocument& doc) const;
  // Problems with one value given for `spec` at `where` (sweep values use this).
  std::vector<ConfigIssue> validate_value(const KeySpec& spec, const Json& value,
                                          const SourceLocation& where) const;
  // Values that are accepted but deprecated (a comma-separated string for a list), each with
  // its location and what to write instead; for warnings, never errors.
  std::vector<ConfigIssue> deprecations(const Json& tree, const ConfigDocument& doc) const;
  // Unknown dotted key: message with a did-you-mean suggestion.
  ConfigIssue unknown_key(const std::string& path, const SourceLocation& where) const;

  // Every key of `kind` with defaults filled and values canonical, as a sorted-key JSON object,
  // after the normalizers. Assumes `tree` validated.
  nlohmann::json resolve(const Json& tree, const std::string& kind) const;

  static std::string describe_accepted(const KeySpec& spec);

 private:
  std::vector<KeySpec> keys_;
  std::vector<CrossKeyRule> rules_;
  std::vector<Normalizer> normalizers_;
};

// Levenshtein distance, for did-you-mean suggestions.
size_t edit_distance(const std::string& a, const std::string& b);

// Reads the dotted path out of a JSON tree; nullptr when absent.
const Json* lookup(const Json& tree, const std::string& dotted);

}  // namespace ubp::config

// A config as loaded from YAML: the merged tree plus where every value came from.
//
// Loading follows `include:` (a path or a list of paths, relative to the including file):
// the included files are merged in order, then the including file's own keys on top; maps
// merge key by key, anything else (scalars, lists) is replaced whole. Cycles are an error.
// Command-line overrides (`prune.sparsity=0.9`) are applied last.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config_error.h"

namespace ubp::config {

// Keeps YAML's key order, so sweeps expand in the order the user wrote them.
using Json = nlohmann::ordered_json;

struct ConfigDocument {
  Json tree = Json::object();
  std::string root_file;
  // Dotted path -> where its key and its value were last set. Keys inside `sweep:` are
  // dotted themselves and simply concatenate ("sweep.prune.sparsity"); list elements of a
  // sweep are "sweep.prune.sparsity[2]".
  std::map<std::string, SourceLocation> key_locations;
  std::map<std::string, SourceLocation> value_locations;

  // The most precise location known for `path`: its value, else its key, else the nearest
  // parent's, else the root file.
  SourceLocation value_location(const std::string& path) const;
  SourceLocation key_location(const std::string& path) const;
};

// Reads `path` and its includes. Throws ConfigError for an unreadable or malformed file, a
// missing include, an include cycle or a root that is not a mapping.
ConfigDocument load_config(const std::string& path);

// Parses a YAML string as if it were the file `display_name` (used by tests and overrides).
ConfigDocument load_config_text(const std::string& text, const std::string& display_name);

// One `key=value` from the command line; the value is parsed as YAML flow, so `0.9`, `[4,1]`,
// `true` and `aligned` mean what they would mean in a file.
struct Override {
  std::vector<std::string> path;  // "sweep.prune.block" -> {"sweep", "prune.block"}
  std::string dotted;
  Json value;
  SourceLocation where;
};
Override parse_override(const std::string& text, int position);  // throws ConfigError
void apply_override(ConfigDocument& doc, const Override& override_value);

// Splits a dotted key; a key under `sweep.` keeps its own dots ({"sweep", "a.b"}).
std::vector<std::string> split_key(const std::string& dotted);

}  // namespace ubp::config

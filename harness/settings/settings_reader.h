// Reads typed values out of a resolved config by dotted key. The settings readers of this
// folder are the only code that looks a config key up by name; everything else takes their
// structs.
//
// A key that a normalizer dropped (a schedule's keys on a run of another schedule, the pruning
// keys of an unpruned run) reads as the schema's default, so no default is written twice and a
// missing key is never undefined behaviour; a key the schema does not know throws.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ubp::settings {

class SettingsReader {
 public:
  // `resolved`: a run's resolved config, or a section of it when `prefix` names that section
  // ("train.distributed" for the object under train.distributed).
  explicit SettingsReader(const nlohmann::json& resolved, std::string prefix = "");

  // The value at `key` (dotted, relative to the prefix), or the schema's default for it.
  // Throws std::invalid_argument naming the key when neither exists or the type is wrong.
  const nlohmann::json& at(const std::string& key) const;
  bool contains(const std::string& key) const;

  std::string string(const std::string& key) const { return get<std::string>(key); }
  int64_t integer(const std::string& key) const { return get<int64_t>(key); }
  double number(const std::string& key) const { return get<double>(key); }
  bool boolean(const std::string& key) const { return get<bool>(key); }
  std::vector<int64_t> integers(const std::string& key) const { return get<std::vector<int64_t>>(key); }
  std::vector<std::string> strings(const std::string& key) const { return get<std::vector<std::string>>(key); }

  template <typename T>
  T get(const std::string& key) const {
    const nlohmann::json& value = at(key);
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception&) {
      throw_wrong_type(key, value);
    }
  }

 private:
  [[noreturn]] void throw_wrong_type(const std::string& key, const nlohmann::json& value) const;
  std::string full_path(const std::string& key) const;

  const nlohmann::json& tree_;
  std::string prefix_;
};

}  // namespace ubp::settings

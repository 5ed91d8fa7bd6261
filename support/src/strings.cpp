#include "ubp/support/strings.h"

#include <limits>

#include "ubp/support/text.h"

namespace ubp::support {

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    if (at == std::string_view::npos) {
      fields.emplace_back(text.substr(start));
      return fields;
    }
    fields.emplace_back(text.substr(start, at - start));
    start = at + 1;
  }
}

std::string_view trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::vector<std::string> split_comma_list(std::string_view text) {
  std::vector<std::string> items;
  for (const std::string& field : split(text, ',')) {
    const std::string_view item = trim(field);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

std::optional<std::pair<int64_t, int64_t>> parse_block_shape(std::string_view text) {
  // Hand-scanned (no std::regex, which recurses per character): optional blanks, digits,
  // x or X, digits, optional blanks. Sides above 2^31 - 1 do not fit any shape and are refused.
  size_t i = 0;
  const auto blanks = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  };
  const auto side = [&]() -> std::optional<int64_t> {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    int64_t value = 0;
    if (i == start || i - start > 10 || parse_int64(text.substr(start, i - start), value) != ParseStatus::kOk ||
        value > std::numeric_limits<int32_t>::max()) {
      return std::nullopt;
    }
    return value;
  };
  blanks();
  const auto rows = side();
  blanks();
  if (!rows || i >= text.size() || (text[i] != 'x' && text[i] != 'X')) return std::nullopt;
  ++i;
  blanks();
  const auto cols = side();
  blanks();
  if (!cols || i != text.size()) return std::nullopt;
  return std::make_pair(*rows, *cols);
}

}  // namespace ubp::support

// String helpers the command line, the configs and the messages share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ubp::support {

// {"a", "b"} with ", " -> "a, b".
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

// "a,,b" at ',' -> {"a", "", "b"}: every field, empty ones too; "" -> {""}.
std::vector<std::string> split(std::string_view text, char separator);

// `text` without leading and trailing spaces and tabs.
std::string_view trim(std::string_view text);

// "a, b,,c" -> {"a", "b", "c"}: comma-separated items, blanks trimmed, empty items dropped.
std::vector<std::string> split_comma_list(std::string_view text);

// "RxC" (rows x cols, e.g. "4x1", blanks around the parts allowed, x or X) as {rows, cols};
// nullopt when the text is not of that form or a side passes 2^31 - 1. A hand-written scanner:
// the text can come from a config or the command line, of any length.
std::optional<std::pair<int64_t, int64_t>> parse_block_shape(std::string_view text);

}  // namespace ubp::support

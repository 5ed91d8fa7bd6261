#include "ubp/support/text.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace ubp::support {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_plain_shell_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' ||
         c == '/' || c == '=' || c == ',' || c == ':' || c == '+' || c == '@' || c == '-';
}

void append_hex_byte(std::string& out, unsigned char c) {
  static const char kDigits[] = "0123456789abcdef";
  out += "\\x";
  out += kDigits[c >> 4];
  out += kDigits[c & 15];
}

// Escapes for \n, \t, \r; \xHH for every other byte outside printable ASCII.
void append_escaped(std::string& out, unsigned char c) {
  switch (c) {
    case '\n': out += "\\n"; return;
    case '\t': out += "\\t"; return;
    case '\r': out += "\\r"; return;
    default: append_hex_byte(out, c);
  }
}

}  // namespace

std::string excerpt(std::string_view text, size_t max_chars) {
  std::string out;
  const size_t shown = std::min(text.size(), max_chars);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      append_escaped(out, c);
    }
  }
  if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

bool has_control_characters(std::string_view text) {
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool is_valid_utf8(std::string_view text, size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t length = 0;
    uint32_t code = 0, minimum = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      length = 2, code = c & 0x1f, minimum = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3, code = c & 0x0f, minimum = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4, code = c & 0x07, minimum = 0x10000;
    } else {
      if (bad_offset != nullptr) *bad_offset = i;
      return false;
    }
    bool ok = i + length <= n;
    for (size_t k = 1; ok && k < length; ++k) {
      ok = (s[i + k] & 0xc0) == 0x80;
      code = (code << 6) | (s[i + k] & 0x3f);
    }
    ok = ok && code >= minimum && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    if (!ok) {
      if (bad_offset != nullptr) *bad_offset = i;
      return false;
    }
    i += length;
  }
  return true;
}

ParseStatus parse_int64(std::string_view text, int64_t& out) {
  size_t start = 0;
  if (!text.empty() && text[0] == '+') start = 1;  // from_chars takes '-' but not '+'
  if (start == text.size()) return ParseStatus::kSyntax;
  if (text[start] == '-' && start == 1) return ParseStatus::kSyntax;  // "+-1"
  for (size_t i = start + (text[start] == '-' ? 1 : 0); i < text.size(); ++i) {
    if (!is_digit(text[i])) return ParseStatus::kSyntax;
  }
  if (text[start] == '-' && text.size() == start + 1) return ParseStatus::kSyntax;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data() + start, text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return ParseStatus::kOutOfRange;
  if (error != std::errc() || end != text.data() + text.size()) return ParseStatus::kSyntax;
  out = value;
  return ParseStatus::kOk;
}

ParseStatus parse_hex_int64(std::string_view text, int64_t& out) {
  if (text.empty()) return ParseStatus::kSyntax;
  for (char c : text) {
    if (!is_digit(c) && !((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return ParseStatus::kSyntax;
  }
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (error == std::errc::result_out_of_range) return ParseStatus::kOutOfRange;
  if (error != std::errc() || end != text.data() + text.size()) return ParseStatus::kSyntax;
  out = value;
  return ParseStatus::kOk;
}

ParseStatus parse_double(std::string_view text, double& out) {
  // [+-]? (digits (. digits*)? | . digits) ([eE] [+-]? digits)?, checked by hand so that
  // from_chars never sees "inf", "nan" or hex floats.
  size_t i = 0;
  const size_t n = text.size();
  if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
  const size_t number_start = i;
  size_t digits = 0;
  bool nonzero = false;
  while (i < n && is_digit(text[i])) nonzero |= text[i++] != '0', ++digits;
  if (i < n && text[i] == '.') {
    ++i;
    while (i < n && is_digit(text[i])) nonzero |= text[i++] != '0', ++digits;
  }
  if (digits == 0) return ParseStatus::kSyntax;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    size_t exponent_digits = 0;
    while (i < n && is_digit(text[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return ParseStatus::kSyntax;
  }
  if (i != n) return ParseStatus::kSyntax;
  // from_chars reads "-x" but not "+x"; the sign is put back by hand.
  const bool negative = number_start > 0 && text[0] == '-';
  double value = 0;
  const auto [end, error] =
      std::from_chars(text.data() + number_start, text.data() + n, value, std::chars_format::general);
  if (error == std::errc::result_out_of_range) return ParseStatus::kOutOfRange;
  if (error != std::errc() || end != text.data() + n) return ParseStatus::kSyntax;
  // Whatever the library does at the edges: a non-zero number read as 0 or as infinity did not fit.
  if (!std::isfinite(value) || (nonzero && value == 0)) return ParseStatus::kOutOfRange;
  out = negative ? -value : value;
  return ParseStatus::kOk;
}

std::string shell_quote(std::string_view word) {
  bool plain = !word.empty();
  for (char c : word) plain = plain && is_plain_shell_character(c);
  if (plain) return std::string(word);
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string bash_quote(std::string_view word) {
  if (!has_control_characters(word)) return shell_quote(word);
  std::string quoted = "$'";
  for (char ch : word) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\'' || c == '\\') {
      quoted += '\\';
      quoted += ch;
    } else if (c < 0x20 || c == 0x7f) {
      append_escaped(quoted, c);
    } else {
      quoted += ch;
    }
  }
  return quoted + "'";
}

}  // namespace ubp::support

// Small text helpers for readers of outside bytes and writers of generated scripts: bounded
// excerpts for error messages, UTF-8 and control-character checks, number parsing that reports
// "does not fit" instead of throwing a library exception, and quoting for shells.
//
// Nothing here uses std::regex (libstdc++'s recurses once per character and overflows the stack
// on long input) or allocates more than its input's size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ubp::support {

// `text` for an error message: at most `max_chars` characters of it, control characters and
// bytes outside printable ASCII written as \n, \t, \xHH, and "... (N bytes)" when cut. Never
// longer than about 4 * max_chars + 30 characters, whatever the input.
std::string excerpt(std::string_view text, size_t max_chars = 80);

// Whether `text` holds a byte below 0x20 or 0x7f (newline, tab, escape, ...).
bool has_control_characters(std::string_view text);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
// On false, `bad_offset` (if given) is the offset of the first bad byte.
bool is_valid_utf8(std::string_view text, size_t* bad_offset = nullptr);

enum class ParseStatus { kOk, kSyntax, kOutOfRange };

// The whole of `text` as a decimal integer with an optional sign ("-12", "+7"); kOutOfRange
// when it does not fit in int64 (a 400-digit number).
ParseStatus parse_int64(std::string_view text, int64_t& out);
// The whole of `text` as hexadecimal digits (no prefix, no sign).
ParseStatus parse_hex_int64(std::string_view text, int64_t& out);
// The whole of `text` as a finite decimal number ("0.5", "-3", "1e-3", ".5", "+2."); kOutOfRange
// when it overflows (1e999) or underflows to a value a double cannot hold (1e-400).
ParseStatus parse_double(std::string_view text, double& out);

// `word` as one argument for a POSIX shell (sh, dash, bash): single-quoted unless it consists of
// characters no shell treats specially. Safe for every byte but NUL; a word with control
// characters stays one word but spans lines, so contexts that are read line by line (a login
// shell of unknown kind, a comment) must refuse or escape those first.
std::string shell_quote(std::string_view word);

// `word` as one argument for bash: like shell_quote, but a word holding control characters is
// written as $'...' with escapes (\n, \t, \xHH), so the script stays one command per line and
// no byte of the word can end a line, start a comment or close a quote.
std::string bash_quote(std::string_view word);

}  // namespace ubp::support

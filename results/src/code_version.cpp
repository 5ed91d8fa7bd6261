#include "ubp/results/code_version.h"

#include <tuple>

#include "build_info.h"  // generated at build time by results/cmake/build_info.cmake

namespace ubp::results {

namespace {

// Twelve hex digits name a commit unambiguously in practice and keep a note short.
constexpr size_t kShortCommit = 12;

auto as_tuple(const CodeVersion& code) {
  const int dirty = code.git_dirty ? (*code.git_dirty ? 1 : 0) : -1;
  return std::make_tuple(code.version, code.git_commit, dirty, code.build_type);
}

}  // namespace

std::string CodeVersion::describe() const {
  if (!recorded()) return "code not recorded (run before schema v3)";
  std::string text = "ubp " + version + ", commit ";
  if (git_commit.empty() || git_commit == "unknown") {
    text += "unknown";
  } else {
    text += git_commit.substr(0, kShortCommit);
    if (git_dirty) text += *git_dirty ? " (dirty)" : "";
    else text += " (dirty: unknown)";
  }
  return text + ", " + (build_type.empty() ? "unknown" : build_type) + " build";
}

bool CodeVersion::operator==(const CodeVersion& other) const { return as_tuple(*this) == as_tuple(other); }

bool CodeVersion::operator<(const CodeVersion& other) const { return as_tuple(*this) < as_tuple(other); }

const CodeVersion& this_build() {
  static const CodeVersion code = [] {
    CodeVersion c;
    c.version = UBP_BUILD_VERSION;
    c.git_commit = UBP_BUILD_GIT_COMMIT;
    if (UBP_BUILD_GIT_DIRTY >= 0) c.git_dirty = UBP_BUILD_GIT_DIRTY == 1;
    c.build_type = UBP_BUILD_TYPE;
    return c;
  }();
  return code;
}

}  // namespace ubp::results

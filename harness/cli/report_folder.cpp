#include "cli/report_folder.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ubp::cli {

namespace fs = std::filesystem;

namespace {

// Replaces every occurrence of `from` in `text` with `to`.
void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// Puts `fresh` where `target` is: exchanged in one step when the file system can (the old
// report then sits at `fresh`), else moved aside and replaced. Returns where the old report
// went ("" when there was none).
std::string swap_into_place(const fs::path& fresh, const fs::path& target) {
  if (!fs::exists(fs::symlink_status(target))) {
    if (::rename(fresh.c_str(), target.c_str()) != 0) {
      throw reports::ReportError("cannot move the new report " + fresh.string() + " to " + target.string() + ": " +
                                 std::strerror(errno));
    }
    return "";
  }
  if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) return fresh.string();
  if (errno != EINVAL && errno != ENOSYS) {
    throw reports::ReportError("cannot put the new report " + fresh.string() + " in place of " + target.string() +
                               ": " + std::strerror(errno));
  }
  // No exchange on this file system: two renames, with a moment where target is missing.
  const fs::path old = fresh.string() + ".old";
  const auto cannot = [&](int error) {
    return reports::ReportError("cannot put the new report " + fresh.string() + " in place of " + target.string() +
                                ": " + std::strerror(error));
  };
  if (::rename(target.c_str(), old.c_str()) != 0) throw cannot(errno);
  if (::rename(fresh.c_str(), target.c_str()) != 0) {
    const int error = errno;
    ::rename(old.c_str(), target.c_str());  // the old report back where it was
    throw cannot(error);
  }
  return old.string();
}

}  // namespace

std::string report_dir_beside(const std::string& db) {
  const fs::path path(db);
  return (path.parent_path() / (path.stem().string() + "-report")).string();
}

reports::ReportSummary write_report_replacing(const results::Store& store, reports::ReportOptions options) {
  fs::path target = fs::path(options.out_dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();  // "rep/" names the folder rep
  if (target.empty() || target == "." || target == "..") {
    throw reports::ReportError("--out '" + options.out_dir + "': give a folder of its own for the report "
                               "(it replaces the whole folder)");
  }
  std::error_code ec;
  // A link to the report folder stays a link: the report is replaced where the link points.
  if (fs::is_symlink(fs::symlink_status(target, ec))) {
    const fs::path resolved = fs::canonical(target, ec);
    if (!ec) target = resolved;
  }
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec)) {
      throw reports::ReportError("cannot write the report to " + target.string() +
                                 ": it is a file, not a folder; choose another folder or move the file");
    }
    // The whole folder is replaced: only an earlier report (or nothing) may be there.
    if (!fs::is_empty(target, ec) && !fs::exists(target / "report.md", ec)) {
      throw reports::ReportError("will not write the report to " + target.string() +
                                 ": the folder holds files but no report.md, so it is not a ubp report, and a "
                                 "report replaces its whole folder; choose a new folder");
    }
  }
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  if (ec) throw reports::ReportError("cannot create folder " + parent.string() + ": " + ec.message());

  std::string pattern = (parent / ("." + target.filename().string() + ".new-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw reports::ReportError("cannot create a folder for the new report in " + parent.string() + ": " +
                               std::strerror(errno));
  }
  const fs::path fresh = pattern;
  // mkdtemp makes the folder private (0700); a report folder is as readable as any other.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(fresh.c_str(), 0777 & ~mask);

  options.out_dir = fresh.string();
  reports::ReportSummary summary;
  try {
    summary = reports::write_report(store, options);
  } catch (const reports::ReportError& e) {
    fs::remove_all(fresh, ec);
    // The error names the scratch folder; the user knows the report by its own folder.
    std::string message = e.what();
    replace_all(message, fresh.string(), target.string());
    throw reports::ReportError("report " + target.string() + ": " + message);
  } catch (...) {
    fs::remove_all(fresh, ec);
    throw;
  }
  try {
    const std::string old = swap_into_place(fresh, target);
    if (!old.empty()) fs::remove_all(old, ec);
  } catch (...) {
    fs::remove_all(fresh, ec);
    throw;
  }

  for (std::string* text : {&summary.report_path, &summary.index_path}) replace_all(*text, fresh.string(), target.string());
  for (auto* list : {&summary.files, &summary.figure_errors}) {
    for (std::string& text : *list) replace_all(text, fresh.string(), target.string());
  }
  return summary;
}

}  // namespace ubp::cli

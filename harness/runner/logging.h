// Console and per-run log files (spdlog).
//
// The console is concise: progress lines and warnings go to stderr, so that stdout stays free
// for what a command prints as its result (plans, JSON, summaries). Each run also gets a log
// file with timestamps beside the database, <db dir>/logs/<run id>.log, appended on reruns.
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace ubp::runner {

enum class Verbosity { kQuiet, kNormal, kVerbose };

// The process-wide console logger, created on first use.
std::shared_ptr<spdlog::logger> console();
void set_verbosity(Verbosity verbosity);
// Whether long work may draw a progress bar: stderr is a terminal and the console not quiet.
bool progress_bar_wanted();

// A logger that writes to the console (at its level) and to `file` (always at debug level).
std::shared_ptr<spdlog::logger> run_logger(const std::string& run_id, const std::string& file);

}  // namespace ubp::runner

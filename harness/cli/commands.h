// The `ubp` subcommands. Each add_* registers one subcommand on the app and returns it with
// the handler that main() calls once parsing is complete. A handler returns the exit status:
//   0 success, 1 some run failed or a runtime error, 2 bad input (usage, config, database).
#pragma once

#include <functional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

namespace ubp::cli {

using Command = std::pair<CLI::App*, std::function<int()>>;

Command add_run_command(CLI::App& app);
Command add_db_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_select_command(CLI::App& app);
Command add_keys_command(CLI::App& app);
Command add_export_command(CLI::App& app);
Command add_latency_command(CLI::App& app);
Command add_plan_command(CLI::App& app);

// Prints "error: <message>" to stderr and returns `code`.
int fail(const std::string& message, int code);

}  // namespace ubp::cli

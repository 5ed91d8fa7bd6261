// ubp: compare aligned and unaligned block pruning (ABP, optimal UBP, BED), from config to report.
#include <spdlog/version.h>
#include <sqlite3.h>
#include <torch/version.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "runner/logging.h"
#include "ubp/results/code_version.h"
#include "ubp/support/error.h"

namespace ubp::cli {

int fail(const std::string& message, int code) {
  std::fflush(stdout);
  std::cerr << "error: " << message << std::endl;
  return code;
}

}  // namespace ubp::cli

int main(int argc, char** argv) {
  CLI::App app{
      "ubp: aligned vs. unaligned block pruning (ABP, optimal UBP, BED) - run experiments from YAML\n"
      "configs, store results in SQLite, and report them.",
      "ubp"};
  app.fallthrough();  // global flags may follow the subcommand
  app.require_subcommand(1);
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "Show each run's own log lines and debug detail");
  app.add_flag("-q,--quiet", quiet, "Show only warnings and errors");
  app.set_version_flag("--version",
                       ubp::results::this_build().describe() + " (LibTorch " + TORCH_VERSION +
                           ", SQLite " + SQLITE_VERSION + ", spdlog " +
                           std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) +
                           ")");
  app.footer("Run `ubp SUBCOMMAND --help` for each subcommand's options.");

  const ubp::cli::Command commands[] = {ubp::cli::add_run_command(app), ubp::cli::add_db_command(app),
                                         ubp::cli::add_report_command(app),
                                         ubp::cli::add_select_command(app), ubp::cli::add_keys_command(app),
                                         ubp::cli::add_export_command(app), ubp::cli::add_latency_command(app),
                                         ubp::cli::add_plan_command(app)};
  if (argc == 1) {  // bare `ubp`: show what it can do
    std::cout << app.help();
    return 2;
  }
  std::string known;
  bool is_known = false;
  for (const auto* sub : app.get_subcommands({})) {
    known += (known.empty() ? "" : ", ") + sub->get_name();
    is_known = is_known || sub->get_name() == argv[1];
  }
  if (argv[1][0] != '-' && !is_known) {
    return ubp::cli::fail("unknown command '" + std::string(argv[1]) + "' (accepted: " + known + ")", 2);
  }
  try {
    app.parse(argc, argv);
    if (verbose && quiet) throw CLI::ValidationError("--verbose and --quiet exclude each other");
  } catch (const CLI::ParseError& e) {
    // --help and --version print through CLI11; a usage error is one line and exit status 2.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    return ubp::cli::fail(std::string(e.what()) + " (see `ubp --help` or `ubp SUBCOMMAND --help`)", 2);
  }
  ubp::runner::set_verbosity(verbose  ? ubp::runner::Verbosity::kVerbose
                             : quiet ? ubp::runner::Verbosity::kQuiet
                                     : ubp::runner::Verbosity::kNormal);
  try {
    for (const auto& [subcommand, handler] : commands) {
      if (subcommand->parsed()) return handler();
    }
  } catch (const ubp::support::Error& e) {  // its kind decides: bad input 2, a failure 1
    return ubp::cli::fail(e.what(), ubp::support::exit_code(e.kind()));
  } catch (const std::exception& e) {
    return ubp::cli::fail(e.what(), 1);
  }
  return 0;
}

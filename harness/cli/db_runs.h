// The run-level `ubp db` subcommands: list a database's runs, show one run, remove runs.
// db_command.cpp declares their options; the store operations live in results/.
#pragma once

#include <string>
#include <vector>

namespace ubp::cli {

struct DbRunsArgs {  // ubp db runs DB [--where K=V ...] [--status S ...] [--json]
  std::string db;
  std::vector<std::string> where;
  std::vector<std::string> statuses;
  bool json = false;
};

struct DbShowArgs {  // ubp db show DB RUN_ID [--json]
  std::string db;
  std::string run;
  bool json = false;
};

struct DbRmArgs {  // ubp db rm DB RUN_ID... | ubp db rm DB --failed
  std::string db;
  std::vector<std::string> runs;
  bool failed = false;
  bool force = false;
};

// Each returns the exit status; a bad database, run id or filter throws results::StoreError or
// reports::ReportError, which the caller turns into exit status 2.
int list_runs(const DbRunsArgs& args);
int show_run(const DbShowArgs& args);
int remove_runs(const DbRmArgs& args);

}  // namespace ubp::cli

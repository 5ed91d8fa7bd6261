// Finding a run by a prefix of its id, and removing runs with all their rows (`ubp db rm`).
#include <set>
#include <string>
#include <vector>

#include "sqlite_support.h"
#include "store_impl.h"
#include "ubp/results/store.h"

namespace ubp::results {

using detail::Connection;
using detail::guarded;
using detail::live;
using detail::Statement;
using detail::Transaction;

namespace {

// Deletes one run's rows table by table (so that each count is known), then the run.
void remove_one(const Connection& connection, const std::string& run_id, RemovedRuns& removed) {
  const std::pair<const char*, int64_t*> tables[] = {{"params", &removed.params},
                                                     {"metrics", &removed.metrics},
                                                     {"layers", &removed.layers},
                                                     {"latency", &removed.latency}};
  for (const auto& [table, count] : tables) {
    Statement erase(connection, std::string("DELETE FROM ") + table + " WHERE run_id = ?1");
    erase.bind(1, run_id).run();
    *count += sqlite3_changes(connection.db);
  }
  Statement erase_run(connection, "DELETE FROM runs WHERE run_id = ?1");
  erase_run.bind(1, run_id).run();
  removed.run_ids.push_back(run_id);
}

}  // namespace

std::string Store::resolve_run_id(const std::string& id_or_prefix) const {
  const Connection& connection = live(impl_).connection;
  if (id_or_prefix.empty()) {
    throw StoreError(connection.path + ": an empty run id; give a run id or its first digits");
  }
  return guarded(connection, "cannot look up run '" + id_or_prefix + "'", [&] {
    Statement exact(connection, "SELECT run_id FROM runs WHERE run_id = ?1");
    exact.bind(1, id_or_prefix);
    if (exact.step()) return exact.text(0);
    // substr, not LIKE: a run id may hold characters LIKE would read as wildcards.
    Statement by_prefix(connection,
                        "SELECT run_id FROM runs WHERE substr(run_id, 1, length(?1)) = ?1 "
                        "ORDER BY run_id LIMIT 6");
    by_prefix.bind(1, id_or_prefix);
    std::vector<std::string> matches;
    while (by_prefix.step()) matches.push_back(by_prefix.text(0));
    if (matches.size() == 1) return matches.front();
    if (matches.empty()) {
      throw StoreError(connection.path + ": no run '" + id_or_prefix +
                       "' in the database; `ubp db runs " + connection.path + "` lists its runs");
    }
    std::string listed;
    for (size_t i = 0; i < matches.size() && i < 5; ++i) listed += (i == 0 ? "" : ", ") + matches[i];
    throw StoreError(connection.path + ": run id prefix '" + id_or_prefix + "' matches " +
                     (matches.size() > 5 ? "more than 5 runs" : std::to_string(matches.size()) + " runs") +
                     " (" + listed + (matches.size() > 5 ? ", ..." : "") + "); give more digits");
  });
}

RemovedRuns Store::remove_runs(const std::vector<std::string>& run_ids, bool allow_running) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot remove runs";
  detail::require_writable(impl, what);
  return guarded(connection, what, [&] {
    Transaction transaction(connection);
    // Check every id before deleting anything, so a typo removes nothing.
    std::set<std::string> seen;
    Statement status(connection, "SELECT status FROM runs WHERE run_id = ?1");
    for (const std::string& run_id : run_ids) {
      if (!seen.insert(run_id).second) {
        throw StoreError(connection.path + ": " + what + ": run '" + run_id +
                         "' is named twice; nothing was removed");
      }
      status.reset();
      status.bind(1, run_id);
      if (!status.step()) {
        throw StoreError(connection.path + ": " + what + ": no run '" + run_id +
                         "' in the database; nothing was removed");
      }
      if (!allow_running && run_status_from_string(status.text(0)) == RunStatus::kRunning) {
        throw StoreError(connection.path + ": " + what + ": run '" + run_id +
                         "' is running (a live `ubp run` may be writing it, or it was killed); "
                         "nothing was removed (`ubp db rm --force` removes it when no process runs it)");
      }
    }
    status.reset();
    RemovedRuns removed;
    for (const std::string& run_id : run_ids) remove_one(connection, run_id, removed);
    transaction.commit();
    return removed;
  });
}

RemovedRuns Store::remove_runs_with_status(RunStatus status) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = std::string("cannot remove the ") + to_string(status) + " runs";
  detail::require_writable(impl, what);
  return guarded(connection, what, [&] {
    Transaction transaction(connection);
    std::vector<std::string> run_ids;
    {
      Statement select(connection,
                       "SELECT run_id FROM runs WHERE status = ?1 ORDER BY created_at, run_id");
      select.bind(1, std::string(to_string(status)));
      while (select.step()) run_ids.push_back(select.text(0));
    }
    RemovedRuns removed;
    for (const std::string& run_id : run_ids) remove_one(connection, run_id, removed);
    transaction.commit();
    return removed;
  });
}

}  // namespace ubp::results

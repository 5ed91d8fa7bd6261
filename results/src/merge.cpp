// Store::merge_from: folds a shard database into this one, one transaction per source.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "sqlite_support.h"
#include "store_impl.h"
#include "ubp/results/store.h"

namespace ubp::results {

using detail::Connection;
using detail::Statement;
using detail::Transaction;

namespace {

// A column copied by a merge: a source older than `since` lacks it and gives `fallback`.
struct CopiedColumn {
  const char* name;
  int since = 1;
  const char* fallback = "NULL";
};

// The tables that hold a run's rows, with the columns copied and the order they are read in
// (layers and latency keep the order they were written in).
struct RunTable {
  const char* name;
  std::vector<CopiedColumn> columns;
  const char* order;
};

// The lease columns (v3) are left out on purpose: a lease names a runner of the source's
// database, which has no say over the destination.
const RunTable kRunsTable = {
    "runs",
    {{"run_id"}, {"kind"}, {"status"}, {"config_json"}, {"created_at"}, {"started_at"}, {"finished_at"},
     {"host"}, {"error"}, {"attempts"}, {"ubp_version", 3}, {"git_commit", 3}, {"git_dirty", 3},
     {"build_type", 3}},
    "run_id"};

const RunTable kChildTables[] = {
    {"params", {{"run_id"}, {"key"}, {"value_json"}, {"value_num"}}, "key"},
    {"metrics", {{"run_id"}, {"key"}, {"step"}, {"value"}}, "key, step"},
    {"layers",
     {{"run_id"}, {"layer"}, {"rows"}, {"cols"}, {"block_rows"}, {"block_cols"}, {"method"}, {"kept_blocks"},
      {"sparsity"}, {"retained_importance"}, {"total_importance"}, {"selection_seconds"}},
     "rowid"},
    {"latency",
     {{"run_id"}, {"model"}, {"device"}, {"kernel"}, {"threads"}, {"p50_ms"}, {"p90_ms"}, {"p99_ms"}, {"min_ms"},
      {"mean_ms"}, {"valid"}, {"detail_json"}, {"recorded_at"}, {"status", 2, "'ok'"}, {"error", 2},
      {"cv", 2}, {"samples", 2, "0"}, {"sessions", 2, "0"}},
     "id"},
};

// How far along a run is: done > failed > running > pending.
int rank(RunStatus status) {
  switch (status) {
    case RunStatus::kPending:
      return 0;
    case RunStatus::kRunning:
      return 1;
    case RunStatus::kFailed:
      return 2;
    case RunStatus::kDone:
      return 3;
  }
  return 0;
}

bool source_copy_wins(RunStatus source, const std::string& source_finished_at, RunStatus here,
                      const std::string& here_finished_at) {
  if (rank(source) != rank(here)) return rank(source) > rank(here);
  return source == RunStatus::kDone && source_finished_at > here_finished_at;
}

// Copies one run's rows of a table from one connection to another, value for value.
class RowCopier {
 public:
  RowCopier(const Connection& from, int from_version, const Connection& to, const RunTable& table)
      : select_(from, "SELECT " + source_columns(table, from_version) + " FROM " + table.name +
                          " WHERE run_id = ?1 ORDER BY " + table.order),
        insert_(to, std::string("INSERT INTO ") + table.name + "(" + names(table) + ") VALUES(" +
                        placeholders(table.columns.size()) + ")") {}

  void copy(const std::string& run_id) {
    select_.reset();
    select_.bind(1, run_id);
    const int columns = sqlite3_column_count(select_.handle());
    while (select_.step()) {
      for (int i = 0; i < columns; ++i) {
        insert_.bind_value(i + 1, sqlite3_column_value(select_.handle(), i));
      }
      insert_.run();
      insert_.reset();
    }
  }

 private:
  static std::string names(const RunTable& table) {
    std::string text;
    for (const CopiedColumn& c : table.columns) text += (text.empty() ? "" : ", ") + std::string(c.name);
    return text;
  }
  // What the source gives for each column: the column, or its fallback where the source's
  // schema is older than the column.
  static std::string source_columns(const RunTable& table, int version) {
    std::string text;
    for (const CopiedColumn& c : table.columns) {
      text += (text.empty() ? "" : ", ") + std::string(version >= c.since ? c.name : c.fallback);
    }
    return text;
  }
  static std::string placeholders(size_t count) {
    std::string text = "?";
    for (size_t i = 1; i < count; ++i) text += ", ?";
    return text;
  }

  Statement select_;
  Statement insert_;
};

}  // namespace

int64_t Store::merge_from(const std::string& source_path) {
  const Impl& impl = detail::live(impl_);
  const Connection& here = impl.connection;
  const std::string what = "cannot merge " + source_path + " into it";
  detail::require_writable(impl, what);

  std::error_code ignored;
  if (std::filesystem::equivalent(source_path, here.path, ignored)) {
    throw StoreError(here.path + ": " + what + ": it is the same database; give another file");
  }
  // The read-only open refuses a missing file, a non-SQLite file and a newer schema, and
  // never writes to the source.
  Store source = [&] {
    try {
      return Store::open(source_path, OpenMode::kReadOnly);
    } catch (const StoreError& error) {
      throw StoreError(here.path + ": " + what + ": " + error.what());
    }
  }();
  const Connection& from = source.impl_->connection;

  return detail::guarded(here, what, [&]() -> int64_t {
    Transaction write(here);
    Transaction snapshot(from, Transaction::Kind::kRead);

    Statement source_runs(from,
                          "SELECT run_id, status, finished_at FROM runs "
                          "ORDER BY created_at, run_id");
    Statement existing(here, "SELECT status, finished_at FROM runs WHERE run_id = ?1");
    RowCopier copy_run(from, source.schema_version(), here, kRunsTable);
    std::vector<std::unique_ptr<RowCopier>> copy_children;
    std::vector<std::unique_ptr<Statement>> erase_children;
    for (const RunTable& table : kChildTables) {
      copy_children.push_back(
          std::make_unique<RowCopier>(from, source.schema_version(), here, table));
      erase_children.push_back(std::make_unique<Statement>(
          here, std::string("DELETE FROM ") + table.name + " WHERE run_id = ?1"));
    }
    Statement erase_run(here, "DELETE FROM runs WHERE run_id = ?1");

    int64_t changed = 0;
    while (source_runs.step()) {
      const std::string run_id = source_runs.text(0);
      const RunStatus source_status = run_status_from_string(source_runs.text(1));
      const std::string source_finished_at = source_runs.text(2);

      existing.reset();
      existing.bind(1, run_id);
      if (existing.step()) {
        const RunStatus here_status = run_status_from_string(existing.text(0));
        const std::string here_finished_at = existing.text(1);
        existing.reset();
        if (!source_copy_wins(source_status, source_finished_at, here_status,
                              here_finished_at)) {
          continue;
        }
        for (auto& erase : erase_children) {
          erase->bind(1, run_id).run();
          erase->reset();
        }
        erase_run.bind(1, run_id).run();
        erase_run.reset();
      }
      existing.reset();

      copy_run.copy(run_id);
      for (auto& copy : copy_children) copy->copy(run_id);
      ++changed;
    }

    snapshot.commit();
    write.commit();
    return changed;
  });
}

}  // namespace ubp::results

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

// The tables that hold a run's rows, with the columns copied and the order they are read in
// (layers and latency keep the order they were written in).
struct RunTable {
  const char* name;
  const char* columns;
  const char* order;
  // What a schema v1 source gives for `columns` (nullptr: the same columns): v2 added latency
  // columns, which an old shard fills with their defaults.
  const char* v1_select = nullptr;
};

constexpr RunTable kRunsTable = {
    "runs",
    "run_id, kind, status, config_json, created_at, started_at, finished_at, host, error, "
    "attempts",
    "run_id"};

constexpr RunTable kChildTables[] = {
    {"params", "run_id, key, value_json, value_num", "key"},
    {"metrics", "run_id, key, step, value", "key, step"},
    {"layers",
     "run_id, layer, rows, cols, block_rows, block_cols, method, kept_blocks, sparsity, "
     "retained_importance, total_importance, selection_seconds",
     "rowid"},
    {"latency",
     "run_id, model, device, kernel, threads, p50_ms, p90_ms, p99_ms, min_ms, mean_ms, valid, "
     "detail_json, recorded_at, status, error, cv, samples, sessions",
     "id",
     "run_id, model, device, kernel, threads, p50_ms, p90_ms, p99_ms, min_ms, mean_ms, valid, "
     "detail_json, recorded_at, 'ok', NULL, NULL, 0, 0"},
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
  RowCopier(const Connection& from, int from_version, const Connection& to,
            const RunTable& table)
      : select_(from, std::string("SELECT ") +
                          (from_version < 2 && table.v1_select ? table.v1_select : table.columns) +
                          " FROM " + table.name +
                          " WHERE run_id = ?1 ORDER BY " + table.order),
        insert_(to, std::string("INSERT INTO ") + table.name + "(" + table.columns +
                        ") VALUES(" + placeholders(table.columns) + ")") {}

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
  static std::string placeholders(const std::string& columns) {
    const auto count = std::count(columns.begin(), columns.end(), ',') + 1;
    std::string text = "?";
    for (int i = 1; i < count; ++i) text += ", ?";
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

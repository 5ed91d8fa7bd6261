#include "ubp/results/store.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

#include "schema.h"
#include "sqlite_support.h"
#include "store_impl.h"

namespace ubp::results {

namespace fs = std::filesystem;
using detail::Connection;
using detail::guarded;
using detail::live;
using detail::no_such_run;
using detail::require_writable;
using detail::Statement;
using detail::Transaction;

namespace {

constexpr int kBusyTimeoutMs = 10000;


std::string parent_directory(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Explains why SQLite could not open (or first read, or set up) the database at `path`.
[[noreturn]] void throw_open_failure(const std::string& path, int code,
                                     const std::string& sqlite_message, int system_errno) {
  const int primary = code & 0xff;
  if (primary == SQLITE_NOTADB) {
    throw StoreError(path +
                     ": not a SQLite database (file is damaged or of another kind); check the "
                     "path, or move the file aside to start a new database");
  }
  if (primary == SQLITE_CORRUPT) {
    throw StoreError(path + ": the database is damaged (" + sqlite_message +
                     "); restore it from a copy");
  }
  if (primary == SQLITE_FULL || system_errno == ENOSPC || system_errno == EDQUOT) {
    throw StoreError(path + ": no space left on the device holding " + parent_directory(path) +
                     " to open the database (it needs room for its -wal and -shm files); free space and "
                     "retry");
  }
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR || primary == SQLITE_PERM ||
      primary == SQLITE_READONLY) {
    std::error_code ignored;
    const std::string directory = parent_directory(path);
    const fs::file_status directory_status = fs::status(directory, ignored);
    if (!fs::exists(directory_status)) {
      throw StoreError(path + ": directory " + directory +
                       " does not exist; create it or choose another database path");
    }
    if (!fs::is_directory(directory_status)) {
      throw StoreError(path + ": " + directory +
                       " is not a directory; choose another database path");
    }
    const fs::file_status file_status = fs::status(path, ignored);
    if (fs::is_directory(file_status)) {
      throw StoreError(path + ": is a directory, not a database file; give the path of a file");
    }
    if (fs::exists(file_status) && ::access(path.c_str(), R_OK) != 0) {
      throw StoreError(path +
                       ": cannot read the file (permission denied); fix its permissions "
                       "(chmod u+rw) or choose another path");
    }
    for (const char* suffix : {"-wal", "-shm"}) {
      const fs::file_status side = fs::status(path + suffix, ignored);
      if (fs::exists(side) && !fs::is_regular_file(side)) {
        throw StoreError(path + ": " + path + suffix +
                         " is in the way (it is not a regular file); move it aside");
      }
    }
    if (!fs::exists(file_status)) {
      // No errno here: SQLite retries a failed create read-only, which leaves ENOENT behind.
      throw StoreError(path + ": cannot create the database in " + directory +
                       "; make the directory writable (and check that its file system is "
                       "neither full nor read-only) or choose another path");
    }
    const std::string reason = system_errno != 0 ? std::strerror(system_errno) : sqlite_message;
    throw StoreError(path + ": cannot open the database or create its -wal/-shm files in " +
                     directory + " (" + reason +
                     "); make the directory writable and the file readable and writable");
  }
  throw StoreError(path + ": cannot open the database: " + sqlite_message + "; " +
                   detail::advice_for(code, system_errno));
}

StoreError newer_schema_error(const std::string& path, int64_t version) {
  return StoreError(path + ": schema version " + std::to_string(version) +
                    " is newer than this ubp supports (" +
                    std::to_string(Store::kSchemaVersion) + "); use a newer ubp");
}

// Checks what kind of file was opened and, for kReadWrite, switches it to WAL and migrates.
// Nothing is written before the checks pass, so a refused file keeps its bytes.
int set_up(const Connection& connection, OpenMode mode) {
  const std::string& path = connection.path;
  connection.exec("PRAGMA foreign_keys = ON");
  const int64_t version = connection.query_int("PRAGMA user_version");  // first read
  if (version > Store::kSchemaVersion) throw newer_schema_error(path, version);
  const int64_t application_id = connection.query_int("PRAGMA application_id");
  if (version < 0 || (application_id != 0 && application_id != detail::kApplicationId)) {
    throw StoreError(path + ": a SQLite database of another application (application_id " +
                     std::to_string(application_id) + ", user_version " +
                     std::to_string(version) +
                     "), not a ubp results database; choose another path");
  }
  if (version == 0 && connection.query_int("SELECT count(*) FROM sqlite_master") > 0) {
    throw StoreError(path +
                     ": a SQLite database with tables of its own but no ubp schema version, "
                     "not a ubp results database; choose another path");
  }

  if (mode == OpenMode::kReadOnly) {
    if (version == 0) {
      throw StoreError(path +
                       ": an empty database without the ubp schema; open it for writing once "
                       "to create the schema, or check the path");
    }
    connection.exec("PRAGMA query_only = ON");
    return static_cast<int>(version);
  }

  const std::string journal_mode = connection.query_text("PRAGMA journal_mode = WAL");
  if (journal_mode != "wal" && journal_mode != "memory") {
    throw StoreError(path + ": cannot switch the database to WAL mode (journal mode stays '" +
                     journal_mode +
                     "'); keep it on a local file system that supports shared memory");
  }
  connection.exec("PRAGMA synchronous = FULL");
  const int migrated = detail::migrate(connection, static_cast<int>(version));
  if (migrated > Store::kSchemaVersion) throw newer_schema_error(path, migrated);
  return migrated;
}

// The run's status, or nothing when the database has no such run.
std::optional<RunStatus> status_of(const Connection& connection, const std::string& run_id) {
  Statement query(connection, "SELECT status FROM runs WHERE run_id = ?1");
  query.bind(1, run_id);
  if (!query.step()) return std::nullopt;
  return run_status_from_string(query.text(0));
}

}  // namespace

namespace detail {

StoreError no_such_run(const Connection& connection, const std::string& run_id,
                       const std::string& what) {
  return StoreError(connection.path + ": " + what + ": no run '" + run_id +
                    "' in the database; register it first");
}

std::string run_columns(int schema_version) {
  std::string columns =
      "run_id, kind, status, config_json, created_at, started_at, finished_at, host, error, attempts, ";
  columns += schema_version >= 3
                 ? "ubp_version, git_commit, git_dirty, build_type, lease_host, lease_pid, lease_token, lease_heartbeat"
                 : "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL";
  return columns;
}

RunRow read_run(const Statement& row) {
  RunRow run;
  run.run_id = row.text(0);
  run.kind = row.text(1);
  run.status = run_status_from_string(row.text(2));
  run.config_json = row.text(3);
  run.created_at = row.text(4);
  run.started_at = row.text(5);
  run.finished_at = row.text(6);
  run.host = row.text(7);
  run.error = row.text(8);
  run.attempts = static_cast<int>(row.int64(9));
  run.code.version = row.text(10);
  run.code.git_commit = row.text(11);
  if (!row.is_null(12)) run.code.git_dirty = row.int64(12) != 0;
  run.code.build_type = row.text(13);
  run.lease = lease_from_columns(row, 14, run.run_id);
  return run;
}

void bind_this_build(Statement& statement, int first) {
  const CodeVersion& code = this_build();
  statement.bind(first, code.version).bind(first + 1, code.git_commit);
  if (code.git_dirty) {
    statement.bind(first + 2, static_cast<int64_t>(*code.git_dirty ? 1 : 0));
  } else {
    statement.bind_null(first + 2);
  }
  statement.bind(first + 3, code.build_type);
}

}  // namespace detail

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kPending:
      return "pending";
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kDone:
      return "done";
    case RunStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

RunStatus run_status_from_string(const std::string& text) {
  if (text == "pending") return RunStatus::kPending;
  if (text == "running") return RunStatus::kRunning;
  if (text == "done") return RunStatus::kDone;
  if (text == "failed") return RunStatus::kFailed;
  throw StoreError("unknown run status '" + text +
                   "'; expected pending, running, done or failed");
}

std::string utc_now_iso8601() {
  using namespace std::chrono;
  const int64_t ms =
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

Store Store::open(const std::string& path, OpenMode mode) {
  if (path.empty()) {
    throw StoreError("results database path is empty; give a file path such as results.db");
  }
  auto impl = std::make_unique<Impl>();
  impl->mode = mode;
  Connection& connection = impl->connection;
  connection.path = path;

  if (mode == OpenMode::kReadOnly) {
    std::error_code ignored;
    if (!fs::exists(fs::status(path, ignored))) {
      throw StoreError(path +
                       ": no such database; check the path (opening read-only never creates "
                       "one)");
    }
  }

  const int flags = mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY
                                                : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &connection.db, flags, nullptr) != SQLITE_OK) {
    if (connection.db == nullptr) {
      throw StoreError(path + ": cannot open the database: out of memory");
    }
    throw_open_failure(path, sqlite3_extended_errcode(connection.db),
                       sqlite3_errmsg(connection.db), sqlite3_system_errno(connection.db));
  }
  sqlite3_extended_result_codes(connection.db, 1);
  sqlite3_busy_timeout(connection.db, kBusyTimeoutMs);
  if (mode == OpenMode::kReadWrite && sqlite3_db_readonly(connection.db, "main") == 1) {
    throw StoreError(path +
                     ": the file is read-only (permission denied); make it writable (chmod "
                     "u+w) or open the database read-only");
  }

  try {
    impl->schema_version = set_up(connection, mode);
  } catch (const detail::SqlFailure& failure) {
    throw_open_failure(path, failure.code(), failure.sqlite_message(), failure.system_errno());
  }
  return Store(std::move(impl));
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

const std::string& Store::path() const { return live(impl_).connection.path; }

int Store::schema_version() const { return live(impl_).schema_version; }

sqlite3* Store::raw_handle() const { return live(impl_).connection.db; }

RunStatus Store::register_run(const std::string& run_id, const std::string& kind,
                              const std::string& config_json, const std::vector<Param>& params) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot register run '" + run_id + "'";
  require_writable(impl, what);
  if (run_id.empty()) throw StoreError(connection.path + ": " + what + ": the run id is empty");
  if (kind.empty()) throw StoreError(connection.path + ": " + what + ": the run kind is empty");

  return guarded(connection, what, [&] {
    Transaction transaction(connection);
    Statement insert(connection,
                     "INSERT INTO runs(run_id, kind, status, config_json, created_at) "
                     "VALUES(?1, ?2, 'pending', ?3, ?4) ON CONFLICT(run_id) DO NOTHING");
    insert.bind(1, run_id).bind(2, kind).bind(3, config_json).bind(4, utc_now_iso8601()).run();
    if (sqlite3_changes(connection.db) == 1) {
      Statement param(connection,
                      "INSERT INTO params(run_id, key, value_json, value_num) "
                      "VALUES(?1, ?2, ?3, ?4)");
      param.bind(1, run_id);
      for (const Param& p : params) {
        param.bind(2, p.key).bind(3, p.json_value).bind(4, p.number).run();
        param.reset();
      }
    }
    const std::optional<RunStatus> status = status_of(connection, run_id);
    transaction.commit();
    return status.value_or(RunStatus::kPending);
  });
}

void Store::mark_running(const std::string& run_id, const std::string& host) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot mark run '" + run_id + "' running";
  require_writable(impl, what);

  guarded(connection, what, [&] {
    Transaction transaction(connection);
    const std::optional<RunStatus> status = status_of(connection, run_id);
    if (!status) throw no_such_run(connection, run_id, what);
    if (*status == RunStatus::kDone) {
      throw StoreError(connection.path + ": " + what +
                       ": it is already done; a done run is not run again");
    }
    Statement update(connection,
                     "UPDATE runs SET status = 'running', started_at = ?2, host = ?3, "
                     "attempts = attempts + 1, error = NULL, finished_at = NULL, ubp_version = ?4, "
                     "git_commit = ?5, git_dirty = ?6, build_type = ?7 WHERE run_id = ?1");
    update.bind(1, run_id).bind(2, utc_now_iso8601()).bind_text_or_null(3, host);
    detail::bind_this_build(update, 4);
    update.run();
    transaction.commit();
  });
}

namespace {

void insert_latency_rows(const Connection& connection, const std::string& run_id,
                         const std::vector<LatencyRecord>& rows, const std::string& now) {
  Statement latency(connection,
                    "INSERT INTO latency(run_id, model, device, kernel, threads, p50_ms, "
                    "p90_ms, p99_ms, min_ms, mean_ms, valid, detail_json, recorded_at, "
                    "status, error, cv, samples, sessions) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                    "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
  latency.bind(1, run_id).bind(13, now);
  for (const LatencyRecord& r : rows) {
    latency.bind(2, r.model).bind(3, r.device).bind(4, r.kernel).bind(5, r.threads);
    latency.bind(6, r.p50_ms).bind(7, r.p90_ms).bind(8, r.p99_ms).bind(9, r.min_ms);
    latency.bind(10, r.mean_ms).bind(11, r.valid ? 1 : 0).bind(12, r.detail_json);
    latency.bind(14, std::string(r.failed ? "failed" : "ok")).bind_text_or_null(15, r.error);
    latency.bind(16, r.cv);
    latency.bind(17, r.samples).bind(18, r.sessions).run();
    latency.reset();
  }
}

}  // namespace

void Store::add_latency(const std::string& run_id, const std::vector<LatencyRecord>& rows,
                        const std::string& lease_token) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot add latency rows to run '" + run_id + "'";
  require_writable(impl, what);
  guarded(connection, what, [&] {
    Transaction transaction(connection);
    const std::optional<RunStatus> status = status_of(connection, run_id);
    if (!status) throw no_such_run(connection, run_id, what);
    if (*status != RunStatus::kDone) {
      throw StoreError(connection.path + ": " + what + ": the run is " + to_string(*status) +
                       ", not done; its latency is recorded when it finishes");
    }
    if (!lease_token.empty()) detail::require_lease(connection, run_id, lease_token, what);
    insert_latency_rows(connection, run_id, rows, utc_now_iso8601());
    if (!lease_token.empty()) detail::clear_lease(connection, run_id);
    transaction.commit();
  });
}

void Store::finish_done(const std::string& run_id, const RunResult& result,
                        const std::string& lease_token) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot record the results of run '" + run_id + "'";
  require_writable(impl, what);

  guarded(connection, what, [&] {
    Transaction transaction(connection);
    if (!status_of(connection, run_id)) throw no_such_run(connection, run_id, what);
    if (!lease_token.empty()) detail::require_lease(connection, run_id, lease_token, what);

    for (const char* table : {"metrics", "layers", "latency"}) {
      Statement erase(connection, std::string("DELETE FROM ") + table + " WHERE run_id = ?1");
      erase.bind(1, run_id).run();
    }

    Statement metric(connection,
                     "INSERT INTO metrics(run_id, key, step, value) VALUES(?1, ?2, ?3, ?4)");
    metric.bind(1, run_id);
    for (const Metric& m : result.metrics) {
      metric.bind(2, m.key).bind(3, m.step).bind(4, m.value).run();
      metric.reset();
    }

    Statement layer(connection,
                    "INSERT INTO layers(run_id, layer, rows, cols, block_rows, block_cols, "
                    "method, kept_blocks, sparsity, retained_importance, total_importance, "
                    "selection_seconds) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    layer.bind(1, run_id);
    for (const LayerRecord& l : result.layers) {
      layer.bind(2, l.layer).bind(3, l.rows).bind(4, l.cols).bind(5, l.block_rows);
      layer.bind(6, l.block_cols).bind(7, l.method).bind(8, l.kept_blocks).bind(9, l.sparsity);
      layer.bind(10, l.retained_importance).bind(11, l.total_importance);
      layer.bind(12, l.selection_seconds).run();
      layer.reset();
    }

    const std::string now = utc_now_iso8601();
    insert_latency_rows(connection, run_id, result.latency, now);

    Statement done(connection,
                   "UPDATE runs SET status = 'done', finished_at = ?2, error = NULL, ubp_version = ?3, "
                   "git_commit = ?4, git_dirty = ?5, build_type = ?6 WHERE run_id = ?1");
    done.bind(1, run_id).bind(2, now);
    detail::bind_this_build(done, 3);
    done.run();
    detail::clear_lease(connection, run_id);
    transaction.commit();
  });
}

void Store::mark_failed(const std::string& run_id, const std::string& error,
                        const std::string& lease_token) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot mark run '" + run_id + "' failed";
  require_writable(impl, what);

  guarded(connection, what, [&] {
    Transaction transaction(connection);
    if (!lease_token.empty()) detail::require_lease(connection, run_id, lease_token, what);
    Statement update(connection,
                     "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3, ubp_version = ?4, "
                     "git_commit = ?5, git_dirty = ?6, build_type = ?7 WHERE run_id = ?1");
    update.bind(1, run_id).bind(2, utc_now_iso8601()).bind(3, error);
    detail::bind_this_build(update, 4);
    update.run();
    if (sqlite3_changes(connection.db) == 0) throw no_such_run(connection, run_id, what);
    detail::clear_lease(connection, run_id);
    transaction.commit();
  });
}

std::optional<RunRow> Store::find_run(const std::string& run_id) const {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  return guarded(connection, "cannot read run '" + run_id + "'", [&]() -> std::optional<RunRow> {
    Statement query(connection,
                    "SELECT " + detail::run_columns(impl.schema_version) + " FROM runs WHERE run_id = ?1");
    query.bind(1, run_id);
    if (!query.step()) return std::nullopt;
    return detail::read_run(query);
  });
}

std::vector<RunRow> Store::list_runs() const {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  return guarded(connection, "cannot list the runs", [&] {
    Statement query(connection, "SELECT " + detail::run_columns(impl.schema_version) +
                                    " FROM runs ORDER BY created_at, run_id");
    std::vector<RunRow> runs;
    while (query.step()) runs.push_back(detail::read_run(query));
    return runs;
  });
}

std::vector<Param> Store::params_of(const std::string& run_id) const {
  const Connection& connection = live(impl_).connection;
  return guarded(connection, "cannot read the params of run '" + run_id + "'", [&] {
    Statement query(connection,
                    "SELECT key, value_json, value_num FROM params WHERE run_id = ?1 "
                    "ORDER BY key");
    query.bind(1, run_id);
    std::vector<Param> params;
    while (query.step()) {
      params.push_back(Param{query.text(0), query.text(1), query.optional_real(2)});
    }
    return params;
  });
}

std::vector<Metric> Store::metrics_of(const std::string& run_id) const {
  const Connection& connection = live(impl_).connection;
  return guarded(connection, "cannot read the metrics of run '" + run_id + "'", [&] {
    Statement query(connection,
                    "SELECT key, step, value FROM metrics WHERE run_id = ?1 "
                    "ORDER BY key, step");
    query.bind(1, run_id);
    std::vector<Metric> metrics;
    while (query.step()) metrics.push_back(Metric{query.text(0), query.int64(1), query.real(2)});
    return metrics;
  });
}

std::vector<LayerRecord> Store::layers_of(const std::string& run_id) const {
  const Connection& connection = live(impl_).connection;
  return guarded(connection, "cannot read the layers of run '" + run_id + "'", [&] {
    Statement query(connection,
                    "SELECT layer, rows, cols, block_rows, block_cols, method, kept_blocks, "
                    "sparsity, retained_importance, total_importance, selection_seconds "
                    "FROM layers WHERE run_id = ?1 ORDER BY rowid");
    query.bind(1, run_id);
    std::vector<LayerRecord> layers;
    while (query.step()) {
      LayerRecord l;
      l.layer = query.text(0);
      l.rows = query.int64(1);
      l.cols = query.int64(2);
      l.block_rows = static_cast<int>(query.int64(3));
      l.block_cols = static_cast<int>(query.int64(4));
      l.method = query.text(5);
      l.kept_blocks = query.int64(6);
      l.sparsity = query.real(7);
      l.retained_importance = query.real(8);
      l.total_importance = query.real(9);
      l.selection_seconds = query.real(10);
      layers.push_back(std::move(l));
    }
    return layers;
  });
}

std::vector<LatencyRecord> Store::latency_of(const std::string& run_id) const {
  const Connection& connection = live(impl_).connection;
  return guarded(connection, "cannot read the latency of run '" + run_id + "'", [&] {
    Statement query(connection,
                    "SELECT model, device, kernel, threads, p50_ms, p90_ms, p99_ms, min_ms, "
                    "mean_ms, valid, detail_json, status, coalesce(error, ''), coalesce(cv, 0), "
                    "samples, sessions FROM latency WHERE run_id = ?1 ORDER BY id");
    query.bind(1, run_id);
    std::vector<LatencyRecord> records;
    while (query.step()) {
      LatencyRecord r;
      r.model = query.text(0);
      r.device = query.text(1);
      r.kernel = query.text(2);
      r.threads = static_cast<int>(query.int64(3));
      r.p50_ms = query.real(4);
      r.p90_ms = query.real(5);
      r.p99_ms = query.real(6);
      r.min_ms = query.real(7);
      r.mean_ms = query.real(8);
      r.valid = query.int64(9) != 0;
      r.detail_json = query.text(10);
      r.failed = query.text(11) == "failed";
      r.error = query.text(12);
      r.cv = query.real(13);
      r.samples = query.int64(14);
      r.sessions = static_cast<int>(query.int64(15));
      records.push_back(std::move(r));
    }
    return records;
  });
}

StoreInfo Store::info() const {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  return guarded(connection, "cannot summarise the database", [&] {
    StoreInfo info;
    info.path = connection.path;
    info.schema_version = impl.schema_version;

    Transaction snapshot(connection, Transaction::Kind::kRead);
    Statement by_status(connection, "SELECT status, count(*) FROM runs GROUP BY status");
    while (by_status.step()) {
      const int64_t count = by_status.int64(1);
      switch (run_status_from_string(by_status.text(0))) {
        case RunStatus::kPending:
          info.runs_pending = count;
          break;
        case RunStatus::kRunning:
          info.runs_running = count;
          break;
        case RunStatus::kDone:
          info.runs_done = count;
          break;
        case RunStatus::kFailed:
          info.runs_failed = count;
          break;
      }
    }
    Statement by_kind(connection, "SELECT kind, count(*) FROM runs GROUP BY kind ORDER BY kind");
    while (by_kind.step()) info.runs_by_kind.emplace_back(by_kind.text(0), by_kind.int64(1));

    info.metric_rows = connection.query_int("SELECT count(*) FROM metrics");
    info.layer_rows = connection.query_int("SELECT count(*) FROM layers");
    info.latency_rows = connection.query_int("SELECT count(*) FROM latency");
    info.param_rows = connection.query_int("SELECT count(*) FROM params");
    info.first_created_at = connection.query_text("SELECT min(created_at) FROM runs");
    info.last_finished_at = connection.query_text("SELECT max(finished_at) FROM runs");
    // The database's size in pages; the file has this size once the WAL is checkpointed.
    info.file_bytes = connection.query_int("PRAGMA page_count") *
                      connection.query_int("PRAGMA page_size");
    info.leases = leases();
    snapshot.commit();
    return info;
  });
}

}  // namespace ubp::results

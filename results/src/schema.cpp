#include "schema.h"

#include <iterator>
#include <string>

#ifndef UBP_VERSION
#define UBP_VERSION "unknown"
#endif

namespace ubp::results::detail {
namespace {

struct Migration {
  int version;      // the schema version the database has after this script
  const char* sql;  // one or more statements; never edited once released
};

// Append new versions at the end; never change a released script.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE runs(
  run_id      TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  status      TEXT NOT NULL CHECK(status IN ('pending','running','done','failed')),
  config_json TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  started_at  TEXT,
  finished_at TEXT,
  host        TEXT,
  error       TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_status ON runs(status);
CREATE INDEX runs_by_kind ON runs(kind);

CREATE TABLE params(
  run_id     TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  value_json TEXT NOT NULL,
  value_num  REAL,
  PRIMARY KEY(run_id, key)
);
CREATE INDEX params_by_key ON params(key, value_num);

CREATE TABLE metrics(
  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  step   INTEGER NOT NULL,
  value  REAL,
  PRIMARY KEY(run_id, key, step)
);

CREATE TABLE layers(
  run_id              TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  layer               TEXT NOT NULL,
  rows                INTEGER NOT NULL,
  cols                INTEGER NOT NULL,
  block_rows          INTEGER NOT NULL,
  block_cols          INTEGER NOT NULL,
  method              TEXT NOT NULL,
  kept_blocks         INTEGER NOT NULL,
  sparsity            REAL,
  retained_importance REAL,
  total_importance    REAL,
  selection_seconds   REAL,
  PRIMARY KEY(run_id, layer)
);

CREATE TABLE latency(
  id          INTEGER PRIMARY KEY,
  run_id      TEXT REFERENCES runs(run_id) ON DELETE CASCADE,
  model       TEXT NOT NULL,
  device      TEXT NOT NULL,
  kernel      TEXT NOT NULL,
  threads     INTEGER NOT NULL,
  p50_ms      REAL,
  p90_ms      REAL,
  p99_ms      REAL,
  min_ms      REAL,
  mean_ms     REAL,
  valid       INTEGER NOT NULL CHECK(valid IN (0, 1)),
  detail_json TEXT NOT NULL DEFAULT '{}',
  recorded_at TEXT NOT NULL
);
CREATE INDEX latency_by_run ON latency(run_id);
CREATE INDEX latency_by_device ON latency(device, kernel, threads);

PRAGMA application_id = 1430409298;
)sql"},
    // v2 (device issue): a latency row may record a failed measurement (unreachable device,
    // crashing runner) and keeps the protocol's spread and sample counts as columns, so reports
    // can filter on them without parsing detail_json.
    {2, R"sql(
ALTER TABLE latency ADD COLUMN status TEXT NOT NULL DEFAULT 'ok' CHECK(status IN ('ok','failed'));
ALTER TABLE latency ADD COLUMN error TEXT;
ALTER TABLE latency ADD COLUMN cv REAL;
ALTER TABLE latency ADD COLUMN samples INTEGER NOT NULL DEFAULT 0;
ALTER TABLE latency ADD COLUMN sessions INTEGER NOT NULL DEFAULT 0;
)sql"},
    // v3 (issue 18): a run carries the lease of the runner working on it (host, pid, a token
    // unique to the process, the heartbeat time), so that several runners share one database,
    // and the code that last started, finished or failed it (ubp version, git commit, whether
    // the tree was dirty, build type), so that reports can tell results of different code apart.
    {3, R"sql(
ALTER TABLE runs ADD COLUMN lease_host TEXT;
ALTER TABLE runs ADD COLUMN lease_pid INTEGER;
ALTER TABLE runs ADD COLUMN lease_token TEXT;
ALTER TABLE runs ADD COLUMN lease_heartbeat TEXT;
ALTER TABLE runs ADD COLUMN ubp_version TEXT;
ALTER TABLE runs ADD COLUMN git_commit TEXT;
ALTER TABLE runs ADD COLUMN git_dirty INTEGER CHECK(git_dirty IN (0, 1));
ALTER TABLE runs ADD COLUMN build_type TEXT;
CREATE INDEX runs_by_lease ON runs(lease_token) WHERE lease_token IS NOT NULL;
)sql"},
};

static_assert(std::size(kMigrations) == Store::kSchemaVersion,
              "every schema version needs exactly one migration script");

}  // namespace

int migrate(const Connection& connection, int file_version) {
  if (file_version >= Store::kSchemaVersion) return file_version;

  Transaction transaction(connection);
  const int version = static_cast<int>(connection.query_int("PRAGMA user_version"));
  if (version >= Store::kSchemaVersion) return version;  // another process got there first

  const std::string now = utc_now_iso8601();
  for (const Migration& migration : kMigrations) {
    if (migration.version <= version) continue;
    connection.exec(migration.sql);
    Statement note(connection, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");
    note.bind(1, "migrated_to_v" + std::to_string(migration.version)).bind(2, now).run();
  }
  if (version == 0) {
    Statement created(connection,
                      "INSERT OR IGNORE INTO meta(key, value) VALUES"
                      "('created_by', ?1), ('created_at', ?2)");
    created.bind(1, std::string("ubp ") + UBP_VERSION).bind(2, now).run();
  }
  connection.exec("PRAGMA user_version = " + std::to_string(Store::kSchemaVersion));
  transaction.commit();
  return Store::kSchemaVersion;
}

}  // namespace ubp::results::detail

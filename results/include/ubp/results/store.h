// The results store: one SQLite database per experiment campaign.
//
// SQLite in WAL mode with a busy timeout; the schema version lives in PRAGMA user_version and
// forward migrations run once, inside a transaction, when a database is opened for writing.
// Every write that belongs together (a run's end: status, metrics and layers) is one
// transaction, so a crash, a SIGKILL or a full disk leaves either the old or the new state.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ubp/results/code_version.h"
#include "ubp/results/lease.h"

struct sqlite3;

namespace ubp::results {

// Thrown for every store failure; the message names the database file and what to do.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A runner tried to record, or to go on with, a run whose lease it no longer holds: another
// runner took the run over (this one's heartbeat went stale) or has finished it.
class LeaseLost : public StoreError {
 public:
  using StoreError::StoreError;
};

enum class RunStatus { kPending, kRunning, kDone, kFailed };
const char* to_string(RunStatus status);
RunStatus run_status_from_string(const std::string& text);  // throws StoreError if unknown

// One flattened config entry: dotted key and its value as canonical JSON text
// ("0.8", "\"aligned\"", "[4,1]"). `number` is set when the value is numeric.
struct Param {
  std::string key;
  std::string json_value;
  std::optional<double> number;
};

struct Metric {
  std::string key;
  int64_t step = 0;  // 0 for final values
  double value = 0.0;
};

// One pruned layer of a run: shape, block, method, kept blocks, sparsity, retained importance,
// selection seconds (docs/design.md, "The results database").
struct LayerRecord {
  std::string layer;  // e.g. "pw13" or "layer1.0.conv1"
  int64_t rows = 0;
  int64_t cols = 0;
  int block_rows = 1;
  int block_cols = 1;
  std::string method;
  int64_t kept_blocks = 0;
  double sparsity = 0.0;             // achieved fraction of zero weights
  double retained_importance = 0.0;  // sum of kept importance
  double total_importance = 0.0;     // sum of all importance
  double selection_seconds = 0.0;
};

// A latency measurement of one packed model on one device (device/ protocol). A failed
// measurement (device unreachable, runner crashed, after every retry) is kept too, with its
// error and no figures, so a sweep shows what is missing and why.
struct LatencyRecord {
  std::string model;  // packed model file or label
  std::string device;
  std::string kernel;
  int threads = 1;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, min_ms = 0, mean_ms = 0;
  bool valid = true;               // the protocol's verdict (spread, frequency, temperature)
  bool failed = false;             // no figures: see error (schema v2)
  std::string error;               // why it failed (schema v2)
  double cv = 0;                   // spread of the samples the validity rule judged (schema v2):
                                   // robust or classic CV, as detail_json's `dispersion` says
  int64_t samples = 0;             // timed iterations over all sessions (schema v2)
  int sessions = 0;                // independent sessions (schema v2)
  std::string detail_json = "{}";  // raw samples, per-layer times, device facts, protocol
};

// Everything a run records when it ends; written in one transaction with status `done`.
struct RunResult {
  std::vector<Metric> metrics;
  std::vector<LayerRecord> layers;
  std::vector<LatencyRecord> latency;
};

struct RunRow {
  std::string run_id;
  std::string kind;
  RunStatus status = RunStatus::kPending;
  std::string config_json;
  std::string created_at;   // ISO-8601 UTC
  std::string started_at;   // empty until running
  std::string finished_at;  // empty until done or failed
  std::string host;
  std::string error;
  int attempts = 0;
  CodeVersion code;            // who last started, finished or failed it (schema v3)
  std::optional<Lease> lease;  // the runner working on it now, if any (schema v3)
};

// What claim_run found.
enum class ClaimOutcome {
  kClaimed,          // the run is this runner's now (status running, attempts + 1)
  kDone,             // the run is done: nothing to do
  kHeld,             // another runner's lease on it is alive
  kFailedMeanwhile,  // it failed again since this runner looked (another runner tried it)
};

struct Claim {
  ClaimOutcome outcome = ClaimOutcome::kClaimed;
  // kHeld: the live lease; kClaimed: the dead lease that was taken over, if there was one.
  std::optional<Lease> lease;
};

struct StoreInfo {
  std::string path;
  int schema_version = 0;
  int64_t runs_pending = 0, runs_running = 0, runs_done = 0, runs_failed = 0;
  std::vector<std::pair<std::string, int64_t>> runs_by_kind;
  int64_t metric_rows = 0, layer_rows = 0, latency_rows = 0, param_rows = 0;
  std::string first_created_at, last_finished_at;
  int64_t file_bytes = 0;
  std::vector<Lease> leases;  // every lease held on a run, alive or not, by run id
};

// What a removal deleted: the runs, and the rows of each table that belonged to them.
struct RemovedRuns {
  std::vector<std::string> run_ids;  // in the order asked for (by status: creation order)
  int64_t params = 0, metrics = 0, layers = 0, latency = 0;
};

enum class OpenMode {
  kReadWrite,  // creates the file and its directory entry if missing, migrates
  kReadOnly,   // never writes; refuses a missing file and an older schema is read as is
};

class Store {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens (and for kReadWrite creates and migrates) the database at `path`.
  // Errors: not a SQLite file, newer schema than kSchemaVersion, unreadable file, directory
  // not writable; each message names `path`.
  static Store open(const std::string& path, OpenMode mode = OpenMode::kReadWrite);

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::string& path() const;
  int schema_version() const;

  // Inserts the run as pending with its params if it is not there; an existing run is left
  // untouched whatever its status. Returns the run's status after the call.
  RunStatus register_run(const std::string& run_id, const std::string& kind,
                         const std::string& config_json, const std::vector<Param>& params);

  // pending/failed/running -> running; sets started_at, host, attempts+1, clears error. Takes
  // no lease: for a single runner (tests, tools); concurrent runners use claim_run.
  void mark_running(const std::string& run_id, const std::string& host);

  // In one transaction: a run that is not done and carries no live lease (none, or one whose
  // owner is dead or whose heartbeat is older than `lease_timeout_seconds`) becomes `owner`'s:
  // status running, started_at, host, attempts+1, error cleared, heartbeat now. A failed run is
  // claimed only while its attempts still equal `attempts_seen` (-1: always), so that runners
  // working side by side do not each retry a run that failed in this sweep.
  Claim claim_run(const std::string& run_id, const LeaseOwner& owner, double lease_timeout_seconds,
                  int attempts_seen = -1);

  // Takes the lease of a run whatever its status (a done run that owes latency rows); nothing
  // when taken, else the live lease held by another runner. One transaction.
  std::optional<Lease> acquire_lease(const std::string& run_id, const LeaseOwner& owner,
                                     double lease_timeout_seconds);

  // Moves the heartbeat of the lease with `token` to now; false when the run's lease is no
  // longer that token's (taken over or released).
  bool renew_lease(const std::string& run_id, const std::string& lease_token);

  // Drops the lease with `token` from the run, if it still holds it.
  void release_lease(const std::string& run_id, const std::string& lease_token);

  // Deletes any earlier metrics/layers/latency of the run, writes `result`, sets status done
  // and finished_at; all in one transaction. With a lease token, only while the run's lease is
  // that token's (else LeaseLost, and nothing is written), and the lease is released.
  void finish_done(const std::string& run_id, const RunResult& result,
                   const std::string& lease_token = "");

  // Appends latency rows to a run that is done: latency measured after the run (queued while
  // it trained on a cluster node). One transaction. Throws StoreError when the run is missing
  // or not done. A lease token as for finish_done.
  void add_latency(const std::string& run_id, const std::vector<LatencyRecord>& rows,
                   const std::string& lease_token = "");

  // Sets status failed, finished_at and the error text (one transaction). A lease token as
  // for finish_done.
  void mark_failed(const std::string& run_id, const std::string& error,
                   const std::string& lease_token = "");

  std::optional<RunRow> find_run(const std::string& run_id) const;
  std::vector<RunRow> list_runs() const;  // ordered by created_at, run_id
  std::vector<Param> params_of(const std::string& run_id) const;
  std::vector<Metric> metrics_of(const std::string& run_id) const;
  std::vector<LayerRecord> layers_of(const std::string& run_id) const;
  std::vector<LatencyRecord> latency_of(const std::string& run_id) const;
  std::vector<Lease> leases() const;  // every lease held on a run, by run id

  StoreInfo info() const;

  // The run a user means by `id_or_prefix`: the run with that id, else the only run whose id
  // starts with it. Throws StoreError when no run matches (or the prefix is empty) and when
  // several do, listing them.
  std::string resolve_run_id(const std::string& id_or_prefix) const;

  // Removes the runs and every row that belongs to them (params, metrics, layers, latency) in
  // one transaction. Every id must name a run: an unknown or repeated id throws StoreError and
  // nothing is removed. A running run may belong to a live `ubp run`, so it is refused unless
  // `allow_running`. Files kept beside the database (models/, work/, logs/) are not touched.
  RemovedRuns remove_runs(const std::vector<std::string>& run_ids, bool allow_running = false);

  // Removes every run with `status` and its rows, in one transaction; none is not an error.
  RemovedRuns remove_runs_with_status(RunStatus status);

  // Folds `source` into this store, without duplicating runs: a run missing here is copied
  // with all its rows; a run present here is replaced only when the source's copy is further
  // along (done > failed > running > pending; among two `done`, the later finished_at wins).
  // Leases are not copied: a lease names a runner of the source's database. A source of an
  // older schema gives the newer columns their defaults. One transaction per source. Returns the number of runs copied or replaced.
  int64_t merge_from(const std::string& source_path);

  // For tests (crash and full-disk simulation) and advanced queries.
  sqlite3* raw_handle() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Current time as ISO-8601 UTC with milliseconds, e.g. 2026-11-28T04:37:31.123Z.
std::string utc_now_iso8601();

}  // namespace ubp::results

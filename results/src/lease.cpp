// Leases on runs: claiming, renewing and releasing them, and judging whether one is alive.
#include "ubp/results/lease.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "sqlite_support.h"
#include "store_impl.h"
#include "ubp/results/store.h"

namespace ubp::results {

// The private SQLite helpers (Connection, Statement, Transaction, guarded, ...).
using namespace detail;

namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// The run's status, attempts and lease, read inside a transaction; nothing when there is no
// such run.
struct RunState {
  RunStatus status = RunStatus::kPending;
  int attempts = 0;
  std::optional<Lease> lease;
};

std::optional<RunState> read_state(const Connection& connection, const std::string& run_id) {
  Statement query(connection,
                  "SELECT status, attempts, lease_host, lease_pid, lease_token, lease_heartbeat "
                  "FROM runs WHERE run_id = ?1");
  query.bind(1, run_id);
  if (!query.step()) return std::nullopt;
  RunState state;
  state.status = run_status_from_string(query.text(0));
  state.attempts = static_cast<int>(query.int64(1));
  state.lease = detail::lease_from_columns(query, 2, run_id);
  return state;
}

// Writes `owner` as the run's lease with a heartbeat now (the caller holds a write transaction).
void write_lease(const Connection& connection, const std::string& run_id, const LeaseOwner& owner,
                 const std::string& now) {
  Statement update(connection,
                   "UPDATE runs SET lease_host = ?2, lease_pid = ?3, lease_token = ?4, lease_heartbeat = ?5 "
                   "WHERE run_id = ?1");
  update.bind(1, run_id).bind(2, owner.host).bind(3, owner.pid).bind(4, owner.token).bind(5, now).run();
}

void check_owner(const Connection& connection, const LeaseOwner& owner, const std::string& what) {
  if (owner.token.empty() || owner.host.empty()) {
    throw StoreError(connection.path + ": " + what + ": the lease owner has no host or token; this is a bug in ubp");
  }
}

}  // namespace

std::string Lease::holder() const { return host + " pid " + std::to_string(pid); }

LeaseOwner lease_owner_for(const std::string& host) {
  LeaseOwner owner;
  owner.host = host;
  owner.pid = static_cast<int64_t>(::getpid());
  std::random_device device;
  std::ostringstream token;
  token << host << ':' << owner.pid << ':' << std::hex << device() << device();
  owner.token = token.str();
  return owner;
}

bool process_exists(int64_t pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  // A killed process that its parent has not reaped yet still answers kill(); it works no more.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;  // no /proc: trust kill()
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos || name_end + 2 >= text.size()) return true;
  const char state = text[name_end + 2];
  return state != 'Z' && state != 'X';
}

bool lease_is_alive(const Lease& lease, const std::string& host, double timeout_seconds) {
  if (lease.age_seconds > timeout_seconds) return false;
  if (lease.host == host) return process_exists(lease.pid);
  return true;  // another machine's process: only its heartbeat tells
}

std::optional<double> parse_utc_iso8601(const std::string& text) {
  std::tm utc{};
  int milliseconds = 0;
  char zone = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                  &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &milliseconds, &zone) != 8 ||
      zone != 'Z') {
    return std::nullopt;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  const std::time_t seconds = ::timegm(&utc);
  if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<double>(seconds) + milliseconds / 1000.0;
}

namespace detail {

std::optional<Lease> lease_from_columns(const Statement& row, int first, const std::string& run_id) {
  if (row.is_null(first + 2)) return std::nullopt;
  Lease lease;
  lease.run_id = run_id;
  lease.host = row.text(first);
  lease.pid = row.int64(first + 1);
  lease.token = row.text(first + 2);
  lease.heartbeat_at = row.text(first + 3);
  // An unreadable heartbeat counts as infinitely old: such a lease protects nothing.
  const std::optional<double> beat = parse_utc_iso8601(lease.heartbeat_at);
  lease.age_seconds = beat ? now_seconds() - *beat : 1e300;
  return lease;
}

void require_lease(const Connection& connection, const std::string& run_id, const std::string& token,
                   const std::string& what) {
  const std::optional<RunState> state = read_state(connection, run_id);
  if (!state) throw no_such_run(connection, run_id, what);
  if (state->lease && state->lease->token == token) return;
  if (state->lease) {
    throw LeaseLost(connection.path + ": " + what + ": another runner (" + state->lease->holder() +
                    ") took the run over after this runner's heartbeat went stale; the run is left to it");
  }
  throw LeaseLost(connection.path + ": " + what + ": this runner no longer holds the run's lease (the run is " +
                  to_string(state->status) + " now); the run is left as another runner recorded it");
}

void clear_lease(const Connection& connection, const std::string& run_id, const std::string& only_token) {
  Statement update(connection,
                   "UPDATE runs SET lease_host = NULL, lease_pid = NULL, lease_token = NULL, "
                   "lease_heartbeat = NULL WHERE run_id = ?1 AND (?2 IS NULL OR lease_token = ?2)");
  update.bind(1, run_id).bind_text_or_null(2, only_token).run();
}

}  // namespace detail

Claim Store::claim_run(const std::string& run_id, const LeaseOwner& owner, double lease_timeout_seconds,
                       int attempts_seen) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot claim run '" + run_id + "'";
  require_writable(impl, what);
  check_owner(connection, owner, what);

  return guarded(connection, what, [&]() -> Claim {
    Transaction transaction(connection);
    const std::optional<RunState> state = read_state(connection, run_id);
    if (!state) throw no_such_run(connection, run_id, what);
    Claim claim;
    if (state->status == RunStatus::kDone) {
      claim.outcome = ClaimOutcome::kDone;
      return claim;
    }
    const bool held_by_another = state->lease && state->lease->token != owner.token;
    if (held_by_another && lease_is_alive(*state->lease, owner.host, lease_timeout_seconds)) {
      claim.outcome = ClaimOutcome::kHeld;
      claim.lease = state->lease;
      return claim;
    }
    if (state->status == RunStatus::kFailed && attempts_seen >= 0 && state->attempts != attempts_seen) {
      claim.outcome = ClaimOutcome::kFailedMeanwhile;
      return claim;
    }
    if (held_by_another) claim.lease = state->lease;  // a dead runner's lease, taken over
    const std::string now = utc_now_iso8601();
    Statement update(connection,
                     "UPDATE runs SET status = 'running', started_at = ?2, host = ?3, attempts = attempts + 1, "
                     "error = NULL, finished_at = NULL, ubp_version = ?4, git_commit = ?5, git_dirty = ?6, "
                     "build_type = ?7 WHERE run_id = ?1");
    update.bind(1, run_id).bind(2, now).bind(3, owner.host);
    detail::bind_this_build(update, 4);
    update.run();
    write_lease(connection, run_id, owner, now);
    transaction.commit();
    return claim;
  });
}

std::optional<Lease> Store::acquire_lease(const std::string& run_id, const LeaseOwner& owner,
                                          double lease_timeout_seconds) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot take the lease of run '" + run_id + "'";
  require_writable(impl, what);
  check_owner(connection, owner, what);

  return guarded(connection, what, [&]() -> std::optional<Lease> {
    Transaction transaction(connection);
    const std::optional<RunState> state = read_state(connection, run_id);
    if (!state) throw no_such_run(connection, run_id, what);
    if (state->lease && state->lease->token != owner.token &&
        lease_is_alive(*state->lease, owner.host, lease_timeout_seconds)) {
      return state->lease;
    }
    write_lease(connection, run_id, owner, utc_now_iso8601());
    transaction.commit();
    return std::nullopt;
  });
}

bool Store::renew_lease(const std::string& run_id, const std::string& lease_token) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot renew the lease of run '" + run_id + "'";
  require_writable(impl, what);
  return guarded(connection, what, [&] {
    Statement update(connection, "UPDATE runs SET lease_heartbeat = ?3 WHERE run_id = ?1 AND lease_token = ?2");
    update.bind(1, run_id).bind(2, lease_token).bind(3, utc_now_iso8601()).run();
    return sqlite3_changes(connection.db) == 1;
  });
}

void Store::release_lease(const std::string& run_id, const std::string& lease_token) {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  const std::string what = "cannot release the lease of run '" + run_id + "'";
  require_writable(impl, what);
  if (lease_token.empty()) {
    throw StoreError(connection.path + ": " + what + ": no lease token given; this is a bug in ubp");
  }
  guarded(connection, what, [&] { detail::clear_lease(connection, run_id, lease_token); });
}

std::vector<Lease> Store::leases() const {
  const Impl& impl = live(impl_);
  const Connection& connection = impl.connection;
  if (impl.schema_version < 3) return {};  // an old database read as is: no leases yet
  return guarded(connection, "cannot list the leases", [&] {
    Statement query(connection,
                    "SELECT run_id, lease_host, lease_pid, lease_token, lease_heartbeat FROM runs "
                    "WHERE lease_token IS NOT NULL ORDER BY run_id");
    std::vector<Lease> leases;
    while (query.step()) leases.push_back(*detail::lease_from_columns(query, 1, query.text(0)));
    return leases;
  });
}

}  // namespace ubp::results

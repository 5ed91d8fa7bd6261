// Leases on runs (schema v3): which runner process works on a run, so that several `ubp run`
// workers on one database, on one machine or on several machines sharing a file system, each
// take different runs.
//
// A runner claims a run in one transaction, writing its host, pid and a token unique to the
// process, and renews the lease's heartbeat while the run works. Another runner treats the
// lease as alive, and leaves the run alone, unless its heartbeat is older than the timeout or,
// on the same host, its process is gone. Clocks of machines sharing a database must agree to
// well within the timeout (NTP does).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ubp::results {

// How long a heartbeat stays fresh by default: a runner on another machine that stops
// renewing (crashed, cut off) gives its run up after this long. `ubp run --lease-timeout`.
constexpr double kDefaultLeaseTimeoutSeconds = 120.0;

// The runner process a lease names.
struct LeaseOwner {
  std::string host;
  int64_t pid = 0;
  std::string token;  // unique to the process: host, pid and random digits
};

// This process as a lease owner on `host` (the caller decides the host name: an override such
// as UBP_HOSTNAME simulates machines in tests).
LeaseOwner lease_owner_for(const std::string& host);

// A lease as stored on a run.
struct Lease {
  std::string run_id;
  std::string host;
  int64_t pid = 0;
  std::string token;
  std::string heartbeat_at;  // ISO-8601 UTC, the owner's clock
  double age_seconds = 0;    // now minus heartbeat_at by this machine's clock, when read

  std::string holder() const;  // "HOST pid PID"
};

// Whether `lease` still belongs to a working runner, seen from a runner on `host`: its
// heartbeat is at most `timeout_seconds` old and, when it names this host, its process exists.
bool lease_is_alive(const Lease& lease, const std::string& host, double timeout_seconds);

// Whether process `pid` exists on this machine and is not a zombie.
bool process_exists(int64_t pid);

// Seconds since the Unix epoch of an ISO-8601 UTC time as utc_now_iso8601 writes it;
// nothing when the text is not such a time.
std::optional<double> parse_utc_iso8601(const std::string& text);

}  // namespace ubp::results

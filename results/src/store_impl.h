// The state behind a Store handle. Private to the results library.
#pragma once

#include <optional>
#include <string>

#include "sqlite_support.h"
#include "ubp/results/store.h"

namespace ubp::results {

struct Store::Impl {
  detail::Connection connection;  // owns the sqlite3 handle; path() is connection.path
  OpenMode mode = OpenMode::kReadWrite;
  int schema_version = 0;
};

namespace detail {

// "PATH: WHAT: no run 'ID' in the database; register it first".
StoreError no_such_run(const Connection& connection, const std::string& run_id, const std::string& what);

// The columns of a runs row that read_run expects, in its order; a database older than v3
// (opened read-only, never migrated) gives NULL for the code and lease columns.
std::string run_columns(int schema_version);
RunRow read_run(const Statement& row);

// The lease in columns `first` .. `first + 3` (host, pid, token, heartbeat) of a row, if the
// token is set; its age is measured now.
std::optional<Lease> lease_from_columns(const Statement& row, int first, const std::string& run_id);

// Binds this build's code version to parameters `first` .. `first + 3` (version, commit,
// dirty, build type).
void bind_this_build(Statement& statement, int first);

// Inside a write transaction: throws LeaseLost (naming the run and who holds it now) unless
// the run's lease is `token`'s. `what` is the operation, as for StoreError messages.
void require_lease(const Connection& connection, const std::string& run_id, const std::string& token,
                   const std::string& what);

// Drops the run's lease (the run is done or failed: nobody works on it any more); with
// `only_token`, only if the lease is that token's.
void clear_lease(const Connection& connection, const std::string& run_id, const std::string& only_token = "");

// The Impl of a handle, or a StoreError when the handle was moved from. A template so that
// it can be called with Store's private Impl pointer from Store's member functions.
template <typename ImplPointer>
auto& live(const ImplPointer& impl) {
  if (!impl) {
    throw StoreError("results store handle used after it was moved from; this is a bug in ubp");
  }
  return *impl;
}

// Refuses a write on a store opened read-only; `what` says which write was attempted.
template <typename ImplType>
void require_writable(const ImplType& impl, const std::string& what) {
  if (impl.mode == OpenMode::kReadOnly) {
    throw StoreError(impl.connection.path + ": " + what +
                     ": the database was opened read-only; open it for writing");
  }
}

}  // namespace detail
}  // namespace ubp::results

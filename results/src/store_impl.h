// The state behind a Store handle. Private to the results library.
#pragma once

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

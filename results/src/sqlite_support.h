// Small helpers over the SQLite C API: an owned connection, a prepared statement, a
// transaction guard, and the translation of SQLite failures into StoreError messages.
// Private to the results library.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include "ubp/results/store.h"

namespace ubp::results::detail {

// A SQLite call failed. Carries the (extended) result code, SQLite's own message and the
// operating system's errno, so that callers can add what failed and what to do.
class SqlFailure : public StoreError {
 public:
  SqlFailure(const std::string& path, int code, std::string sqlite_message, int system_errno);
  int code() const { return code_; }
  int primary_code() const { return code_ & 0xff; }
  const std::string& sqlite_message() const { return sqlite_message_; }
  int system_errno() const { return system_errno_; }

 private:
  int code_;
  std::string sqlite_message_;
  int system_errno_;
};

// What a user can do about a failure with this SQLite result code and operating-system errno
// (one short clause).
std::string advice_for(int code, int system_errno = 0);

// One SQLite connection, closed by the destructor.
class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db = nullptr;
  std::string path;

  // Throws SqlFailure describing the connection's most recent error.
  [[noreturn]] void fail() const;
  // Runs SQL text without parameters (one or more statements).
  void exec(const std::string& sql) const;
  // Runs a query that returns one integer or one text value in its first row.
  int64_t query_int(const std::string& sql) const;
  std::string query_text(const std::string& sql) const;
};

// A prepared statement, finalized by the destructor. Bindings use 1-based indexes, columns
// 0-based, as in the C API.
class Statement {
 public:
  Statement(const Connection& connection, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, const std::string& text);
  Statement& bind(int index, int64_t number);
  Statement& bind(int index, int number) { return bind(index, static_cast<int64_t>(number)); }
  Statement& bind(int index, double number);  // NaN is stored as NULL by SQLite
  Statement& bind(int index, const std::optional<double>& number);
  Statement& bind_null(int index);
  // Binds text, or NULL when the text is empty.
  Statement& bind_text_or_null(int index, const std::string& text);
  // Binds a value read from another statement (copying rows between databases).
  Statement& bind_value(int index, const sqlite3_value* value);

  // Advances: true when a row is ready, false when the statement has finished.
  bool step();
  // Steps a statement that returns no rows to completion.
  void run();
  // Makes the statement ready to step again; the bindings are kept.
  void reset();

  bool is_null(int column) const;
  int64_t int64(int column) const;
  double real(int column) const;  // NULL reads as NaN
  std::optional<double> optional_real(int column) const;
  std::string text(int column) const;  // NULL reads as ""

  sqlite3_stmt* handle() const { return stmt_; }

 private:
  void check_bind(int rc);
  const Connection& connection_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN ... COMMIT, rolled back by the destructor unless commit() succeeded.
class Transaction {
 public:
  enum class Kind { kWrite, kRead };  // kWrite: BEGIN IMMEDIATE; kRead: BEGIN (deferred)
  explicit Transaction(const Connection& connection, Kind kind = Kind::kWrite);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit();

 private:
  const Connection& connection_;
  bool open_ = false;
};

// Runs `body`; a SqlFailure escaping it becomes a StoreError that reads
// "PATH: WHAT: SQLITE MESSAGE; ADVICE". Other StoreErrors pass through unchanged.
template <typename Body>
auto guarded(const Connection& connection, const std::string& what, Body&& body)
    -> decltype(body()) {
  try {
    return body();
  } catch (const SqlFailure& failure) {
    throw StoreError(connection.path + ": " + what + ": " + failure.sqlite_message() + "; " +
                     advice_for(failure.code(), failure.system_errno()));
  }
}

}  // namespace ubp::results::detail

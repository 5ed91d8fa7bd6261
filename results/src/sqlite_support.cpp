#include "sqlite_support.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace ubp::results::detail {

SqlFailure::SqlFailure(const std::string& path, int code, std::string sqlite_message,
                       int system_errno)
    : StoreError(path + ": " + sqlite_message + "; " + advice_for(code, system_errno)),
      code_(code),
      sqlite_message_(std::move(sqlite_message)),
      system_errno_(system_errno) {}

std::string advice_for(int code, int system_errno) {
  // SQLite reports a full disk as SQLITE_FULL, but a failed write of the -shm or -wal file may
  // come as an I/O error whose errno tells the truth.
  if (system_errno == ENOSPC || system_errno == EDQUOT) {
    return "no space left on the device holding the database (" + std::string(std::strerror(system_errno)) +
           "); free space and retry";
  }
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "another process kept the database locked for more than 10 s; retry when it has "
             "finished";
    case SQLITE_FULL:
      return "no space left on the device holding the database (or the database reached its size limit); "
             "free space and retry";
    case SQLITE_READONLY:
      return "the database cannot be written; check the permissions of the file and its "
             "directory, or whether it was opened read-only";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "the file is damaged or not a ubp database; restore it from a copy or check it "
             "with `sqlite3 FILE 'PRAGMA integrity_check'`";
    case SQLITE_IOERR:
      return "the operating system reported an I/O error; check the disk and retry";
    case SQLITE_CANTOPEN:
      return "check that the directory exists and is writable and the file is readable";
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return "permission denied; check the permissions of the file and its directory";
    case SQLITE_CONSTRAINT:
      return "the data breaks a rule of the schema (a duplicate key or a missing run); fix "
             "the data passed in";
    case SQLITE_NOMEM:
      return "out of memory; free memory and retry";
    default:
      return "this looks like a bug in ubp or a damaged database; please report it";
  }
}

Connection::~Connection() {
  if (db != nullptr) sqlite3_close_v2(db);
}

void Connection::fail() const {
  throw SqlFailure(path, sqlite3_extended_errcode(db), sqlite3_errmsg(db),
                   sqlite3_system_errno(db));
}

void Connection::exec(const std::string& sql) const {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail();
}

int64_t Connection::query_int(const std::string& sql) const {
  Statement statement(*this, sql);
  if (!statement.step()) return 0;
  return statement.int64(0);
}

std::string Connection::query_text(const std::string& sql) const {
  Statement statement(*this, sql);
  if (!statement.step()) return "";
  return statement.text(0);
}

Statement::Statement(const Connection& connection, const std::string& sql)
    : connection_(connection) {
  if (sqlite3_prepare_v2(connection.db, sql.c_str(), static_cast<int>(sql.size() + 1), &stmt_,
                         nullptr) != SQLITE_OK) {
    connection.fail();
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::check_bind(int rc) {
  if (rc != SQLITE_OK) connection_.fail();
}

Statement& Statement::bind(int index, const std::string& text) {
  check_bind(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8));
  return *this;
}

Statement& Statement::bind(int index, int64_t number) {
  check_bind(sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(number)));
  return *this;
}

Statement& Statement::bind(int index, double number) {
  check_bind(sqlite3_bind_double(stmt_, index, number));
  return *this;
}

Statement& Statement::bind(int index, const std::optional<double>& number) {
  if (number.has_value()) return bind(index, *number);
  return bind_null(index);
}

Statement& Statement::bind_null(int index) {
  check_bind(sqlite3_bind_null(stmt_, index));
  return *this;
}

Statement& Statement::bind_text_or_null(int index, const std::string& text) {
  if (text.empty()) return bind_null(index);
  return bind(index, text);
}

Statement& Statement::bind_value(int index, const sqlite3_value* value) {
  check_bind(sqlite3_bind_value(stmt_, index, value));
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  connection_.fail();
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() { sqlite3_reset(stmt_); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::real(int column) const {
  if (is_null(column)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, column);
}

std::optional<double> Statement::optional_real(int column) const {
  if (is_null(column)) return std::nullopt;
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  if (data == nullptr) return "";
  const int size = sqlite3_column_bytes(stmt_, column);
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(size));
}

Transaction::Transaction(const Connection& connection, Kind kind) : connection_(connection) {
  connection_.exec(kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  open_ = true;
}

Transaction::~Transaction() {
  // After some errors (a full disk, an I/O error) SQLite has already rolled the transaction
  // back; a second ROLLBACK would only report "no transaction is active".
  if (open_ && sqlite3_get_autocommit(connection_.db) == 0) {
    sqlite3_exec(connection_.db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  connection_.exec("COMMIT");
  open_ = false;
}

}  // namespace ubp::results::detail

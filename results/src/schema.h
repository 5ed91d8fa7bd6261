// The database schema as a list of forward migrations. Private to the results library.
#pragma once

#include <cstdint>

#include "sqlite_support.h"

namespace ubp::results::detail {

// PRAGMA application_id of a ubp results database: the bytes "UBPR".
constexpr int64_t kApplicationId = 0x55425052;

// Brings the database from `file_version` to Store::kSchemaVersion inside one
// BEGIN IMMEDIATE transaction. The version is read again inside the transaction, so when
// several processes open a fresh database at once, exactly one of them migrates it.
// Returns the version the database has afterwards.
int migrate(const Connection& connection, int file_version);

}  // namespace ubp::results::detail

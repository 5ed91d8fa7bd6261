// A scratch folder with helpers to run the real `ubp` binary in it.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"

namespace ubp::testing {

class UbpTest : public ::testing::Test {
 protected:
  TempDir work;

  ProcessResult ubp(std::vector<std::string> args) {
    args.insert(args.begin(), UBP_BIN);
    return run_process(args, work.path().string());
  }

  // A selection sweep on small random matrices: `runs` sparsities x 1 block shape.
  std::string sweep_config(const std::string& name, const std::string& sparsities,
                           const std::string& extra = "") {
    return work.write(name, "experiment: {kind: selection, name: e2e}\n"
                            "prune: {method: aligned, block: [4, 1]}\n"
                            "selection: {rows: 64, cols: 48, matrices: 2}\n" +
                                extra + "sweep:\n  prune.sparsity: " + sparsities + "\n");
  }

  // Runs one SQL query through the SQLite C API and returns the first column of each row.
  static std::vector<std::string> query(const std::string& db, const std::string& sql) {
    sqlite3* handle = nullptr;
    std::vector<std::string> rows;
    if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << db;
      sqlite3_close(handle);
      return rows;
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(handle);
    } else {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(stmt, 0);
        rows.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(handle);
    return rows;
  }
};

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline size_t line_count(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace ubp::testing

// Shared helpers for the results-store tests: a fresh temporary directory per test, file
// bytes, raw SQL through the store's handle, and sample results.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ubp/results/store.h"

namespace ubp::results::testing {

namespace fs = std::filesystem;

// A directory created for one test and removed (permissions restored first) afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ubp-results-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    for (auto it = fs::recursive_directory_iterator(path_, ignored);
         it != fs::recursive_directory_iterator(); it.increment(ignored)) {
      ::chmod(it->path().c_str(), 0700);
    }
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline bool running_as_root() { return ::geteuid() == 0; }

// Permission checks mean nothing to root, so as root `fn` runs in a forked child that owns
// `dir` (handed over with chown) and has dropped to the unprivileged user 'nobody'; as any
// other user it simply runs here. Returns what `fn` returned, or "<child failed: ...>".
inline std::string as_unprivileged_user(const fs::path& dir, const std::function<std::string()>& fn) {
  if (!running_as_root()) return fn();
  constexpr uid_t kNobody = 65534;
  ::chown(dir.c_str(), kNobody, kNobody);
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    ::lchown(entry.path().c_str(), kNobody, kNobody);
  }
  int pipe_ends[2];
  if (::pipe(pipe_ends) != 0) return "<child failed: pipe>";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_ends[0]);
    std::string result;
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      result = "<child failed: cannot drop to nobody>";
    } else {
      try {
        result = fn();
      } catch (const std::exception& e) {
        result = std::string("<child failed: ") + e.what() + ">";
      }
    }
    const ssize_t ignored = ::write(pipe_ends[1], result.data(), result.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(pipe_ends[1]);
  std::string result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;) result.append(buffer, n);
  ::close(pipe_ends[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return "<child failed: it crashed>";
  return result;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Runs SQL through the store's connection; fails the test on error.
inline void exec(const Store& store, const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(store.raw_handle(), sql.c_str(), nullptr, nullptr, &message);
  const std::string text = message != nullptr ? message : "";
  sqlite3_free(message);
  if (rc != SQLITE_OK) throw std::runtime_error("SQL failed: " + sql + ": " + text);
}

// The first column of every row, as text ("NULL" for NULL).
inline std::vector<std::string> column(const Store& store, const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(store.raw_handle(), sql.c_str(), -1, &statement, nullptr) !=
      SQLITE_OK) {
    throw std::runtime_error("SQL failed: " + sql + ": " + sqlite3_errmsg(store.raw_handle()));
  }
  std::vector<std::string> values;
  while (sqlite3_step(statement) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(statement, 0);
    values.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
  }
  sqlite3_finalize(statement);
  return values;
}

inline std::string scalar(const Store& store, const std::string& sql) {
  const std::vector<std::string> values = column(store, sql);
  if (values.empty()) throw std::runtime_error("no row from: " + sql);
  return values.front();
}

inline int64_t count_rows(const Store& store, const std::string& table,
                          const std::string& where = "1") {
  return std::stoll(scalar(store, "SELECT count(*) FROM " + table + " WHERE " + where));
}

// Every row of every table, in a fixed order, as text: equal dumps mean equal contents.
inline std::string dump(const Store& store) {
  std::string text;
  const std::pair<const char*, const char*> tables[] = {
      {"meta", "key"},           {"runs", "run_id"},         {"params", "run_id, key"},
      {"metrics", "run_id, key, step"}, {"layers", "run_id, layer"}, {"latency", "id"}};
  for (const auto& [table, order] : tables) {
    text += std::string("[") + table + "]\n";
    sqlite3_stmt* statement = nullptr;
    const std::string sql = std::string("SELECT * FROM ") + table + " ORDER BY " + order;
    if (sqlite3_prepare_v2(store.raw_handle(), sql.c_str(), -1, &statement, nullptr) !=
        SQLITE_OK) {
      throw std::runtime_error("SQL failed: " + sql);
    }
    while (sqlite3_step(statement) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(statement); ++i) {
        const auto* value = sqlite3_column_text(statement, i);
        text += value != nullptr ? reinterpret_cast<const char*>(value) : "NULL";
        text += '|';
      }
      text += '\n';
    }
    sqlite3_finalize(statement);
  }
  return text;
}

// Expects `body` to throw a StoreError and returns its message ("" and a failure otherwise).
template <typename Body>
std::string store_error_of(Body&& body) {
  try {
    body();
  } catch (const StoreError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected a StoreError, got another exception: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected a StoreError, nothing was thrown";
  return "";
}

inline RunResult sample_result(int metric_count = 3, const std::string& tag = "a") {
  RunResult result;
  for (int i = 0; i < metric_count; ++i) {
    result.metrics.push_back(Metric{"loss/" + tag, i, 1.0 / (i + 1)});
  }
  result.metrics.push_back(Metric{"top1", 0, 0.71});
  LayerRecord second;
  second.layer = "pw13";
  second.rows = 1024;
  second.cols = 1024;
  second.block_rows = 4;
  second.block_cols = 1;
  second.method = "ubp";
  second.kept_blocks = 52429;
  second.sparsity = 0.8;
  second.retained_importance = 123.5;
  second.total_importance = 200.25;
  second.selection_seconds = 0.042;
  LayerRecord first = second;
  first.layer = "pw2";
  first.rows = 128;
  first.cols = 64;
  first.kept_blocks = 410;
  result.layers = {second, first};  // written out of name order on purpose
  LatencyRecord latency;
  latency.model = "mobilenet_v1_" + tag + ".ubpm";
  latency.device = "host";
  latency.kernel = "bsr_avx2";
  latency.threads = 4;
  latency.p50_ms = 3.5;
  latency.p90_ms = 3.9;
  latency.p99_ms = 4.4;
  latency.min_ms = 3.2;
  latency.mean_ms = 3.6;
  latency.valid = true;
  latency.detail_json = R"({"runs":50})";
  latency.cv = 0.021;
  latency.samples = 150;
  latency.sessions = 3;
  LatencyRecord failed;
  failed.model = "mobilenet_v1_" + tag + "_unaligned.ubpm";
  failed.device = "pixel";
  failed.kernel = "unaligned";
  failed.failed = true;
  failed.valid = false;
  failed.error = "adb: device 'R5CT' not found (3 attempts)";
  result.latency = {latency, failed};
  return result;
}

// Turns a freshly created database into what schema v2 wrote (before the lease and code
// version columns of v3 existed), to test the migration and merges from old shards.
inline void downgrade_to_schema_v2(const Store& store) {
  exec(store, "DROP INDEX runs_by_lease");
  for (const char* column : {"lease_host", "lease_pid", "lease_token", "lease_heartbeat", "ubp_version", "git_commit",
                             "git_dirty", "build_type"}) {
    exec(store, std::string("ALTER TABLE runs DROP COLUMN ") + column);
  }
  exec(store, "PRAGMA user_version = 2");
}

// Turns a freshly created database into what schema v1 wrote (before the latency columns of
// v2 existed), with one latency row, to test the migration and merges from old shards.
inline void downgrade_to_schema_v1(const Store& store) {
  downgrade_to_schema_v2(store);
  exec(store, "DELETE FROM latency");
  for (const char* column : {"status", "error", "cv", "samples", "sessions"}) {
    exec(store, std::string("ALTER TABLE latency DROP COLUMN ") + column);
  }
  exec(store, "PRAGMA user_version = 1");
}

inline std::vector<Param> sample_params() {
  return {Param{"prune.sparsity", "0.8", 0.8}, Param{"prune.method", "\"ubp\"", std::nullopt},
          Param{"prune.block", "[4,1]", std::nullopt}, Param{"seed", "7", 7.0}};
}

// A test with a fresh temporary directory.
class StoreTest : public ::testing::Test {
 protected:
  std::string db(const std::string& name = "results.db") const { return dir_.file(name); }
  const fs::path& dir_path() const { return dir_.path(); }
  TempDir dir_;
};

}  // namespace ubp::results::testing

// Opening a store: schema creation, migrations run once, and refusals that leave files alone.
#include <functional>
#include <regex>
#include <type_traits>

#include "test_support.h"

namespace ubp::results::testing {
namespace {

class OpeningAStore : public StoreTest {};

TEST_F(OpeningAStore, CreatesAFreshDatabaseAtTheCurrentSchemaVersionWithEveryTable) {
  Store store = Store::open(db());
  EXPECT_EQ(store.path(), db());
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(Store::kSchemaVersion));
  const std::vector<std::string> tables =
      column(store, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  EXPECT_EQ(tables, (std::vector<std::string>{"latency", "layers", "meta", "metrics", "params",
                                              "runs"}));
  EXPECT_EQ(count_rows(store, "sqlite_master",
                       "type = 'index' AND tbl_name = 'runs' AND sql LIKE '%(status)%'"),
            1);
  EXPECT_EQ(scalar(store, "SELECT value FROM meta WHERE key = 'created_by'").rfind("ubp", 0),
            0u);
  EXPECT_EQ(scalar(store, "PRAGMA integrity_check"), "ok");
}

TEST_F(OpeningAStore, MigratesASchemaV1DatabaseKeepingItsLatencyRows) {
  {
    Store store = Store::open(db());
    store.register_run("r1", "train", "{}", {});
    downgrade_to_schema_v1(store);
    exec(store,
         "INSERT INTO latency(run_id, model, device, kernel, threads, p50_ms, valid, recorded_at) "
         "VALUES('r1', 'm.ubpm', 'host', 'dense', 1, 2.5, 1, '2026-01-01T00:00:00.000Z')");
  }
  {
    // Read-only opens never migrate: the old file reads as it is.
    Store old = Store::open(db(), OpenMode::kReadOnly);
    EXPECT_EQ(old.schema_version(), 1);
  }
  Store store = Store::open(db());
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  EXPECT_FALSE(scalar(store, "SELECT value FROM meta WHERE key = 'migrated_to_v2'").empty());
  const std::vector<LatencyRecord> rows = store.latency_of("r1");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].p50_ms, 2.5);
  EXPECT_FALSE(rows[0].failed);
  EXPECT_EQ(rows[0].samples, 0);
  EXPECT_EQ(scalar(store, "PRAGMA integrity_check"), "ok");
}

TEST_F(OpeningAStore, UsesWalFullSyncForeignKeysAndATenSecondBusyTimeout) {
  Store store = Store::open(db());
  EXPECT_EQ(scalar(store, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(scalar(store, "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(scalar(store, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(scalar(store, "PRAGMA busy_timeout"), "10000");
}

TEST_F(OpeningAStore, ReopeningKeepsTheRowsAndDoesNotRunTheMigrationsAgain) {
  std::string migrated_at;
  {
    Store store = Store::open(db());
    store.register_run("r1", "train", "{}", sample_params());
    migrated_at = scalar(store, "SELECT value FROM meta WHERE key = 'migrated_to_v1'");
  }
  Store store = Store::open(db());
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(Store::kSchemaVersion));
  ASSERT_TRUE(store.find_run("r1").has_value());
  EXPECT_EQ(store.params_of("r1").size(), sample_params().size());
  EXPECT_EQ(scalar(store, "SELECT value FROM meta WHERE key = 'migrated_to_v1'"), migrated_at);
}

TEST_F(OpeningAStore, RefusesANewerSchemaNamingThePathAndLeavesTheFileUnchanged) {
  {
    Store store = Store::open(db());
    store.register_run("r1", "train", "{}", {});
    exec(store, "PRAGMA user_version = " + std::to_string(Store::kSchemaVersion + 1));
  }
  ASSERT_FALSE(fs::exists(db() + "-wal"));  // everything is in the main file
  const std::string before = read_bytes(db());

  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    const std::string message = store_error_of([&] { Store::open(db(), mode); });
    EXPECT_EQ(message, db() + ": schema version " + std::to_string(Store::kSchemaVersion + 1) +
                           " is newer than this ubp supports (" +
                           std::to_string(Store::kSchemaVersion) + "); use a newer ubp");
    EXPECT_EQ(read_bytes(db()), before);
  }
}

TEST_F(OpeningAStore, RefusesATextFileAsNotASQLiteDatabaseAndLeavesItUnchanged) {
  const std::string long_text = std::string(4000, 'x') + "\nnot a database\n";
  for (const std::string& content : {std::string("hello\n"), long_text}) {
    write_bytes(db(), content);
    for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
      const std::string message = store_error_of([&] { Store::open(db(), mode); });
      EXPECT_EQ(message.rfind(db() + ": not a SQLite database (file is damaged or of another "
                                     "kind)",
                              0),
                0u)
          << message;
      EXPECT_EQ(read_bytes(db()), content);
    }
  }
}

TEST_F(OpeningAStore, RefusesASQLiteDatabaseOfAnotherProgramAndLeavesItUnchanged) {
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
  const std::string before = read_bytes(db());

  const std::string message = store_error_of([&] { Store::open(db()); });
  EXPECT_NE(message.find(db() + ": "), std::string::npos) << message;
  EXPECT_NE(message.find("not a ubp results database"), std::string::npos) << message;
  EXPECT_EQ(read_bytes(db()), before);
}

TEST_F(OpeningAStore, RefusesAMissingFileWhenReadOnlyAndDoesNotCreateIt) {
  const std::string message =
      store_error_of([&] { Store::open(db("missing.db"), OpenMode::kReadOnly); });
  EXPECT_EQ(message.rfind(db("missing.db") + ": no such database", 0), 0u) << message;
  EXPECT_FALSE(fs::exists(db("missing.db")));
}

TEST_F(OpeningAStore, ReadOnlyReadsTheRunsButRefusesEveryWrite) {
  {
    Store store = Store::open(db());
    store.register_run("r1", "train", "{}", {});
  }
  const std::string before = read_bytes(db());
  Store store = Store::open(db(), OpenMode::kReadOnly);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  ASSERT_TRUE(store.find_run("r1").has_value());
  for (const auto& write : std::vector<std::function<void()>>{
           [&] { store.register_run("r2", "train", "{}", {}); },
           [&] { store.mark_running("r1", "host"); },
           [&] { store.finish_done("r1", sample_result()); },
           [&] { store.mark_failed("r1", "boom"); },
           [&] { store.merge_from(db("other.db")); }}) {
    const std::string message = store_error_of(write);
    EXPECT_NE(message.find("opened read-only"), std::string::npos) << message;
  }
  EXPECT_THROW(exec(store, "DELETE FROM runs"), std::runtime_error);  // query_only
  EXPECT_EQ(read_bytes(db()), before);
}

TEST_F(OpeningAStore, ReadOnlySeesWhatAWriterHasCommitted) {
  Store writer = Store::open(db());
  writer.register_run("r1", "train", "{}", {});
  Store reader = Store::open(db(), OpenMode::kReadOnly);
  writer.register_run("r2", "train", "{}", {});
  EXPECT_EQ(reader.list_runs().size(), 2u);
}

TEST_F(OpeningAStore, RefusesAPathWhoseDirectoryDoesNotExist) {
  const std::string path = db("no-such-dir/results.db");
  const std::string message = store_error_of([&] { Store::open(path); });
  EXPECT_EQ(message.rfind(path + ": directory ", 0), 0u) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(db("no-such-dir")));
}

TEST_F(OpeningAStore, RefusesAPathWhoseParentIsARegularFile) {
  write_bytes(db("plain-file"), "x");
  const std::string path = db("plain-file/results.db");
  const std::string message = store_error_of([&] { Store::open(path); });
  EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("is not a directory"), std::string::npos) << message;
}

TEST_F(OpeningAStore, RefusesAPathThatIsADirectory) {
  fs::create_directory(db("a-directory.db"));
  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    const std::string message = store_error_of([&] { Store::open(db("a-directory.db"), mode); });
    EXPECT_EQ(message.rfind(db("a-directory.db") + ": ", 0), 0u) << message;
    EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
  }
}

// Permission refusals run as an unprivileged user (see as_unprivileged_user), since root
// ignores file modes.
TEST_F(OpeningAStore, RefusesToCreateADatabaseInADirectoryItCannotWrite) {
  fs::create_directory(db("locked"));
  const std::string path = db("locked/results.db");
  const std::string message = as_unprivileged_user(dir_path(), [&] {
    ::chmod(db("locked").c_str(), 0555);
    return store_error_of([&] { Store::open(path); });
  });
  EXPECT_EQ(message.rfind(path + ": cannot create the database in ", 0), 0u) << message;
  EXPECT_NE(message.find("make the directory writable"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(OpeningAStore, RefusesAnExistingDatabaseWhoseWalFileCannotBeCreated) {
  {
    Store store = Store::open(db());
    store.register_run("r1", "train", "{}", {});
  }
  ASSERT_FALSE(fs::exists(db() + "-wal"));
  const std::string before = read_bytes(db());
  // A directory where the -wal file belongs blocks it for root as well.
  fs::create_directory(db() + "-wal");
  const std::string message = store_error_of([&] { Store::open(db()); });
  EXPECT_EQ(message.rfind(db() + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("-wal is in the way"), std::string::npos) << message;
  EXPECT_EQ(read_bytes(db()), before);
}

TEST_F(OpeningAStore, RefusesAnExistingDatabaseInADirectoryItCannotWrite) {
  fs::create_directory(db("locked"));
  const std::string path = db("locked/results.db");
  {
    Store store = Store::open(path);
    store.register_run("r1", "train", "{}", {});
  }
  const std::string before = read_bytes(path);
  const std::string message = as_unprivileged_user(dir_path(), [&] {
    ::chmod(db("locked").c_str(), 0555);
    return store_error_of([&] { Store::open(path); });
  });
  EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("writable"), std::string::npos) << message;
  EXPECT_EQ(read_bytes(path), before);
}

TEST_F(OpeningAStore, RefusesAFileItCannotRead) {
  {
    Store store = Store::open(db());
  }
  const std::string messages = as_unprivileged_user(dir_path(), [&] {
    ::chmod(db().c_str(), 0000);
    std::string both;
    for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
      both += store_error_of([&] { Store::open(db(), mode); }) + "\n";
    }
    return both;
  });
  const std::string expected = db() + ": cannot read the file (permission denied)";
  size_t at = messages.find(expected);
  ASSERT_EQ(at, 0u) << messages;
  EXPECT_NE(messages.find("\n" + expected, at + 1), std::string::npos) << "read-only mode too: " << messages;
}

TEST_F(OpeningAStore, RefusesAReadOnlyFileForWritingButOpensItReadOnly) {
  {
    Store store = Store::open(db());
    store.register_run("r1", "train", "{}", {});
  }
  const std::string outcome = as_unprivileged_user(dir_path(), [&] {
    ::chmod(db().c_str(), 0444);
    const std::string refusal = store_error_of([&] { Store::open(db()); });
    const bool found = Store::open(db(), OpenMode::kReadOnly).find_run("r1").has_value();
    return refusal + (found ? "|found r1" : "|r1 missing");
  });
  EXPECT_EQ(outcome.rfind(db() + ": the file is read-only", 0), 0u) << outcome;
  EXPECT_NE(outcome.find("|found r1"), std::string::npos) << outcome;
}

TEST_F(OpeningAStore, RefusesAnEmptyPath) {
  const std::string message = store_error_of([] { Store::open(""); });
  EXPECT_NE(message.find("path is empty"), std::string::npos) << message;
}

TEST(AStoreHandle, IsMoveOnlyAndStaysUsableAfterAMove) {
  static_assert(!std::is_copy_constructible_v<Store>);
  static_assert(!std::is_copy_assignable_v<Store>);
  static_assert(std::is_nothrow_move_constructible_v<Store>);
  static_assert(std::is_nothrow_move_assignable_v<Store>);
  TempDir dir;
  Store first = Store::open(dir.file("a.db"));
  Store moved = std::move(first);
  moved.register_run("r1", "train", "{}", {});
  EXPECT_TRUE(moved.find_run("r1").has_value());
  Store other = Store::open(dir.file("b.db"));
  other = std::move(moved);
  EXPECT_EQ(other.path(), dir.file("a.db"));
  EXPECT_TRUE(other.find_run("r1").has_value());
  EXPECT_THROW(first.path(), StoreError);  // NOLINT(bugprone-use-after-move)
}

TEST(UtcNow, IsIso8601WithMillisecondsAndAZ) {
  const std::string now = utc_now_iso8601();
  EXPECT_TRUE(std::regex_match(now, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")))
      << now;
  std::time_t seconds = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  EXPECT_EQ(std::stoi(now.substr(0, 4)), utc.tm_year + 1900);
}

TEST(RunStatusText, RoundTripsAndRefusesUnknownWords) {
  for (RunStatus status :
       {RunStatus::kPending, RunStatus::kRunning, RunStatus::kDone, RunStatus::kFailed}) {
    EXPECT_EQ(run_status_from_string(to_string(status)), status);
  }
  EXPECT_STREQ(to_string(RunStatus::kDone), "done");
  const std::string message = store_error_of([] { run_status_from_string("finished"); });
  EXPECT_NE(message.find("'finished'"), std::string::npos) << message;
}

}  // namespace
}  // namespace ubp::results::testing

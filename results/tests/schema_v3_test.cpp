// Schema v3 (leases and code versions on runs): older databases migrate, older shards merge,
// and a merge carries the code version of a run but never a lease.
#include <unistd.h>

#include "test_support.h"

namespace ubp::results::testing {
namespace {

using SchemaV3 = StoreTest;

// A schema v2 database with one done and one running run, as ubp before v3 left it.
void make_v2_database(const std::string& path) {
  Store store = Store::open(path);
  store.register_run("done", "selection", "{}", {Param{"seed", "1", 1.0}});
  store.mark_running("done", "old-host");
  store.finish_done("done", sample_result());
  store.register_run("left", "selection", "{}", {});
  store.mark_running("left", "old-host");
  downgrade_to_schema_v2(store);
}

TEST_F(SchemaV3, AV2DatabaseMigratesKeepingItsRunsWithNoCodeVersionAndNoLease) {
  make_v2_database(db());
  {
    Store old = Store::open(db(), OpenMode::kReadOnly);  // read as it is, without the new columns
    EXPECT_EQ(old.schema_version(), 2);
    ASSERT_EQ(old.list_runs().size(), 2u);
    EXPECT_FALSE(old.find_run("done")->code.recorded());
    EXPECT_TRUE(old.leases().empty());
    EXPECT_TRUE(old.info().leases.empty());
  }
  Store store = Store::open(db());
  EXPECT_EQ(store.schema_version(), 3);
  EXPECT_FALSE(scalar(store, "SELECT value FROM meta WHERE key = 'migrated_to_v3'").empty());
  const RunRow done = *store.find_run("done");
  EXPECT_EQ(done.status, RunStatus::kDone);
  EXPECT_FALSE(done.code.recorded());
  EXPECT_EQ(done.code.describe(), "code not recorded (run before schema v3)");
  EXPECT_EQ(store.metrics_of("done").size(), sample_result().metrics.size());
  EXPECT_FALSE(store.find_run("left")->lease.has_value());
  // A run left running by an old ubp has no lease: any runner may claim it.
  EXPECT_EQ(store.claim_run("left", lease_owner_for("node-a"), 60).outcome, ClaimOutcome::kClaimed);
  EXPECT_EQ(scalar(store, "PRAGMA integrity_check"), "ok");
}

TEST_F(SchemaV3, AV2ShardMergesIntoAV3DatabaseWithItsCodeVersionUnrecorded) {
  make_v2_database(db("old.db"));
  Store here = Store::open(db());
  EXPECT_EQ(here.merge_from(db("old.db")), 2);
  const RunRow done = *here.find_run("done");
  EXPECT_EQ(done.status, RunStatus::kDone);
  EXPECT_EQ(done.host, "old-host");
  EXPECT_FALSE(done.code.recorded());
  EXPECT_EQ(here.latency_of("done").size(), sample_result().latency.size());
  EXPECT_EQ(Store::open(db("old.db"), OpenMode::kReadOnly).schema_version(), 2);  // only read
}

TEST_F(SchemaV3, AMergeCarriesARunsCodeVersionButNotItsLease) {
  {
    Store shard = Store::open(db("shard.db"));
    shard.register_run("finished", "selection", "{}", {});
    shard.mark_running("finished", "node-b");
    shard.finish_done("finished", sample_result());
    exec(shard, "UPDATE runs SET git_commit = 'abc123', git_dirty = 1, build_type = 'Debug'");
    shard.register_run("working", "selection", "{}", {});
    shard.claim_run("working", LeaseOwner{"node-b", 12, "token-b"}, 60);
  }
  Store here = Store::open(db());
  EXPECT_EQ(here.merge_from(db("shard.db")), 2);
  const RunRow finished = *here.find_run("finished");
  EXPECT_EQ(finished.code.git_commit, "abc123");
  EXPECT_EQ(finished.code.git_dirty, std::optional<bool>(true));
  EXPECT_EQ(finished.code.build_type, "Debug");
  EXPECT_EQ(finished.code.version, this_build().version);
  EXPECT_EQ(here.find_run("working")->status, RunStatus::kRunning);
  EXPECT_FALSE(here.find_run("working")->lease.has_value()) << "a shard's lease names a runner of the shard";
  EXPECT_TRUE(here.leases().empty());
}

}  // namespace
}  // namespace ubp::results::testing

// Leases on runs: a runner claims a run in one transaction, others skip it while the lease is
// alive and take it over once its owner is dead (same host) or its heartbeat is stale.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "test_support.h"

namespace ubp::results::testing {
namespace {

// A pid that no process has any more: a child that exited and was reaped.
int64_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

LeaseOwner owner(const std::string& host, int64_t pid, const std::string& token) {
  return LeaseOwner{host, pid, token};
}

class Leases : public StoreTest {
 protected:
  Store open_with_run(const std::string& run_id = "r1") {
    Store store = Store::open(db());
    store.register_run(run_id, "selection", "{}", {});
    return store;
  }

  // Moves a run's heartbeat `seconds` into the past, as a runner that stopped renewing leaves it.
  static void age_heartbeat(const Store& store, const std::string& run_id, double seconds) {
    const double past = *parse_utc_iso8601(utc_now_iso8601()) - seconds;
    const auto whole = static_cast<std::time_t>(std::floor(past));
    std::tm utc{};
    gmtime_r(&whole, &utc);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    exec(store, std::string("UPDATE runs SET lease_heartbeat = '") + text + "' WHERE run_id = '" + run_id + "'");
  }

  const LeaseOwner here_ = owner("node-a", ::getpid(), "token-a");
};

TEST_F(Leases, AClaimMarksThePendingRunRunningUnderTheClaimersLease) {
  Store store = open_with_run();
  const Claim claim = store.claim_run("r1", here_, 60);
  EXPECT_EQ(claim.outcome, ClaimOutcome::kClaimed);
  EXPECT_FALSE(claim.lease.has_value()) << "nothing was taken over";
  const RunRow row = *store.find_run("r1");
  EXPECT_EQ(row.status, RunStatus::kRunning);
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(row.host, "node-a");
  ASSERT_TRUE(row.lease.has_value());
  EXPECT_EQ(row.lease->host, "node-a");
  EXPECT_EQ(row.lease->pid, ::getpid());
  EXPECT_EQ(row.lease->token, "token-a");
  EXPECT_LT(row.lease->age_seconds, 60);
  EXPECT_EQ(row.code, this_build());
}

TEST_F(Leases, ARunWhoseLeaseIsAliveIsLeftToItsOwner) {
  Store store = open_with_run();
  store.claim_run("r1", here_, 60);
  const Claim second = store.claim_run("r1", owner("node-a", ::getpid(), "token-b"), 60);
  EXPECT_EQ(second.outcome, ClaimOutcome::kHeld);
  ASSERT_TRUE(second.lease.has_value());
  EXPECT_EQ(second.lease->token, "token-a");
  EXPECT_EQ(second.lease->holder(), "node-a pid " + std::to_string(::getpid()));
  EXPECT_EQ(store.find_run("r1")->attempts, 1);
}

TEST_F(Leases, OnTheSameHostARunWhoseProcessIsGoneIsTakenOverAtOnce) {
  Store store = open_with_run();
  const int64_t gone = dead_pid();
  store.claim_run("r1", owner("node-a", gone, "token-dead"), 3600);
  const Claim claim = store.claim_run("r1", here_, 3600);
  EXPECT_EQ(claim.outcome, ClaimOutcome::kClaimed);
  ASSERT_TRUE(claim.lease.has_value()) << "the dead lease is reported as taken over";
  EXPECT_EQ(claim.lease->pid, gone);
  const RunRow row = *store.find_run("r1");
  EXPECT_EQ(row.attempts, 2);
  EXPECT_EQ(row.lease->token, "token-a");
}

TEST_F(Leases, OnAnotherHostAFreshLeaseIsLeftAloneThoughItsPidMeansNothingHere) {
  Store store = open_with_run();
  store.claim_run("r1", owner("node-b", dead_pid(), "token-b"), 3600);
  const Claim claim = store.claim_run("r1", here_, 3600);
  EXPECT_EQ(claim.outcome, ClaimOutcome::kHeld);
  EXPECT_EQ(store.find_run("r1")->attempts, 1);
}

TEST_F(Leases, AHeartbeatOlderThanTheTimeoutIsTakenOverFromAnotherHost) {
  Store store = open_with_run();
  store.claim_run("r1", owner("node-b", ::getpid(), "token-b"), 60);
  age_heartbeat(store, "r1", 30);
  EXPECT_EQ(store.claim_run("r1", here_, 60).outcome, ClaimOutcome::kHeld) << "30 s is within a 60 s timeout";
  const Claim claim = store.claim_run("r1", here_, 20);
  EXPECT_EQ(claim.outcome, ClaimOutcome::kClaimed) << "30 s is past a 20 s timeout";
  ASSERT_TRUE(claim.lease.has_value());
  EXPECT_EQ(claim.lease->host, "node-b");
  EXPECT_GE(claim.lease->age_seconds, 29);
}

TEST_F(Leases, AStaleHeartbeatIsTakenOverOnTheSameHostEvenWhenThePidLives) {
  // The pid may belong to another process by now: a heartbeat that stopped says more.
  Store store = open_with_run();
  store.claim_run("r1", owner("node-a", ::getpid(), "token-old"), 60);
  age_heartbeat(store, "r1", 120);
  EXPECT_EQ(store.claim_run("r1", here_, 60).outcome, ClaimOutcome::kClaimed);
}

TEST_F(Leases, RenewingMovesTheHeartbeatUntilAnotherRunnerTakesTheRunOver) {
  Store store = open_with_run();
  store.claim_run("r1", here_, 60);
  age_heartbeat(store, "r1", 50);
  EXPECT_TRUE(store.renew_lease("r1", "token-a"));
  EXPECT_LT(store.find_run("r1")->lease->age_seconds, 10);
  age_heartbeat(store, "r1", 90);
  ASSERT_EQ(store.claim_run("r1", owner("node-b", 7, "token-b"), 60).outcome, ClaimOutcome::kClaimed);
  EXPECT_FALSE(store.renew_lease("r1", "token-a"));
  EXPECT_EQ(store.find_run("r1")->lease->token, "token-b") << "a failed renewal leaves the new lease alone";
}

TEST_F(Leases, ARunnerThatLostItsLeaseCannotRecordTheRunAndWritesNothing) {
  Store store = open_with_run();
  store.claim_run("r1", here_, 60);
  age_heartbeat(store, "r1", 90);
  store.claim_run("r1", owner("node-b", 4242, "token-b"), 60);
  const std::string before = dump(store);
  for (const auto& attempt : std::vector<std::function<void()>>{
           [&] { store.finish_done("r1", sample_result(), "token-a"); },
           [&] { store.mark_failed("r1", "boom", "token-a"); }}) {
    try {
      attempt();
      ADD_FAILURE() << "a runner without the lease recorded the run";
    } catch (const LeaseLost& lost) {
      const std::string message = lost.what();
      EXPECT_NE(message.find(db()), std::string::npos) << message;
      EXPECT_NE(message.find("node-b pid 4242"), std::string::npos) << message;
      EXPECT_NE(message.find("took the run over"), std::string::npos) << message;
    }
  }
  EXPECT_EQ(dump(store), before);
}

TEST_F(Leases, FinishingOrFailingARunReleasesItsLease) {
  Store store = Store::open(db());
  store.register_run("done", "selection", "{}", {});
  store.register_run("failed", "selection", "{}", {});
  store.claim_run("done", here_, 60);
  store.claim_run("failed", here_, 60);
  store.finish_done("done", sample_result(), "token-a");
  store.mark_failed("failed", "boom", "token-a");
  EXPECT_FALSE(store.find_run("done")->lease.has_value());
  EXPECT_FALSE(store.find_run("failed")->lease.has_value());
  EXPECT_TRUE(store.leases().empty());
  EXPECT_EQ(store.claim_run("done", here_, 60).outcome, ClaimOutcome::kDone);
}

TEST_F(Leases, AFailedRunIsRetriedOnlyIfNobodyTriedItSinceTheRunnerLooked) {
  Store store = open_with_run();
  store.claim_run("r1", here_, 60);
  store.mark_failed("r1", "first failure", "token-a");
  const int seen = store.find_run("r1")->attempts;  // a runner starting now sees 1 attempt
  const LeaseOwner other = owner("node-a", ::getpid(), "token-b");
  ASSERT_EQ(store.claim_run("r1", other, 60, seen).outcome, ClaimOutcome::kClaimed);
  store.mark_failed("r1", "second failure", "token-b");
  EXPECT_EQ(store.claim_run("r1", here_, 60, seen).outcome, ClaimOutcome::kFailedMeanwhile);
  EXPECT_EQ(store.find_run("r1")->attempts, 2);
  EXPECT_EQ(store.claim_run("r1", here_, 60, seen + 1).outcome, ClaimOutcome::kClaimed)
      << "a runner that saw the second failure retries it";
}

TEST_F(Leases, ADoneRunsLeaseGuardsItsOwedLatencyAndIsReleasedWithTheRows) {
  Store store = open_with_run();
  store.mark_running("r1", "h");
  store.finish_done("r1", RunResult{});
  EXPECT_FALSE(store.acquire_lease("r1", here_, 60).has_value());
  const auto held = store.acquire_lease("r1", owner("node-a", ::getpid(), "token-b"), 60);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->token, "token-a");
  EXPECT_EQ(store.find_run("r1")->status, RunStatus::kDone) << "a lease does not change the status";
  const std::string lost = store_error_of([&] { store.add_latency("r1", sample_result().latency, "token-b"); });
  EXPECT_NE(lost.find("took the run over"), std::string::npos) << lost;
  store.add_latency("r1", sample_result().latency, "token-a");
  EXPECT_EQ(store.latency_of("r1").size(), 2u);
  EXPECT_FALSE(store.find_run("r1")->lease.has_value());
}

TEST_F(Leases, ReleasingDropsOnlyTheCallersOwnLease) {
  Store store = open_with_run();
  store.claim_run("r1", here_, 60);
  store.release_lease("r1", "token-b");
  EXPECT_TRUE(store.find_run("r1")->lease.has_value());
  store.release_lease("r1", "token-a");
  EXPECT_FALSE(store.find_run("r1")->lease.has_value());
}

TEST_F(Leases, InfoListsEveryLeaseWithItsHolderAndHeartbeat) {
  Store store = Store::open(db());
  for (const char* id : {"a", "b", "c"}) store.register_run(id, "selection", "{}", {});
  store.claim_run("a", here_, 60);
  store.claim_run("c", owner("node-b", 99, "token-c"), 60);
  const StoreInfo info = store.info();
  ASSERT_EQ(info.leases.size(), 2u);
  EXPECT_EQ(info.leases[0].run_id, "a");
  EXPECT_EQ(info.leases[0].holder(), "node-a pid " + std::to_string(::getpid()));
  EXPECT_EQ(info.leases[1].run_id, "c");
  EXPECT_EQ(info.leases[1].host, "node-b");
  EXPECT_FALSE(info.leases[1].heartbeat_at.empty());
}

TEST_F(Leases, ExactlyOneOfManyProcessesClaimingOneRunAtOnceGetsIt) {
  { open_with_run(); }
  constexpr int kProcesses = 6;
  // ready: each child says it is connected; go: the parent lets them all claim at once;
  // outcome: each child's claim; done: closed by the parent when the children may exit (a child
  // that exited early would leave a lease of a dead process, which the others take over).
  int ready[2], go[2], outcome[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(outcome), 0);
  ASSERT_EQ(::pipe(done), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t child = ::fork();
    if (child == 0) {
      ::close(done[1]);
      char result = 'e';
      try {
        Store mine = Store::open(db());  // a connection of its own, as another runner has
        char byte = 'r';
        if (::write(ready[1], &byte, 1) != 1) ::_exit(4);
        if (::read(go[0], &byte, 1) != 1) ::_exit(5);
        const ClaimOutcome got = mine.claim_run("r1", lease_owner_for("node-a"), 60).outcome;
        result = got == ClaimOutcome::kClaimed ? 'c' : got == ClaimOutcome::kHeld ? 'h' : 'o';
      } catch (...) {
        result = 'x';
      }
      if (::write(outcome[1], &result, 1) != 1) ::_exit(6);
      char ignored;
      while (::read(done[0], &ignored, 1) > 0) {
      }
      ::_exit(0);
    }
    children.push_back(child);
  }
  ::close(done[0]);
  for (int i = 0; i < kProcesses; ++i) {
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  }
  const std::string start(kProcesses, 'g');
  ASSERT_EQ(::write(go[1], start.data(), start.size()), static_cast<ssize_t>(start.size()));
  std::string outcomes;
  for (int i = 0; i < kProcesses; ++i) {
    char byte = 0;
    ASSERT_EQ(::read(outcome[0], &byte, 1), 1);
    outcomes += byte;
  }
  ::close(done[1]);
  for (const pid_t child : children) ::waitpid(child, nullptr, 0);
  std::sort(outcomes.begin(), outcomes.end());
  EXPECT_EQ(outcomes, "c" + std::string(kProcesses - 1, 'h')) << "c: claimed, h: held by another";
  Store store = Store::open(db());
  EXPECT_EQ(store.find_run("r1")->attempts, 1);
}

TEST(ProcessExists, IsTrueForThisProcessAndFalseForAReapedOrZombieChild) {
  EXPECT_TRUE(process_exists(::getpid()));
  EXPECT_FALSE(process_exists(dead_pid()));
  EXPECT_FALSE(process_exists(0));
  const pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(0);
  // Not reaped yet: once it has exited it is a zombie, which works no more.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, zombie, &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(process_exists(zombie));
  ::waitpid(zombie, nullptr, 0);
}

TEST(UtcIso8601, ParsesWhatUtcNowWritesAndRefusesOtherText) {
  const auto parsed = parse_utc_iso8601("2026-11-28T04:37:31.123Z");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_DOUBLE_EQ(*parsed, 1795840651.123);
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(*parse_utc_iso8601(utc_now_iso8601()), now, 2.0);
  EXPECT_FALSE(parse_utc_iso8601("2026-11-28 04:37:31").has_value());
  EXPECT_FALSE(parse_utc_iso8601("").has_value());
}

}  // namespace
}  // namespace ubp::results::testing

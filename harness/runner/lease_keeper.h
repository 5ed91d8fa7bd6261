// Keeps a runner's lease on the run it works on alive: a thread renews the heartbeat, through a
// database connection of its own, until the run ends (results/lease.h explains leases).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "ubp/results/store.h"

namespace ubp::runner {

class LeaseKeeper {
 public:
  // Starts renewing the lease `owner` holds on `run_id` in the database at `db_path` every
  // `interval`. The keeper's own connection matters: a transaction of the run's connection
  // must never take in a heartbeat, nor a heartbeat wait for it.
  LeaseKeeper(const std::string& db_path, std::string run_id, results::LeaseOwner owner,
              std::chrono::milliseconds interval, std::shared_ptr<spdlog::logger> log);
  ~LeaseKeeper();  // stops the thread; the lease stays as it is (the store releases it)
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Whether a renewal found the lease in another runner's hands.
  bool lost() const { return lost_.load(); }

  // Renews now and throws results::LeaseLost when the run is no longer this runner's: called
  // before writing anything only the lease owner may write (checkpoints, kept models).
  void confirm();

 private:
  void keep_alive();
  bool renew();  // false once the lease is lost; a failing database only logs a warning

  std::string run_id_;
  results::LeaseOwner owner_;
  std::chrono::milliseconds interval_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mutex_;  // guards store_ and stopping_
  std::condition_variable wake_;
  results::Store store_;
  bool stopping_ = false;
  std::atomic<bool> lost_{false};
  std::thread thread_;
};

}  // namespace ubp::runner

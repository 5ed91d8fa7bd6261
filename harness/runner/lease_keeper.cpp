#include "runner/lease_keeper.h"

#include <utility>

namespace ubp::runner {

LeaseKeeper::LeaseKeeper(const std::string& db_path, std::string run_id, results::LeaseOwner owner,
                         std::chrono::milliseconds interval, std::shared_ptr<spdlog::logger> log)
    : run_id_(std::move(run_id)),
      owner_(std::move(owner)),
      interval_(interval),
      log_(std::move(log)),
      store_(results::Store::open(db_path, results::OpenMode::kReadWrite)),
      thread_([this] { keep_alive(); }) {}

LeaseKeeper::~LeaseKeeper() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool LeaseKeeper::renew() {
  if (lost_) return false;
  try {
    if (!store_.renew_lease(run_id_, owner_.token)) {
      lost_ = true;
      log_->warn("run {}: another runner took this run over (this runner's heartbeat went stale); leaving it",
                 run_id_);
      return false;
    }
  } catch (const results::StoreError& e) {
    // A busy or full database: the next beat tries again; if none gets through before the
    // timeout, another runner may take the run over, and confirm() or the result's commit
    // finds out.
    log_->warn("run {}: cannot renew the lease: {}", run_id_, e.what());
  }
  return true;
}

void LeaseKeeper::keep_alive() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) break;
    if (!renew()) break;
  }
}

void LeaseKeeper::confirm() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (renew()) return;
  throw results::LeaseLost(store_.path() + ": run " + run_id_ +
                           ": another runner took the run over; this runner stops working on it and writes "
                           "nothing more for it");
}

}  // namespace ubp::runner

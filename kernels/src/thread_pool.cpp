// ThreadPool: persistent workers that spin briefly, then sleep; the caller never waits for a
// worker that holds no task.
//
// Between two parallel_for calls of one forward pass there are only microseconds, so a worker
// that goes to sleep after each job pays a futex wake-up per layer, while one that spins forever
// (pthreadpool's workers spin for a long while) takes a core from whatever else runs. So a
// worker spins for at most kSpin after a job, with a pause instruction in the loop, and then
// blocks on a condition variable.
//
// Which thread runs which task matters on this kind of machine: a feature map of a few MB sits
// in the L2 caches of the cores that wrote it, and a core reading lines another core has just
// written gets them over the interconnect (on the 2-vCPU VM this halves the bandwidth of a
// streaming loop over 4 MB instead of doubling it). So each thread owns a contiguous home range
// of every job's tasks (thread k the k-th share), which it runs front to back; kernels split
// work along the same dimension in every layer, so a thread mostly reads what it wrote. A
// thread that runs out takes tasks from the back of the others' ranges, so a descheduled or
// late worker delays the job by at most the task it holds.
//
// A job is finished when its tasks are, not when every worker has checked in: a worker that
// wakes after the caller has taken all its tasks finds every range empty and claims nothing
// (the first version of this pool waited for every worker to check in, which on a loaded
// machine cost a time slice of someone else's per layer). Ranges are refilled only once every
// task of the previous job has returned, after the job's task pointer is written, so a claim
// that succeeds always belongs to the current job.
#include "ubp/kernels/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu_relax.h"

namespace ubp::kernels {
namespace {

constexpr std::chrono::microseconds kSpin{50};

// A job has at most this many tasks (32-bit range ends); parallel_for runs larger
// counts as several jobs.
constexpr int64_t kMaxTasksPerJob = std::numeric_limits<int32_t>::max();

using detail::cpu_relax;

// Spins until done() or kSpin has passed; returns done()'s last value.
template <class Pred>
bool spin_until(const Pred& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}


}  // namespace

struct ThreadPool::Impl {
  using Task = std::function<void(int64_t)>;

  // The tasks of one thread's home range not yet claimed: [front, back) packed as
  // front | back << 32; a cache line each, so claims of different threads do not collide.
  struct alignas(64) Range {
    std::atomic<uint64_t> word{0};
  };

  std::vector<std::thread> workers;
  std::vector<Range> ranges;  // one per thread; the caller is thread 0
  std::mutex mutex;
  std::condition_variable wake;  // workers wait here for a new job
  std::condition_variable done;  // the caller waits here for the job's last task
  std::atomic<bool> stop{false};
  int sleepers = 0;  // workers blocked on `wake` (guarded by mutex)
  bool caller_sleeping = false;

  std::atomic<uint64_t> generation{0};  // bumped for every job
  // The current job, written by the caller before it fills the ranges (release); a thread that
  // claims a task from a range (acquire) therefore reads this job's task.
  std::atomic<const Task*> task{nullptr};
  std::atomic<int64_t> count{0};
  std::atomic<int64_t> finished{0};  // tasks of the current job that have returned

  static constexpr uint64_t pack(int64_t front, int64_t back) {
    return static_cast<uint64_t>(front) | static_cast<uint64_t>(back) << 32;
  }
  static constexpr int64_t front_of(uint64_t w) { return static_cast<int64_t>(w & 0xffffffffu); }
  static constexpr int64_t back_of(uint64_t w) { return static_cast<int64_t>(w >> 32); }

  // Takes the first (own range) or last (someone else's) unclaimed task of range r; -1 if none.
  int64_t claim(size_t r, bool own) {
    std::atomic<uint64_t>& word = ranges[r].word;
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      const int64_t f = front_of(w), b = back_of(w);
      if (f >= b) return -1;
      const uint64_t next = own ? pack(f + 1, b) : pack(f, b - 1);
      if (word.compare_exchange_weak(w, next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        return own ? f : b - 1;
      }
    }
  }

  // Thread `self` runs its home range front to back, then takes tasks from the back of the
  // others' ranges. Returns whether it finished the job's last task. A late worker finds every
  // range empty and claims nothing; one whose claim succeeds belongs to the current job.
  bool run_tasks(size_t self) {
    bool finished_last = false;
    auto run = [&](int64_t i) {
      (*task.load(std::memory_order_relaxed))(i);
      finished_last =
          finished.fetch_add(1, std::memory_order_acq_rel) + 1 == count.load(std::memory_order_relaxed);
    };
    for (int64_t i; (i = claim(self, true)) >= 0;) run(i);
    for (size_t k = 1; k < ranges.size(); ++k) {
      const size_t victim = (self + k) % ranges.size();
      for (int64_t i; (i = claim(victim, false)) >= 0;) run(i);
    }
    return finished_last;
  }

  void worker_loop(size_t self) {
    uint64_t seen = 0;
    for (;;) {
      auto fresh = [&] {
        return generation.load(std::memory_order_acquire) != seen ||
               stop.load(std::memory_order_acquire);
      };
      if (!spin_until(fresh)) {
        std::unique_lock<std::mutex> lock(mutex);
        ++sleepers;
        wake.wait(lock, fresh);
        --sleepers;
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = generation.load(std::memory_order_acquire);
      if (run_tasks(self)) {
        std::lock_guard<std::mutex> lock(mutex);
        if (caller_sleeping) done.notify_one();
      }
    }
  }

  void run_job(int64_t n, const Task& fn) {
    // Every range of the previous job is empty, so nobody can claim until they are refilled.
    task.store(&fn, std::memory_order_relaxed);
    count.store(n, std::memory_order_relaxed);
    finished.store(0, std::memory_order_relaxed);
    // Home ranges: contiguous, in thread order, so a kernel's k-th share of the work (and
    // the data it touches) lands on the same thread in every layer, as long as no one steals.
    const int64_t t = static_cast<int64_t>(ranges.size());
    for (int64_t r = 0; r < t; ++r) {
      ranges[static_cast<size_t>(r)].word.store(pack(n * r / t, n * (r + 1) / t),
                                                std::memory_order_release);
    }
    {
      // Under the mutex: a worker deciding to sleep either sees the new job in its predicate or
      // is counted in `sleepers` and woken here.
      std::lock_guard<std::mutex> lock(mutex);
      generation.fetch_add(1, std::memory_order_release);
      if (sleepers > 0) wake.notify_all();
    }
    run_tasks(0);
    auto all_done = [&] { return finished.load(std::memory_order_acquire) == n; };
    if (!spin_until(all_done)) {
      std::unique_lock<std::mutex> lock(mutex);
      caller_sleeping = true;
      done.wait(lock, all_done);
      caller_sleeping = false;
    }
  }
};

ThreadPool::ThreadPool(int threads) : threads_(threads), impl_(std::make_unique<Impl>()) {
  if (threads < 1) {
    throw std::invalid_argument("ThreadPool: threads must be >= 1, got " +
                                std::to_string(threads));
  }
  impl_->ranges = std::vector<Impl::Range>(static_cast<size_t>(threads));
  for (int t = 1; t < threads; ++t) {
    impl_->workers.emplace_back([this, t] { impl_->worker_loop(static_cast<size_t>(t)); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop.store(true, std::memory_order_release);
  }
  impl_->wake.notify_all();
  for (auto& w : impl_->workers) w.join();
}

void ThreadPool::parallel_for(int64_t count, const std::function<void(int64_t)>& task) {
  if (count <= 0) return;
  Impl& m = *impl_;
  if (m.workers.empty() || count == 1) {
    for (int64_t i = 0; i < count; ++i) task(i);
    return;
  }
  for (int64_t begin = 0; begin < count; begin += kMaxTasksPerJob) {
    const int64_t n = std::min(kMaxTasksPerJob, count - begin);
    if (begin == 0 && n == count) {
      m.run_job(n, task);
    } else {
      const Impl::Task part = [&](int64_t i) { task(begin + i); };
      m.run_job(n, part);
    }
  }
}

const char* ThreadPool::backend() {
  return "ubp (home ranges, stealing from their ends; bounded spin, then condition variable)";
}

}  // namespace ubp::kernels

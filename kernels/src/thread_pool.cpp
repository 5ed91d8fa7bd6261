// ThreadPool: persistent workers that spin briefly, then sleep.
//
// Between two parallel_for calls of one forward pass there are only microseconds, so a worker
// that goes to sleep after each job pays a futex wake-up (tens of microseconds on a VM) per
// layer, while one that spins forever (pthreadpool's workers spin for a long while) takes a
// core from whatever else runs, and on a 2-core machine shared with a build, a spinning worker
// of ours can even delay the thread it waits for. So a worker spins for at most kSpin after a
// job, with a pause instruction in the loop, and then blocks on a condition variable; the
// caller, having run its share of the tasks, waits for the workers the same way.
//
// Tasks are claimed from an atomic counter, so a descheduled worker delays the job by at most
// the task it holds; the caller returns only once every worker has checked in for the job,
// so the next job never overwrites what a late worker is about to read.
#include "ubp/kernels/thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ubp::kernels {
namespace {

constexpr std::chrono::microseconds kSpin{50};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

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
  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable wake;  // workers wait here for a new generation
  std::condition_variable done;  // the caller waits here for `active` to reach 0
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
  std::atomic<int> active{0};  // workers that have not finished the current job
  int sleepers = 0;            // workers blocked on `wake` (guarded by mutex)
  bool caller_sleeping = false;
  // The current job; written by the caller before it publishes a new generation.
  const std::function<void(int64_t)>* task = nullptr;
  int64_t count = 0;
  std::atomic<int64_t> next{0};

  void drain() {
    for (;;) {
      const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      (*task)(i);
    }
  }

  void worker_loop() {
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
      drain();
      if (active.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex);
        if (caller_sleeping) done.notify_one();
      }
    }
  }
};

ThreadPool::ThreadPool(int threads) : threads_(threads), impl_(std::make_unique<Impl>()) {
  if (threads < 1) {
    throw std::invalid_argument("ThreadPool: threads must be >= 1, got " +
                                std::to_string(threads));
  }
  for (int t = 1; t < threads; ++t) {
    impl_->workers.emplace_back([this] { impl_->worker_loop(); });
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
  m.task = &task;
  m.count = count;
  m.next.store(0, std::memory_order_relaxed);
  m.active.store(static_cast<int>(m.workers.size()), std::memory_order_relaxed);
  {
    // Under the mutex: a worker deciding to sleep either sees the new generation in its
    // predicate or is counted in `sleepers` and woken here.
    std::lock_guard<std::mutex> lock(m.mutex);
    m.generation.fetch_add(1, std::memory_order_release);
    if (m.sleepers > 0) m.wake.notify_all();
  }
  m.drain();
  auto finished = [&] { return m.active.load(std::memory_order_acquire) == 0; };
  if (!spin_until(finished)) {
    std::unique_lock<std::mutex> lock(m.mutex);
    m.caller_sleeping = true;
    m.done.wait(lock, finished);
    m.caller_sleeping = false;
  }
  m.task = nullptr;
}

const char* ThreadPool::backend() { return "ubp (bounded spin, then condition variable)"; }

}  // namespace ubp::kernels

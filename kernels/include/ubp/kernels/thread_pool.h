// A persistent thread pool for the kernels. Each thread runs its own contiguous share of a job's
// tasks first (so consecutive layers split the same way find their data in that core's cache),
// then takes tasks left in the others' shares. Idle workers spin for at most ~50 us after a job
// (the gap between two layers of a forward pass), then sleep on a condition variable, so they
// never take a core from other work for long (thread_pool.cpp says why).
//
// Every kernel takes a `ThreadPool*`; nullptr (or a pool of 1 thread) runs in the calling thread.
// Work is split into tasks whose results never depend on which thread runs them, so a kernel
// gives bitwise identical output for any thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace ubp::kernels {

class ThreadPool {
 public:
  // threads >= 1 (the calling thread counts as one); throws std::invalid_argument otherwise.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Runs task(i) for every i in [0, count) on the pool's threads and waits for all of them.
  // Thread k (the caller is 0) starts with indices [count*k/n, count*(k+1)/n). Tasks must be
  // independent. Not reentrant: do not call parallel_for from inside a task.
  void parallel_for(int64_t count, const std::function<void(int64_t)>& task);

  // A short description of the implementation (benchmark and devbench reports).
  static const char* backend();

 private:
  struct Impl;
  int threads_;
  std::unique_ptr<Impl> impl_;
};

// Number of threads of `pool` (1 for nullptr).
inline int pool_threads(const ThreadPool* pool) { return pool == nullptr ? 1 : pool->threads(); }

}  // namespace ubp::kernels

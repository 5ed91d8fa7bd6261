// ThreadPool: pthreadpool when the build found it, otherwise a small persistent std::thread pool.
#include "ubp/kernels/thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(UBP_KERNELS_HAVE_PTHREADPOOL)
#include <pthreadpool.h>
#endif

namespace ubp::kernels {

#if defined(UBP_KERNELS_HAVE_PTHREADPOOL)

struct ThreadPool::Impl {
  pthreadpool_t pool = nullptr;
};

namespace {
struct TaskContext {
  const std::function<void(int64_t)>* task;
};
void run_task(void* context, size_t i) {
  const auto* ctx = static_cast<const TaskContext*>(context);
  (*ctx->task)(static_cast<int64_t>(i));
}
}  // namespace

ThreadPool::ThreadPool(int threads) : threads_(threads), impl_(std::make_unique<Impl>()) {
  if (threads < 1) {
    throw std::invalid_argument("ThreadPool: threads must be >= 1, got " +
                                std::to_string(threads));
  }
  if (threads > 1) {
    impl_->pool = pthreadpool_create(static_cast<size_t>(threads));
    if (impl_->pool == nullptr) {
      throw std::runtime_error("ThreadPool: pthreadpool_create(" + std::to_string(threads) +
                               ") failed");
    }
  }
}

ThreadPool::~ThreadPool() {
  if (impl_ && impl_->pool != nullptr) pthreadpool_destroy(impl_->pool);
}

void ThreadPool::parallel_for(int64_t count, const std::function<void(int64_t)>& task) {
  if (count <= 0) return;
  if (impl_->pool == nullptr || count == 1) {
    for (int64_t i = 0; i < count; ++i) task(i);
    return;
  }
  TaskContext ctx{&task};
  pthreadpool_parallelize_1d(impl_->pool, &run_task, &ctx, static_cast<size_t>(count), 0);
}

void* ThreadPool::native_handle() const { return impl_->pool; }

const char* ThreadPool::backend() { return "pthreadpool"; }

#else  // std::thread pool

// Workers sleep on a condition variable until a job is posted (generation counter), then grab
// task indices from an atomic counter; the calling thread takes part as well.
struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable wake, done;
  uint64_t generation = 0;
  bool stop = false;
  const std::function<void(int64_t)>* task = nullptr;
  int64_t count = 0;
  std::atomic<int64_t> next{0};
  int busy = 0;  // workers still inside the current job

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
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
      }
      drain();
      std::lock_guard<std::mutex> lock(mutex);
      if (--busy == 0) done.notify_one();
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
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  for (auto& w : impl_->workers) w.join();
}

void ThreadPool::parallel_for(int64_t count, const std::function<void(int64_t)>& task) {
  if (count <= 0) return;
  if (impl_->workers.empty() || count == 1) {
    for (int64_t i = 0; i < count; ++i) task(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->task = &task;
    impl_->count = count;
    impl_->next.store(0, std::memory_order_relaxed);
    impl_->busy = static_cast<int>(impl_->workers.size());
    ++impl_->generation;
  }
  impl_->wake.notify_all();
  impl_->drain();
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->done.wait(lock, [&] { return impl_->busy == 0; });
  impl_->task = nullptr;
}

void* ThreadPool::native_handle() const { return nullptr; }

const char* ThreadPool::backend() { return "std::thread"; }

#endif

}  // namespace ubp::kernels

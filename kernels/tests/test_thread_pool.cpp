// ThreadPool: every task index runs exactly once, for any pool size.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ubp/kernels/thread_pool.h"

namespace ubp::kernels {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int64_t count : {0, 1, 2, 7, 100, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      pool.parallel_for(count, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
      for (int64_t i = 0; i < count; ++i) EXPECT_EQ(hits[i].load(), 1);
    }
  }
}

TEST(ThreadPool, CanBeReusedManyTimes) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int rep = 0; rep < 200; ++rep) pool.parallel_for(10, [&](int64_t i) { sum += i; });
  EXPECT_EQ(sum.load(), 200 * 45);
}

// Task 0 waits until task 1 has started, so the job finishes only if a worker takes task 1
// while the caller is inside task 0: the workers really run beside the caller, whether they
// were still spinning after the previous job or had gone to sleep (the gaps between jobs here
// vary from none to many spin periods).
TEST(ThreadPool, WorkersRunBesideTheCallerAfterSpinningOrSleeping) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 200; ++rep) {
      std::atomic<bool> second_started{false};
      pool.parallel_for(2, [&](int64_t i) {
        if (i == 1) {
          second_started = true;
        } else {
          while (!second_started.load()) std::this_thread::yield();
        }
      });
      EXPECT_TRUE(second_started.load());
      // A gap that grows with rep: busy work, so workers past their spin go to sleep.
      volatile int64_t sink = 0;
      for (int64_t k = 0; k < int64_t{rep % 20} * 20000; ++k) sink = sink + k;
    }
  }
}

// Many short jobs of different sizes back to back: workers that arrive late for a job (all its
// tasks already taken) must claim nothing of it, and must take part in the next one correctly.
// A task of an old job run again, or a task of the new job skipped or run twice, shows up here.
TEST(ThreadPool, LateWorkersNeverRunATaskTwiceOrMissOne) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    int64_t wrong = 0;
    for (int rep = 0; rep < 20000; ++rep) {
      const int64_t count = 1 + rep % 13;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      pool.parallel_for(count, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
      for (const auto& h : hits) wrong += h.load() != 1;
    }
    EXPECT_EQ(wrong, 0) << threads << " threads";
  }
}

// A task that never returns until another task of the same job has run, for each task index:
// every task runs beside the others however the ranges are split, and a thread that has run
// out of its own range takes tasks from the others' (here the caller's range is blocked by its
// first task, so its remaining tasks must be taken by the workers).
TEST(ThreadPool, IdleThreadsTakeTasksFromOtherRanges) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 50; ++rep) {
      const int64_t count = 4 * threads;
      std::atomic<int64_t> others_done{0};
      pool.parallel_for(count, [&](int64_t i) {
        if (i == 0) {
          while (others_done.load() < count - 1) std::this_thread::yield();
        } else {
          others_done++;
        }
      });
      EXPECT_EQ(others_done.load(), count - 1);
    }
  }
}

TEST(ThreadPool, RejectsFewerThanOneThread) {
  EXPECT_THROW(ThreadPool(0), std::invalid_argument);
  EXPECT_THROW(ThreadPool(-2), std::invalid_argument);
  EXPECT_EQ(pool_threads(nullptr), 1);
  EXPECT_NE(std::string(ThreadPool::backend()), "");
}

}  // namespace
}  // namespace ubp::kernels

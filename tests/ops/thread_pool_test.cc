#include "core/util/thread_pool.h"

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace memlens {
namespace {

TEST(ThreadPoolTest, DefaultUsesHardwareThreads) {
  ThreadPool pool;
  EXPECT_GE(pool.NumThreads(), 1);
  ThreadPool one(1);
  EXPECT_EQ(one.NumThreads(), 1);
  ThreadPool three(3);
  EXPECT_EQ(three.NumThreads(), 3);
}

TEST(ThreadPoolTest, EveryTaskRunsExactlyOnceWithValidThreadIndex) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (size_t num_tasks : {size_t{1}, size_t{2}, size_t{7}, size_t{1000}}) {
      for (int repeat = 0; repeat < 20; ++repeat) {
        std::vector<std::atomic<int>> counts(num_tasks);
        std::atomic<int> bad_index{0};
        pool.Run(num_tasks, [&](size_t task, int thread_index) {
          counts[task].fetch_add(1);
          if (thread_index < 0 || thread_index >= pool.NumThreads()) bad_index.fetch_add(1);
        });
        for (size_t t = 0; t < num_tasks; ++t) {
          ASSERT_EQ(counts[t].load(), 1) << "threads " << threads << " task " << t;
        }
        EXPECT_EQ(bad_index.load(), 0);
      }
    }
  }
}

TEST(ThreadPoolTest, ZeroTasksDoesNotCall) {
  ThreadPool pool(2);
  bool called = false;
  pool.Run(0, [&](size_t, int) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ThreadPoolTest, ThreadIndicesAreExclusiveWhileRunning) {
  // Two tasks with the same thread_index must never overlap (per-thread scratch relies on it).
  ThreadPool pool(3);
  std::vector<std::atomic<int>> in_use(pool.NumThreads());
  std::atomic<int> overlaps{0};
  pool.Run(300, [&](size_t, int thread_index) {
    if (in_use[thread_index].fetch_add(1) != 0) overlaps.fetch_add(1);
    std::this_thread::yield();
    in_use[thread_index].fetch_sub(1);
  });
  EXPECT_EQ(overlaps.load(), 0);
}

TEST(ThreadPoolTest, NestedRunCompletesInline) {
  ThreadPool pool(2);
  const size_t kOuter = 8, kInner = 5;
  std::vector<std::atomic<int>> counts(kOuter * kInner);
  pool.Run(kOuter, [&](size_t outer, int outer_index) {
    pool.Run(kInner, [&](size_t inner, int inner_index) {
      EXPECT_EQ(inner_index, outer_index);
      counts[outer * kInner + inner].fetch_add(1);
    });
  });
  for (auto& c : counts) EXPECT_EQ(c.load(), 1);
}

TEST(ThreadPoolTest, ConcurrentCallersAreSerialized) {
  ThreadPool pool(2);
  constexpr int kCallers = 3;
  std::atomic<long> total{0};
  // Tasks of the Run calls in flight, per caller: a task that sees another caller's task
  // running means two Runs overlapped (the sleep makes an overlap, if possible, likely).
  std::atomic<int> running[kCallers] = {};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int r = 0; r < 50; ++r) {
        pool.Run(10, [&](size_t task, int) {
          running[c].fetch_add(1);
          for (int o = 0; o < kCallers; ++o) {
            if (o != c && running[o].load() > 0) overlaps.fetch_add(1);
          }
          std::this_thread::sleep_for(std::chrono::microseconds(20));
          total.fetch_add(static_cast<long>(task));
          running[c].fetch_sub(1);
        });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(total.load(), 3L * 50 * 45);
}

TEST(ThreadPoolTest, UsesMoreThanOneThread) {
  ThreadPool pool(2);
  std::atomic<int> seen_worker{0};
  for (int attempt = 0; attempt < 100 && seen_worker.load() == 0; ++attempt) {
    pool.Run(64, [&](size_t, int thread_index) {
      if (thread_index != 0) seen_worker.store(1);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    });
  }
  EXPECT_EQ(seen_worker.load(), 1);
}

}  // namespace
}  // namespace memlens

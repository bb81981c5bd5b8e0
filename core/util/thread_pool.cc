#include "core/util/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace memlens {

namespace {
// Which pool (if any) the current thread is executing a task for, and under which index.
// Lets Run detect nesting: a nested Run must not wait for workers that are busy running the
// outer tasks (that would deadlock), so it runs inline.
struct CurrentTask {
  const void* pool = nullptr;
  int thread_index = 0;
};
thread_local CurrentTask current_task;

class ScopedCurrentTask {
 public:
  ScopedCurrentTask(const void* pool, int thread_index) : saved_(current_task) {
    current_task.pool = pool;
    current_task.thread_index = thread_index;
  }
  ~ScopedCurrentTask() { current_task = saved_; }

 private:
  CurrentTask saved_;
};
}  // namespace

// Workers sleep on a CondVar until `generation` changes; then every worker (and the caller)
// claims task indices from one atomic counter until they run out, so uneven tasks balance
// themselves. The caller waits until all workers have left the generation before returning,
// which keeps `fn` (owned by the caller) alive for as long as anyone can call it.
struct ThreadPool::Impl {
  absl::Mutex run_mu;  // serializes Run calls from different outside threads

  absl::Mutex mu;
  absl::CondVar work_cv;  // workers wait here for a new generation or stop
  absl::CondVar done_cv;  // the caller waits here for busy_workers == 0
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  bool stop ABSL_GUARDED_BY(mu) = false;
  int busy_workers ABSL_GUARDED_BY(mu) = 0;
  const std::function<void(size_t, int)>* fn ABSL_GUARDED_BY(mu) = nullptr;
  size_t num_tasks ABSL_GUARDED_BY(mu) = 0;

  std::atomic<size_t> next_task{0};
  std::vector<std::thread> workers;

  void RunTasks(const std::function<void(size_t, int)>& f, size_t n, int thread_index) {
    for (size_t task = next_task.fetch_add(1, std::memory_order_relaxed); task < n;
         task = next_task.fetch_add(1, std::memory_order_relaxed)) {
      f(task, thread_index);
    }
  }

  void WorkerLoop(int thread_index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(size_t, int)>* f;
      size_t n;
      {
        absl::MutexLock lock(&mu);
        while (!stop && generation == seen) work_cv.Wait(&mu);
        if (stop) return;
        seen = generation;
        f = fn;
        n = num_tasks;
      }
      {
        ScopedCurrentTask scope(this, thread_index);
        RunTasks(*f, n, thread_index);
      }
      absl::MutexLock lock(&mu);
      if (--busy_workers == 0) done_cv.Signal();
    }
  }
};

ThreadPool::ThreadPool(int num_threads) : impl_(new Impl) {
  if (num_threads <= 0) {
    num_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  // The caller of Run is thread 0; workers are 1 .. num_threads-1.
  impl_->workers.reserve(num_threads - 1);
  for (int i = 1; i < num_threads; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stop = true;
    impl_->work_cv.SignalAll();
  }
  for (std::thread& t : impl_->workers) t.join();
}

int ThreadPool::NumThreads() const { return static_cast<int>(impl_->workers.size()) + 1; }

void ThreadPool::Run(size_t num_tasks,
                     const std::function<void(size_t task, int thread_index)>& fn) {
  if (num_tasks == 0) return;
  Impl& impl = *impl_;
  if (current_task.pool == &impl) {
    // Nested: the other threads may be busy with the outer tasks; run inline.
    for (size_t task = 0; task < num_tasks; ++task) fn(task, current_task.thread_index);
    return;
  }
  absl::MutexLock run_lock(&impl.run_mu);
  ScopedCurrentTask scope(&impl, 0);
  if (impl.workers.empty() || num_tasks == 1) {
    for (size_t task = 0; task < num_tasks; ++task) fn(task, 0);
    return;
  }
  {
    absl::MutexLock lock(&impl.mu);
    impl.fn = &fn;
    impl.num_tasks = num_tasks;
    impl.next_task.store(0, std::memory_order_relaxed);
    impl.busy_workers = static_cast<int>(impl.workers.size());
    ++impl.generation;
    impl.work_cv.SignalAll();
  }
  impl.RunTasks(fn, num_tasks, 0);
  absl::MutexLock lock(&impl.mu);
  while (impl.busy_workers != 0) impl.done_cv.Wait(&impl.mu);
}

}  // namespace memlens

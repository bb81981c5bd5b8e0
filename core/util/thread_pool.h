// A fixed pool of worker threads for data-parallel loops (Highway 1.0.3 ships none).
#ifndef MEMLENS_CORE_UTIL_THREAD_POOL_H_
#define MEMLENS_CORE_UTIL_THREAD_POOL_H_

#include <cstddef>
#include <functional>
#include <memory>

namespace memlens {

class ThreadPool {
 public:
  // num_threads <= 0: one per hardware thread.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int NumThreads() const;
  // Calls fn(task, thread_index) for task in [0, num_tasks) across the pool (the caller's
  // thread takes part) and returns when all are done. thread_index < NumThreads() lets
  // callers keep per-thread scratch space. Deterministic results are the caller's job:
  // tasks must write disjoint outputs.
  //
  // A Run called from inside a task of this same pool runs its tasks serially on the calling
  // thread, passing that thread's index (so scratch indexed by thread_index must not be shared
  // between the outer and the nested task). Runs from different outside threads are serialized.
  void Run(size_t num_tasks, const std::function<void(size_t task, int thread_index)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_UTIL_THREAD_POOL_H_

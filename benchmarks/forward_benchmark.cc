// The forward pass of a gelu-4l-shaped model on 1024 tokens: no cache, and every hook cached
// (what TransformerLens's run_with_cache does). Reports tokens/s and the cache's size.
//
//   bazel run -c opt //benchmarks:forward_benchmark
//   MEMLENS_BENCH_MODEL=/tmp/memlens-gelu4l-random  (benchmarks/make_random_model.py) loads
//   those weights instead of random ones, so benchmarks/compare_pytorch.py can run PyTorch on
//   the same weights; MEMLENS_THREADS sets the worker count (default: all hardware threads).
#include <memory>
#include <random>

#include "benchmark/benchmark.h"
#include "benchmarks/gelu4l_shaped.h"
#include "core/model/forward.h"

namespace memlens {
namespace {

constexpr int kTokens = 1024;

struct Fixture {
  Model model;
  std::unique_ptr<ThreadPool> pool;
  std::vector<int> tokens;
};

Fixture& Get() {
  static Fixture* f = [] {
    auto* f = new Fixture;
    f->model = BenchmarkModel();
    f->pool = std::make_unique<ThreadPool>(BenchmarkThreads());
    std::mt19937 rng(2);
    for (int i = 0; i < kTokens; ++i) f->tokens.push_back(rng() % f->model.config.d_vocab);
    return f;
  }();
  return *f;
}

void Forward(benchmark::State& state, bool cache_all) {
  Fixture& f = Get();
  Transformer tf(f.model, *f.pool);
  RunOptions options;
  if (cache_all) options.cache = HookFilter::All();
  // One RunResult reused across iterations, as a dataset loop (the plugin runner) does; one
  // untimed warm-up run allocates it (the steady state of a loop over prompts).
  RunResult result;
  if (absl::Status s = tf.RunInto(f.tokens, options, result); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  for (auto _ : state) {
    if (absl::Status s = tf.RunInto(f.tokens, options, result); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(result.logits.data.data());
  }
  const size_t cached_bytes = result.store.Bytes();
  state.counters["tokens_per_second"] =
      benchmark::Counter(kTokens, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["cache_MB"] = cached_bytes / 1048576.0;
  state.counters["threads"] = f.pool->NumThreads();
}

void BM_ForwardNoCache(benchmark::State& state) { Forward(state, false); }
void BM_ForwardFullCache(benchmark::State& state) { Forward(state, true); }
BENCHMARK(BM_ForwardNoCache)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);
BENCHMARK(BM_ForwardFullCache)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

}  // namespace
}  // namespace memlens

// The forward pass of a gelu-4l-shaped model on 1024 tokens: no cache, and every hook cached
// (what TransformerLens's run_with_cache does). Reports tokens/s and the cache's size.
//
//   bazel run -c opt //benchmarks:forward_benchmark
//   MEMLENS_BENCH_MODEL=/tmp/memlens-gelu4l-random  (benchmarks/make_random_model.py) loads
//   those weights instead of random ones, so benchmarks/compare_pytorch.py can run PyTorch on
//   the same weights; MEMLENS_THREADS sets the worker count (default: all hardware threads).
#include <cstdlib>
#include <memory>
#include <random>

#include "benchmark/benchmark.h"
#include "core/io/model_loader.h"
#include "core/model/forward.h"

namespace memlens {
namespace {

constexpr int kTokens = 1024;

// gelu-4l's shape (method.md) with N(0, 0.02) weights.
Model Gelu4lShaped() {
  ModelConfig c;
  c.name = "gelu-4l-shaped (random)";
  c.n_layers = 4;
  c.d_model = 512;
  c.n_heads = c.n_kv_heads = 8;
  c.d_head = 64;
  c.d_mlp = 2048;
  c.d_vocab = 48262;
  c.n_ctx = 1024;
  c.attn_scale = 8;
  Model m;
  m.config = c;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  auto rand = [&](std::vector<int64_t> shape) {
    Tensor t(std::move(shape));
    for (float& x : t.data) x = normal(rng);
    return t;
  };
  auto ones = [](int64_t n) {
    Tensor t({n});
    std::fill(t.data.begin(), t.data.end(), 1.0f);
    return t;
  };
  const int64_t D = 512, F = 2048, V = 48262;
  m.weights.W_E = rand({V, D});
  m.weights.W_pos = rand({1024, D});
  for (int l = 0; l < 4; ++l) {
    LayerWeights L;
    L.ln1_w = ones(D), L.ln1_b = rand({D}), L.ln2_w = ones(D), L.ln2_b = rand({D});
    L.W_Q = rand({D, D}), L.W_K = rand({D, D}), L.W_V = rand({D, D}), L.W_O = rand({D, D});
    L.b_Q = rand({D}), L.b_K = rand({D}), L.b_V = rand({D}), L.b_O = rand({D});
    L.W_in = rand({D, F}), L.b_in = rand({F}), L.W_out = rand({F, D}), L.b_out = rand({D});
    m.weights.layers.push_back(std::move(L));
  }
  m.weights.ln_final_w = ones(D);
  m.weights.ln_final_b = rand({D});
  m.weights.W_U = rand({D, V});
  m.weights.b_U = rand({V});
  return m;
}

struct Fixture {
  Model model;
  std::unique_ptr<ThreadPool> pool;
  std::vector<int> tokens;
};

Fixture& Get() {
  static Fixture* f = [] {
    auto* f = new Fixture;
    const char* path = std::getenv("MEMLENS_BENCH_MODEL");
    if (path != nullptr && *path) {
      auto m = LoadModel(path);
      if (!m.ok()) {
        std::fprintf(stderr, "MEMLENS_BENCH_MODEL: %s\n", std::string(m.status().message()).c_str());
        std::exit(1);
      }
      f->model = std::move(*m);
    } else {
      f->model = Gelu4lShaped();
    }
    const char* threads = std::getenv("MEMLENS_THREADS");
    f->pool = std::make_unique<ThreadPool>(threads ? std::atoi(threads) : 0);
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

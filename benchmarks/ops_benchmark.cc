// Every kernel of core/ops at the shapes of a gelu-4l forward pass over T = 1024 tokens
// (d_model 512, 8 heads of 64, d_mlp 2048, d_vocab 48262), on a ThreadPool with one thread
// per core. Compute-bound kernels report FLOP/s (useful flops: the causal half only for
// attention), memory-bound ones bytes/s (bytes read + written once).
//
//   bazel run -c opt //benchmarks:ops_benchmark
//   MEMLENS_THREADS=1 bazel run -c opt //benchmarks:ops_benchmark -- --benchmark_filter=Attention
//
// ("Library was built as DEBUG" refers to Debian's build of Google Benchmark itself.)
#include <cmath>
#include <cstdlib>
#include <cstddef>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/ops/ops.h"
#include "core/util/thread_pool.h"

namespace memlens {
namespace ops {
namespace {

constexpr size_t kT = 1024, kDModel = 512, kHeads = 8, kDHead = 64, kDMlp = 2048;
constexpr size_t kVocab = 48262;

// MEMLENS_THREADS=N sets the pool size (default: one per hardware thread). With N = 1
// everything runs on the benchmark thread, so the CPU-time column is exact and robust to
// other load on the machine.
ThreadPool& Pool() {
  static ThreadPool* pool = [] {
    const char* env = std::getenv("MEMLENS_THREADS");
    return new ThreadPool(env ? std::atoi(env) : 0);
  }();
  return *pool;
}

std::vector<float> Random(size_t n, float scale = 1.0f) {
  std::mt19937 rng(static_cast<unsigned>(n));
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void SetFlops(benchmark::State& state, double flops_per_iter) {
  state.counters["FLOP/s"] = benchmark::Counter(
      flops_per_iter * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void SetBytes(benchmark::State& state, double bytes_per_iter) {
  state.SetBytesProcessed(static_cast<int64_t>(bytes_per_iter * state.iterations()));
}

// Args: M, K, N.
void BM_MatMul(benchmark::State& state) {
  const size_t M = state.range(0), K = state.range(1), N = state.range(2);
  const auto A = Random(M * K), B = Random(K * N), bias = Random(N);
  std::vector<float> C(M * N);
  for (auto _ : state) {
    MatMul(A.data(), B.data(), bias.data(), C.data(), M, K, N, Pool());
    benchmark::DoNotOptimize(C.data());
  }
  SetFlops(state, 2.0 * M * K * N);
}
BENCHMARK(BM_MatMul)
    ->Args({kT, kDModel, 3 * kDModel})  // fused QKV
    ->Args({kT, kDModel, kDModel})      // one of Q/K/V, or O
    ->Args({kT, kDModel, kDMlp})        // MLP in
    ->Args({kT, kDMlp, kDModel})        // MLP out
    ->Args({kT, kDModel, kVocab})       // unembedding
    ->Args({1, kDModel, kDMlp})         // one token (decode)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_LayerNormScale(benchmark::State& state) {
  const auto x = Random(kT * kDModel);
  std::vector<float> scale(kT);
  for (auto _ : state) {
    LayerNormScale(x.data(), kT, kDModel, 1e-5f, scale.data());
    benchmark::DoNotOptimize(scale.data());
  }
  SetBytes(state, 4.0 * kT * kDModel);
}
BENCHMARK(BM_LayerNormScale)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_LayerNormApply(benchmark::State& state) {
  const auto x = Random(kT * kDModel), w = Random(kDModel), b = Random(kDModel);
  std::vector<float> scale(kT, 1.5f), out(kT * kDModel);
  for (auto _ : state) {
    LayerNormApply(x.data(), scale.data(), w.data(), b.data(), kT, kDModel, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  SetBytes(state, 8.0 * kT * kDModel);
}
BENCHMARK(BM_LayerNormApply)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_RMSNormScale(benchmark::State& state) {
  const auto x = Random(kT * kDModel);
  std::vector<float> scale(kT);
  for (auto _ : state) {
    RMSNormScale(x.data(), kT, kDModel, 1e-5f, scale.data());
    benchmark::DoNotOptimize(scale.data());
  }
  SetBytes(state, 4.0 * kT * kDModel);
}
BENCHMARK(BM_RMSNormScale)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_RMSNormApply(benchmark::State& state) {
  const auto x = Random(kT * kDModel), w = Random(kDModel);
  std::vector<float> scale(kT, 1.5f), out(kT * kDModel);
  for (auto _ : state) {
    RMSNormApply(x.data(), scale.data(), w.data(), kT, kDModel, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  SetBytes(state, 8.0 * kT * kDModel);
}
BENCHMARK(BM_RMSNormApply)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The activations run in place. Re-running one on its own output would drive values towards
// 0 and into subnormals (100x slower on x86), so each iteration restores the input first,
// outside the timed region.
void BM_GeluErf(benchmark::State& state) {
  const auto input = Random(kT * kDMlp, 2.0f);
  auto x = input;
  for (auto _ : state) {
    state.PauseTiming();
    x = input;
    state.ResumeTiming();
    GeluErf(x.data(), x.size());
    benchmark::DoNotOptimize(x.data());
  }
  SetBytes(state, 8.0 * x.size());
}
BENCHMARK(BM_GeluErf)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_GeluTanh(benchmark::State& state) {
  const auto input = Random(kT * kDMlp, 2.0f);
  auto x = input;
  for (auto _ : state) {
    state.PauseTiming();
    x = input;
    state.ResumeTiming();
    GeluTanh(x.data(), x.size());
    benchmark::DoNotOptimize(x.data());
  }
  SetBytes(state, 8.0 * x.size());
}
BENCHMARK(BM_GeluTanh)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_SwiGLU(benchmark::State& state) {
  const auto input = Random(kT * kDMlp, 2.0f);
  auto gate = input;
  const auto up = Random(kT * kDMlp);
  for (auto _ : state) {
    state.PauseTiming();
    gate = input;
    state.ResumeTiming();
    SwiGLU(gate.data(), up.data(), gate.size());
    benchmark::DoNotOptimize(gate.data());
  }
  SetBytes(state, 12.0 * gate.size());
}
BENCHMARK(BM_SwiGLU)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Add(benchmark::State& state) {
  const auto x = Random(kT * kDModel);
  auto y = Random(kT * kDModel);
  for (auto _ : state) {
    Add(x.data(), y.data(), y.size());
    benchmark::DoNotOptimize(y.data());
  }
  SetBytes(state, 12.0 * y.size());
}
BENCHMARK(BM_Add)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Rope(benchmark::State& state) {
  const auto input = Random(kT * kHeads * kDHead);
  auto x = input;
  for (auto _ : state) {
    state.PauseTiming();
    x = input;
    state.ResumeTiming();
    Rope(x.data(), kT, kHeads, kDHead, 0, {kDHead, false, 10000.0f, 1.0f});
    benchmark::DoNotOptimize(x.data());
  }
  SetBytes(state, 8.0 * x.size());
}
BENCHMARK(BM_Rope)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Elementwise kernels take no thread pool (they are a small share of a forward pass); all
// figures are wall-clock (UseRealTime), which on a shared machine is the honest one.

// Useful flops of causal attention: per head, T (T + 1) / 2 dot products of length d_head.
constexpr double kCausalFlops = 2.0 * kHeads * kT * (kT + 1) / 2 * kDHead;

void BM_AttentionScores(benchmark::State& state) {
  const auto q = Random(kT * kHeads * kDHead), k = Random(kT * kHeads * kDHead);
  std::vector<float> scores(kHeads * kT * kT);
  for (auto _ : state) {
    AttentionScores(q.data(), k.data(), kT, kHeads, kHeads, kDHead, 8.0f, 0, scores.data(),
                    Pool());
    benchmark::DoNotOptimize(scores.data());
  }
  SetFlops(state, kCausalFlops);
}
BENCHMARK(BM_AttentionScores)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Softmax(benchmark::State& state) {
  const auto q = Random(kT * kHeads * kDHead), k = Random(kT * kHeads * kDHead);
  std::vector<float> scores(kHeads * kT * kT), work(scores.size());
  AttentionScores(q.data(), k.data(), kT, kHeads, kHeads, kDHead, 8.0f, 0, scores.data(), Pool());
  for (auto _ : state) {
    state.PauseTiming();
    work = scores;  // softmax is not idempotent on its input range; start from scores
    state.ResumeTiming();
    Softmax(work.data(), kHeads * kT, kT, Pool());
    benchmark::DoNotOptimize(work.data());
  }
  SetBytes(state, 8.0 * scores.size());
}
BENCHMARK(BM_Softmax)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_AttentionMix(benchmark::State& state) {
  const auto q = Random(kT * kHeads * kDHead), k = Random(kT * kHeads * kDHead);
  const auto v = Random(kT * kHeads * kDHead);
  std::vector<float> pattern(kHeads * kT * kT), z(kT * kHeads * kDHead);
  AttentionScores(q.data(), k.data(), kT, kHeads, kHeads, kDHead, 8.0f, 0, pattern.data(), Pool());
  Softmax(pattern.data(), kHeads * kT, kT, Pool());
  for (auto _ : state) {
    AttentionMix(pattern.data(), v.data(), kT, kHeads, kHeads, kDHead, 0, z.data(), Pool());
    benchmark::DoNotOptimize(z.data());
  }
  SetFlops(state, kCausalFlops);
}
BENCHMARK(BM_AttentionMix)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ops
}  // namespace memlens

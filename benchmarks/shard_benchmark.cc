// The cost of a sharded report (docs/scale.md) on a gelu-4l-shaped model, the four attribution
// plugins, MEMLENS_BENCH_PROMPTS prompts (default 4) of MEMLENS_BENCH_TOKENS tokens (256):
// BM_OneProcess and BM_Sharded/4 run them in one process and as 4 shards (model load aside).
// For the merge, the whole run's state is written as a state file; BM_Merge/N merges N copies of it the way `memlens merge`
// does (one file read, checksum-verified and merged at a time, then the report), so its time
// is the merge's for N shards whatever they covered (a state's size does not depend on the
// prompts). Counters: the state file's bytes per plugin, and the process's peak RSS, which
// must not grow with N.
//
//   bazel run -c opt //benchmarks:shard_benchmark
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/gelu4l_shaped.h"
#include "core/model/forward.h"
#include "core/model/processing.h"
#include "core/plugin/loader.h"
#include "core/plugin/runner.h"
#include "core/plugin/state_file.h"

namespace memlens {
namespace {

struct Fixture {
  Model model;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Transformer> tf;
  std::vector<LoadedPlugin> plugins;
  RunnerOptions options;
  std::vector<Prompt> prompts;
  std::string path;  // the shard's state file
  ShardResult shard;
};
Fixture* fixture = nullptr;

void BM_Merge(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    absl::StatusOr<Report> report = MergeShards(
        *fixture->tf, fixture->plugins, n,
        [&](size_t) -> absl::StatusOr<std::vector<std::string>> {
          auto file = ReadStateFile(fixture->path);
          if (!file.ok()) return file.status();
          return std::move(file->second);
        },
        [](size_t k) { return absl::StrCat("shard ", k); }, fixture->options);
    if (!report.ok()) {
      state.SkipWithError(std::string(report.status().message()).c_str());
      return;
    }
  }
  state.counters["per_shard_ms"] =
      benchmark::Counter(static_cast<double>(n) * 1e-3,
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["peak_rss_MiB"] = PeakRssMib();
}
// The cost of splitting, model load aside: the same prompts in one process (RunPlugins) and
// as N shards run one after another (RunShard each, every state through a file, MergeShards).
void BM_OneProcess(benchmark::State& state) {
  for (auto _ : state) {
    absl::StatusOr<Report> report =
        RunPlugins(*fixture->tf, fixture->plugins, fixture->prompts, fixture->options);
    if (!report.ok()) state.SkipWithError(std::string(report.status().message()).c_str());
  }
  state.counters["s_per_prompt"] = benchmark::Counter(
      static_cast<double>(fixture->prompts.size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_OneProcess)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

void BM_Sharded(benchmark::State& state) {
  const int64_t n = state.range(0);
  for (auto _ : state) {
    std::vector<std::string> paths;
    for (int64_t i = 0; i < n; ++i) {
      auto shard = RunShard(*fixture->tf, fixture->plugins, fixture->prompts, {i, n},
                            fixture->options);
      if (!shard.ok()) {
        state.SkipWithError(std::string(shard.status().message()).c_str());
        return;
      }
      StateHeader header;
      header.metadata = shard->metadata;
      std::vector<std::string> states;
      for (auto& p : shard->plugins) {
        header.plugins.push_back({p.name, p.version, p.state.size()});
        states.push_back(std::move(p.state));
      }
      paths.push_back(absl::StrCat(fixture->path, ".", i));
      if (absl::Status s = WriteStateFile(paths.back(), header, states); !s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        return;
      }
    }
    absl::StatusOr<Report> report = MergeShards(
        *fixture->tf, fixture->plugins, n,
        [&](size_t k) -> absl::StatusOr<std::vector<std::string>> {
          auto file = ReadStateFile(paths[k]);
          if (!file.ok()) return file.status();
          return std::move(file->second);
        },
        [&](size_t k) { return paths[k]; }, fixture->options);
    if (!report.ok()) state.SkipWithError(std::string(report.status().message()).c_str());
    for (const std::string& p : paths) std::remove(p.c_str());
  }
  state.counters["s_per_prompt"] = benchmark::Counter(
      static_cast<double>(fixture->prompts.size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Sharded)->Arg(4)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

BENCHMARK(BM_Merge)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace memlens

int main(int argc, char** argv) {
  using namespace memlens;
  benchmark::Initialize(&argc, argv);
  auto plugins = LoadPlugins({"dla", "cleanup_dla", "erasure", "adversarial"}, {});
  if (!plugins.ok()) {
    std::fprintf(stderr, "%s\n", std::string(plugins.status().message()).c_str());
    return 1;
  }
  absl::ParseCommandLine(argc, argv);  // the plugins' flags exist now
  static Fixture f;
  fixture = &f;
  f.model = BenchmarkModel();
  if (absl::Status s = ProcessWeights(&f.model); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  f.pool = std::make_unique<ThreadPool>(BenchmarkThreads());
  f.tf = std::make_unique<Transformer>(f.model, *f.pool);
  f.plugins = *plugins;
  const int64_t T = BenchmarkEnvInt("MEMLENS_BENCH_TOKENS", 256), P = BenchmarkEnvInt("MEMLENS_BENCH_PROMPTS", 4);
  std::vector<Prompt>& prompts = f.prompts;
  prompts.resize(P);
  std::mt19937 rng(7);
  for (Prompt& p : prompts) {
    for (int64_t t = 0; t < T; ++t) p.tokens.push_back(static_cast<int>(rng() % f.model.config.d_vocab));
  }
  f.options.dataset.name = "random tokens";
  f.options.settings.seed = 1234;
  f.options.record_modified_flags = false;
  auto shard = RunShard(*f.tf, f.plugins, prompts, {0, 1}, f.options);
  if (!shard.ok()) {
    std::fprintf(stderr, "%s\n", std::string(shard.status().message()).c_str());
    return 1;
  }
  f.options.dataset.num_prompts = P;
  f.options.dataset.num_tokens = P * T;
  StateHeader header;
  header.metadata = shard->metadata;
  std::vector<std::string> states;
  for (const auto& p : shard->plugins) {
    header.plugins.push_back({p.name, p.version, p.state.size()});
    states.push_back(p.state);
    std::printf("state of %-12s %10zu bytes\n", p.name.c_str(), p.state.size());
  }
  f.path = absl::StrCat(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp",
                        "/memlens-shard-benchmark.state");
  if (absl::Status s = WriteStateFile(f.path, header, states); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("state file: %s, %lld prompts of %lld tokens\n", f.path.c_str(),
              static_cast<long long>(P), static_cast<long long>(T));
  benchmark::RunSpecifiedBenchmarks();
  std::remove(f.path.c_str());
  return 0;
}

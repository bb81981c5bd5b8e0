// The full report: every attribution plugin (dla, cleanup_dla, erasure, adversarial) over
// prompts of a gelu-4l-shaped model, as `memlens report` runs it (weights processed, every
// node, every writer/later-node pair, resample ablation), and each plugin alone. Reports
// seconds per prompt (and, as `memlens report --timings`, the clean forwards' and each
// plugin's share of it) and the process's peak RSS.
//
//   bazel run -c opt //benchmarks:report_benchmark -- [--benchmark_filter=...] [plugin flags]
//
// Environment: MEMLENS_BENCH_MODEL (a model folder; default: seeded random weights of
// gelu-4l's shape), MEMLENS_THREADS, MEMLENS_BENCH_TOKENS (tokens per prompt, default 1024),
// MEMLENS_BENCH_PROMPTS (default 3), MEMLENS_BENCH_PLUGINS (comma-separated, default the four
// attribution plugins). Plugin flags (e.g. --adversarial_min_dla=0) are accepted after the
// benchmark's own. benchmarks/full_report_pytorch.py runs this beside a PyTorch
// implementation of the same computation.
//
// One benchmark iteration is a whole report over all prompts (each prompt's resample donor is
// another prompt of the dataset, re-run): the time per prompt is the iteration time over the
// prompt count.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "benchmarks/gelu4l_shaped.h"
#include "core/model/forward.h"
#include "core/model/processing.h"
#include "core/plugin/loader.h"
#include "core/plugin/runner.h"

namespace memlens {
namespace {

struct Fixture {
  Model model;
  std::unique_ptr<ThreadPool> pool;
  std::vector<LoadedPlugin> plugins;
  std::vector<Prompt> prompts;
};

Fixture* fixture = nullptr;

void RunReport(benchmark::State& state, const std::vector<LoadedPlugin>& plugins) {
  Transformer tf(fixture->model, *fixture->pool);
  RunnerOptions options;
  options.dataset.name = "random tokens";
  options.settings.seed = 1234;
  options.record_modified_flags = false;
  RunTimings timings;  // where the last iteration's time went (memlens report --timings)
  options.timings = &timings;
  for (auto _ : state) {
    timings = RunTimings();
    absl::StatusOr<Report> report = RunPlugins(tf, plugins, fixture->prompts, options);
    if (!report.ok()) {
      state.SkipWithError(std::string(report.status().message()).c_str());
      return;
    }
    for (const Section& s : report->sections) {
      if (!s.ok) {
        state.SkipWithError((s.plugin + ": " + s.error).c_str());
        return;
      }
    }
  }
  const double prompts = fixture->prompts.size();
  state.counters["seconds_per_prompt"] = benchmark::Counter(
      prompts, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["tokens_per_prompt"] = fixture->prompts.front().tokens.size();
  state.counters["peak_rss_mib"] = PeakRssMib();
  state.counters["threads"] = fixture->pool->NumThreads();
  // Seconds per prompt of the clean cached forward passes and of each plugin (its reruns
  // included; cleanup_dla and adversarial share their ablation reruns, which the first to ask
  // pays for).
  const double n = std::max<int64_t>(1, timings.prompts);
  state.counters["forward_s_per_prompt"] = timings.forward_seconds / n;
  for (const auto& [name, seconds] : timings.plugin_seconds) {
    state.counters[name + "_s_per_prompt"] = seconds / n;
  }
}

}  // namespace
}  // namespace memlens

int main(int argc, char** argv) {
  using namespace memlens;
  benchmark::Initialize(&argc, argv);
  const char* selected = std::getenv("MEMLENS_BENCH_PLUGINS");
  const std::vector<std::string> names =
      absl::StrSplit(selected != nullptr && *selected ? selected : "dla,cleanup_dla,erasure,adversarial",
                     ',', absl::SkipEmpty());
  absl::StatusOr<std::vector<LoadedPlugin>> plugins = LoadPlugins(names, {});
  if (!plugins.ok()) {
    std::fprintf(stderr, "report_benchmark: %s\n", std::string(plugins.status().message()).c_str());
    return 1;
  }
  absl::ParseCommandLine(argc, argv);  // the plugins' flags exist now

  fixture = new Fixture;
  fixture->model = BenchmarkModel();
  if (absl::Status s = ProcessWeights(&fixture->model); !s.ok()) {
    std::fprintf(stderr, "report_benchmark: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  fixture->pool = std::make_unique<ThreadPool>(BenchmarkThreads());
  fixture->plugins = std::move(*plugins);
  const int64_t T = BenchmarkEnvInt("MEMLENS_BENCH_TOKENS", 1024), n = BenchmarkEnvInt("MEMLENS_BENCH_PROMPTS", 3);
  std::mt19937 rng(2);
  for (int64_t p = 0; p < n; ++p) {
    Prompt prompt;
    for (int64_t i = 0; i < T; ++i) prompt.tokens.push_back(rng() % fixture->model.config.d_vocab);
    fixture->prompts.push_back(std::move(prompt));
  }

  benchmark::RegisterBenchmark("BM_FullReport", [](benchmark::State& state) {
    RunReport(state, fixture->plugins);
  })->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
  for (const LoadedPlugin& plugin : fixture->plugins) {
    benchmark::RegisterBenchmark(("BM_Plugin/" + plugin.name).c_str(),
                                 [plugin](benchmark::State& state) { RunReport(state, {plugin}); })
        ->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

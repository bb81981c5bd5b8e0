#include "benchmarks/gelu4l_shaped.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "core/model/load/load_model.h"

namespace memlens {
namespace {

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

}  // namespace

Model BenchmarkModel() {
  const char* path = std::getenv("MEMLENS_BENCH_MODEL");
  if (path == nullptr || *path == 0) return Gelu4lShaped();
  absl::StatusOr<Model> m = LoadModel(path);
  if (!m.ok()) {
    std::fprintf(stderr, "MEMLENS_BENCH_MODEL=%s: %s\n", path,
                 std::string(m.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*m);
}

int BenchmarkThreads() { return static_cast<int>(BenchmarkEnvInt("MEMLENS_THREADS", 0)); }

int64_t BenchmarkEnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v ? std::atoll(v) : fallback;
}

double PeakRssMib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB
  }
  return 0;
}

}  // namespace memlens

// Invariants of the forward pass and its hooks on small random models. Agreement with an
// independent implementation is checked in golden_test.cc (fixtures) and real_models_test.cc.
#include "core/model/forward.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/random_model.h"

namespace memlens {
namespace {

const std::vector<int> kTokens = {0, 5, 3, 17, 9, 9, 2, 11, 20, 1};

// A float32 sum of n terms of magnitude ~m carries rounding error ~ n * m * 2^-24; the forward
// pass chains a few such sums, so compare with a tolerance a few hundred ulps of the scale.
void ExpectClose(const Tensor& a, const Tensor& b, float tol, const std::string& what) {
  ASSERT_EQ(a.shape, b.shape) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a.data[i], b.data[i], tol * (1.0f + std::fabs(b.data[i]))) << what << " at " << i;
  }
}

class ForwardTest : public ::testing::TestWithParam<bool> {
 protected:
  ForwardTest()
      : model_(RandomModel(GetParam() ? SmallLlamaConfig() : SmallGeluConfig(), 7)),
        pool_(2),
        tf_(model_, pool_) {}
  RunResult MustRun(const RunOptions& o, std::vector<int> tokens = kTokens) {
    auto r = tf_.Run(tokens, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : RunResult{};
  }
  Model model_;
  ThreadPool pool_;
  Transformer tf_;
};

TEST_P(ForwardTest, WeightsValidate) { EXPECT_TRUE(model_.weights.Validate(model_.config).ok()); }

TEST_P(ForwardTest, CachingDoesNotChangeLogits) {
  RunResult plain = MustRun({});
  RunOptions all;
  all.cache = HookFilter::All();
  RunResult cached = MustRun(all);
  EXPECT_EQ(plain.logits.data, cached.logits.data);  // bit-identical
  EXPECT_TRUE(plain.store.Names().empty());
  // Every hook of the model was recorded.
  for (const std::string& name : AllHookNames(model_.config)) {
    EXPECT_TRUE(cached.store.Has(name)) << name;
  }
}

// Reusing a RunResult gives the same numbers as a fresh one, and forgets hooks the new run did
// not record.
TEST_P(ForwardTest, RunIntoReusesMemoryWithoutChangingResults) {
  RunOptions all;
  all.cache = HookFilter::All();
  RunResult fresh = MustRun(all);
  RunResult reused;
  ASSERT_TRUE(tf_.RunInto({3, 1, 4}, all, reused).ok());  // a different, shorter prompt first
  const float* logits_memory = nullptr;
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(tf_.RunInto(kTokens, all, reused).ok());
    if (round == 0) logits_memory = reused.logits.ptr();
    EXPECT_EQ(reused.logits.data, fresh.logits.data);
    EXPECT_EQ(reused.store.Names(), fresh.store.Names());
    for (const auto& [name, t] : fresh.store.tensors()) {
      EXPECT_EQ((*reused.store.Get(name))->data, t.data) << name;
    }
  }
  EXPECT_EQ(reused.logits.ptr(), logits_memory);  // same shape: same memory
  RunOptions fewer;
  fewer.cache = *HookFilter::Parse("hook_embed", AllHookNames(model_.config));
  ASSERT_TRUE(tf_.RunInto(kTokens, fewer, reused).ok());
  EXPECT_EQ(reused.store.Names(), std::vector<std::string>{"hook_embed"});
}

TEST_P(ForwardTest, HookShapes) {
  const ModelConfig& c = model_.config;
  const int64_t T = kTokens.size();
  RunOptions all;
  all.cache = HookFilter::All();
  RunResult r = MustRun(all);
  auto shape = [&](const std::string& n) { return (*r.store.Get(n))->shape; };
  using S = std::vector<int64_t>;
  EXPECT_EQ(shape("blocks.1.attn.hook_q"), (S{T, c.n_heads, c.d_head}));
  EXPECT_EQ(shape("blocks.1.attn.hook_k"), (S{T, c.n_kv_heads, c.d_head}));
  if (c.pos == PosKind::kRotary) {
    EXPECT_EQ(shape("blocks.1.attn.hook_rot_q"), (S{T, c.n_heads, c.d_head}));
    EXPECT_EQ(shape("blocks.1.attn.hook_rot_k"), (S{T, c.n_kv_heads, c.d_head}));
  }
  EXPECT_EQ(shape("blocks.1.attn.hook_pattern"), (S{c.n_heads, T, T}));
  EXPECT_EQ(shape("blocks.1.attn.hook_result"), (S{T, c.n_heads, c.d_model}));
  EXPECT_EQ(shape("blocks.1.ln2.hook_scale"), (S{T, 1}));
  EXPECT_EQ(shape("blocks.1.mlp.hook_post"), (S{T, c.d_mlp}));
  EXPECT_EQ(r.logits.shape, (S{T, c.d_vocab}));
  // Patterns are causal probability distributions.
  const Tensor& pattern = **r.store.Get("blocks.0.attn.hook_pattern");
  for (int64_t h = 0; h < c.n_heads; ++h) {
    for (int64_t i = 0; i < T; ++i) {
      double sum = 0;
      for (int64_t j = 0; j < T; ++j) {
        float p = pattern.data[(h * T + i) * T + j];
        if (j > i) { EXPECT_EQ(p, 0.0f); }
        sum += p;
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }
}

// The final residual stream is exactly the sum of all nodes (method.md's decomposition).
TEST_P(ForwardTest, ResidualIsSumOfNodes) {
  const ModelConfig& c = model_.config;
  const int64_t T = kTokens.size(), D = c.d_model;
  RunOptions all;
  all.cache = HookFilter::All();
  RunResult r = MustRun(all);
  Tensor sum = **r.store.Get("hook_embed");
  if (c.pos == PosKind::kLearned) {
    const Tensor& pos = **r.store.Get("hook_pos_embed");
    for (size_t i = 0; i < sum.size(); ++i) sum.data[i] += pos.data[i];
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const Tensor& res = **r.store.Get(absl::StrCat("blocks.", l, ".attn.hook_result"));
    const Tensor& mlp = **r.store.Get(absl::StrCat("blocks.", l, ".hook_mlp_out"));
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t d = 0; d < D; ++d) {
        float v = mlp.data[t * D + d];
        if (!model_.weights.layers[l].b_O.empty()) v += model_.weights.layers[l].b_O.data[d];
        for (int64_t h = 0; h < c.n_heads; ++h) v += res.data[(t * c.n_heads + h) * D + d];
        sum.data[t * D + d] += v;
      }
    }
  }
  ExpectClose(sum, **r.store.Get(absl::StrCat("blocks.", c.n_layers - 1, ".hook_resid_post")),
              1e-5f, "sum of nodes");
}

TEST_P(ForwardTest, RerunFromResidualPoint) {
  RunOptions all;
  all.cache = HookFilter::All();
  RunResult full = MustRun(all);
  for (int l = 0; l <= model_.config.n_layers; ++l) {
    const std::string point = l < model_.config.n_layers
                                  ? absl::StrCat("blocks.", l, ".hook_resid_pre")
                                  : absl::StrCat("blocks.", l - 1, ".hook_resid_post");
    RunOptions from;
    from.start_layer = l;
    from.start_resid = *full.store.Get(point);
    RunResult rerun = MustRun(from);
    EXPECT_EQ(rerun.logits.data, full.logits.data) << "from layer " << l;
  }
  for (int l = 0; l < model_.config.n_layers; ++l) {
    RunOptions from;
    from.start_layer = l;
    from.start_resid = *full.store.Get(absl::StrCat("blocks.", l, ".hook_resid_mid"));
    from.start_at_mid = true;
    from.cache = HookFilter::All();
    RunResult rerun = MustRun(from);
    EXPECT_EQ(rerun.logits.data, full.logits.data) << "from the middle of layer " << l;
    // The skipped attention's hooks did not run.
    EXPECT_FALSE(rerun.store.Get(absl::StrCat("blocks.", l, ".attn.hook_pattern")).ok());
    EXPECT_TRUE(rerun.store.Get(absl::StrCat("blocks.", l, ".hook_mlp_out")).ok());
  }
}

TEST_P(ForwardTest, UneditedValueInputChangesNothing) {
  RunResult plain = MustRun({});
  RunOptions o;
  o.interventions["blocks.1.hook_v_input"] = [](Tensor&) {};
  ExpectClose(MustRun(o).logits, plain.logits, 1e-5f, "identity hook_v_input");
}

// Zero-ablating one head through hook_result removes exactly its output from attn_out.
TEST_P(ForwardTest, ResultAblationReachesAttnOut) {
  const ModelConfig& c = model_.config;
  const int64_t T = kTokens.size(), D = c.d_model, H = c.n_heads;
  RunOptions o;
  o.cache = *HookFilter::Parse("blocks.0.attn.hook_result,blocks.0.hook_attn_out",
                               AllHookNames(c));
  RunResult clean = MustRun(o);
  o.interventions["blocks.0.attn.hook_result"] = [&](Tensor& r) {
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t d = 0; d < D; ++d) r.data[(t * H + 1) * D + d] = 0;
    }
  };
  RunResult ablated = MustRun(o);
  const Tensor& res = **clean.store.Get("blocks.0.attn.hook_result");
  Tensor expected = **clean.store.Get("blocks.0.hook_attn_out");
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t d = 0; d < D; ++d) expected.data[t * D + d] -= res.data[(t * H + 1) * D + d];
  }
  ExpectClose(**ablated.store.Get("blocks.0.hook_attn_out"), expected, 1e-5f, "ablated attn_out");
  EXPECT_NE(ablated.logits.data, clean.logits.data);
}

TEST_P(ForwardTest, Causal) {
  RunResult a = MustRun({});
  std::vector<int> changed = kTokens;
  changed.back() = 4;
  RunResult b = MustRun({}, changed);
  const int64_t V = model_.config.d_vocab, T = kTokens.size();
  for (int64_t i = 0; i < (T - 1) * V; ++i) ASSERT_EQ(a.logits.data[i], b.logits.data[i]);
  bool last_differs = false;
  for (int64_t i = (T - 1) * V; i < T * V; ++i) last_differs |= a.logits.data[i] != b.logits.data[i];
  EXPECT_TRUE(last_differs);
}

TEST_P(ForwardTest, LastPositionLogits) {
  RunResult all = MustRun({});
  RunOptions o;
  o.logits = RunOptions::Logits::kLastPosition;
  RunResult last = MustRun(o);
  const int64_t V = model_.config.d_vocab, T = kTokens.size();
  ASSERT_EQ(last.logits.shape, (std::vector<int64_t>{1, V}));
  // Same numbers up to the matmul's accumulation order, which may depend on the row count.
  for (int64_t v = 0; v < V; ++v) {
    EXPECT_NEAR(last.logits.data[v], all.logits.data[(T - 1) * V + v],
                1e-6f * (1 + std::fabs(all.logits.data[(T - 1) * V + v])));
  }
}

TEST_P(ForwardTest, BadInputsAreErrors) {
  auto expect_error = [&](absl::StatusOr<RunResult> r, const std::string& needle) {
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status();
  };
  expect_error(tf_.Run(std::vector<int>{}, {}), "no input tokens");
  expect_error(tf_.Run(std::vector<int>{0, model_.config.d_vocab}, {}), "outside the vocabulary");
  expect_error(tf_.Run(std::vector<int>{0, -1}, {}), "token id -1");
  expect_error(tf_.Run(std::vector<int>(model_.config.n_ctx + 1, 0), {}), "exceed the model's context");
  RunOptions unknown;
  unknown.interventions["blocks.9.hook_resid_pre"] = [](Tensor&) {};
  expect_error(tf_.Run(kTokens, unknown), "unknown hook 'blocks.9.hook_resid_pre'");
  RunOptions reshape;
  reshape.interventions["blocks.0.hook_resid_pre"] = [](Tensor& t) { t = Tensor({1, 1}); };
  expect_error(tf_.Run(kTokens, reshape), "changed its shape");
  RunOptions from;
  from.start_layer = 1;
  expect_error(tf_.Run(kTokens, from), "needs a residual of shape");
  from.start_at_mid = true;
  expect_error(tf_.Run(kTokens, from), "hook_resid_mid needs a residual");
}

// Same command, same thread count: bit-identical (every parallel task writes its own outputs
// and sums in a fixed order). Across thread counts: the same up to float32 rounding.
TEST_P(ForwardTest, DeterministicAtFixedThreadCount) {
  RunOptions all;
  all.cache = HookFilter::All();
  RunResult a = MustRun(all), b = MustRun(all);
  EXPECT_EQ(a.logits.data, b.logits.data);
  for (const auto& [name, t] : a.store.tensors()) {
    EXPECT_EQ((*b.store.Get(name))->data, t.data) << name;
  }
  ThreadPool one(1);
  auto single = Transformer(model_, one).Run(kTokens, all);
  ASSERT_TRUE(single.ok());
  ExpectClose(single->logits, a.logits, 1e-5f, "1 thread vs 2 threads");
}

INSTANTIATE_TEST_SUITE_P(Families, ForwardTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Llama" : "Gelu"; });

// Without a hook on the scores or the pattern, attention runs one key/value group and one
// block of queries at a time (a [H/G, 192, T] scores buffer instead of [H, T, T]); asking for
// the pattern runs all heads and rows at once. Both give the same bits, with grouped-query heads and a local window in force on a
// prompt longer than the window.
TEST(ForwardAttentionByGroup, SameNumbersAsAllHeadsAtOnce) {
  Model m = RandomModel(SmallLlamaConfig(), 5);
  ASSERT_LT(m.config.n_kv_heads, m.config.n_heads);  // grouped-query
  m.config.attn_window.assign(m.config.n_layers, 0);
  m.config.attn_window[0] = 3;  // a local layer, Mistral / GPT-Neo style
  m.config.n_ctx = 600;          // rotary: no position table to resize
  ASSERT_TRUE(m.weights.Validate(m.config).ok());
  ThreadPool pool(2);
  Transformer tf(m, pool);
  for (int T : {100, 500}) {  // 500: three blocks of queries, the last one short
    SCOPED_TRACE(T);
    std::vector<int> tokens;
    for (int i = 0; i < T; ++i) tokens.push_back((i * 7 + 3) % m.config.d_vocab);
    RunOptions pattern;
    pattern.cache = *HookFilter::Parse("blocks.*.attn.hook_pattern", AllHookNames(m.config));
    RunOptions z_only;
    z_only.cache = *HookFilter::Parse("blocks.*.attn.hook_z", AllHookNames(m.config));
    auto by_group = tf.Run(tokens, z_only);
    auto all_heads = tf.Run(tokens, pattern);
    ASSERT_TRUE(by_group.ok() && all_heads.ok());
    EXPECT_EQ(by_group->logits.data, all_heads->logits.data);  // bit-identical
    for (int l = 0; l < m.config.n_layers; ++l) {
      const std::string z = absl::StrCat("blocks.", l, ".attn.hook_z");
      // The pattern run did not record z: run it again recording both.
      RunOptions both;
      both.cache = *HookFilter::Parse(z + ",blocks.*.attn.hook_pattern", AllHookNames(m.config));
      auto again = tf.Run(tokens, both);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ((*by_group->store.Get(z))->data, (*again->store.Get(z))->data) << z;
    }
  }
}

// Without a hook inside the MLP, it runs over blocks of >= 64 rows; with one, over all rows
// at once. Both give the same bits: GELU with learned positions (recorded or added straight
// from W_pos), SwiGLU, and parallel blocks, on prompts of 4 and 8 uneven blocks.
TEST(ForwardMlpByRowBlocks, SameNumbersAsAllRowsAtOnce) {
  for (int variant = 0; variant < 3; ++variant) {
    ModelConfig c = variant == 1 ? SmallLlamaConfig() : SmallGeluConfig();
    c.n_ctx = 600;
    if (variant == 2) c.parallel_residual = true;
    const Model m = RandomModel(c, 17 + variant);
    ThreadPool pool(2);
    Transformer tf(m, pool);
    for (int T : {300, 517}) {
      SCOPED_TRACE(absl::StrCat("variant ", variant, ", T = ", T));
      std::vector<int> tokens;
      for (int i = 0; i < T; ++i) tokens.push_back((i * 11 + 5) % c.d_vocab);
      RunOptions blocked;  // records the residual stream only: the MLP runs in blocks
      blocked.cache = *HookFilter::Parse("blocks.*.hook_resid_post", AllHookNames(c));
      RunOptions whole;  // a hook inside the MLP (and on the positions): all rows at once
      whole.cache = *HookFilter::Parse(
          absl::StrCat("blocks.*.hook_resid_post,blocks.*.mlp.hook_post",
                       c.pos == PosKind::kLearned ? ",hook_pos_embed" : ""),
          AllHookNames(c));
      auto a = tf.Run(tokens, blocked);
      auto b = tf.Run(tokens, whole);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(a->logits.data, b->logits.data);
      for (int l = 0; l < c.n_layers; ++l) {
        const std::string name = absl::StrCat("blocks.", l, ".hook_resid_post");
        EXPECT_EQ((*a->store.Get(name))->data, (*b->store.Get(name))->data) << name;
      }
      EXPECT_EQ((*b->store.Get("blocks.0.mlp.hook_post"))->shape,
                (std::vector<int64_t>{T, c.d_mlp}));
    }
  }
}

// Grouped-query attention equals full attention with each kv head's weights duplicated.
TEST(ForwardGQA, MatchesDuplicatedKeyValueHeads) {
  Model gqa = RandomModel(SmallLlamaConfig(), 11);
  Model full = gqa;
  ModelConfig& c = full.config;
  const int group = c.n_heads / c.n_kv_heads;
  c.n_kv_heads = c.n_heads;
  for (LayerWeights& L : full.weights.layers) {
    for (Tensor* w : {&L.W_K, &L.W_V}) {
      Tensor wide({c.d_model, c.q_dim()});
      for (int64_t d = 0; d < c.d_model; ++d) {
        for (int h = 0; h < c.n_heads; ++h) {
          for (int e = 0; e < c.d_head; ++e) {
            wide.data[d * c.q_dim() + h * c.d_head + e] =
                w->data[d * w->dim(1) + (h / group) * c.d_head + e];
          }
        }
      }
      *w = std::move(wide);
    }
  }
  ASSERT_TRUE(full.weights.Validate(full.config).ok());
  ThreadPool pool(1);
  auto a = Transformer(gqa, pool).Run(kTokens, {});
  auto b = Transformer(full, pool).Run(kTokens, {});
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectClose(a->logits, b->logits, 1e-5f, "GQA vs duplicated heads");
}

}  // namespace
}  // namespace memlens

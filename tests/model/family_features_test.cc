// The model families' quirks in the one forward pass (config.h): each checked against a
// property that does not reuse the code under test (a permutation of weights, a receptive
// field, a sum of hooks), plus the config's refusals. Agreement with float64 references written
// from the families' modeling code is in family_reference_test.cc.
#include <algorithm>
#include <cmath>

#include "core/model/forward.h"
#include "gtest/gtest.h"
#include "tests/random_model.h"

namespace memlens {
namespace {

const std::vector<int> kTokens = {0, 5, 3, 17, 9, 9, 2, 11, 20, 1, 4, 8, 13};

RunResult MustRun(const Model& m, const RunOptions& o = {}, std::vector<int> tokens = kTokens) {
  ThreadPool pool(2);
  Transformer tf(m, pool);
  auto r = tf.Run(tokens, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : RunResult{};
}

// A copy of a recorded hook (fails the test when it is missing).
Tensor Hook(const RunResult& r, const std::string& name) {
  auto t = r.store.Get(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? **t : Tensor();
}

RunOptions CacheAll() {
  RunOptions o;
  o.cache = HookFilter::All();
  return o;
}

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    m = std::max(m, static_cast<double>(std::fabs(a.data[i] - b.data[i])));
  }
  return m;
}

// A LLaMA-shaped config with rotary style `style` and rotary_dim `rot`.
ModelConfig Rotary(RotaryStyle style, int rot, float scale = 1.0f) {
  ModelConfig c = SmallLlamaConfig();
  c.rotary_style = style;
  c.rotary_dim = rot;
  c.rope_scale = scale;
  return c;
}

// Reorders the first `rot` columns of each head of W [D, n * dh] (and bias [n * dh]) from
// rotate_half pairs (i, i + rot/2) to adjacent pairs (2i, 2i + 1).
void HalvesToInterleaved(Tensor& W, int n, int dh, int rot) {
  if (W.empty()) return;
  const int64_t rows = W.shape.size() == 2 ? W.dim(0) : 1, cols = n * dh;
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    float* p = W.data.data() + r * cols;
    std::copy(p, p + cols, row.begin());
    for (int h = 0; h < n; ++h) {
      for (int i = 0; i < rot / 2; ++i) {
        p[h * dh + 2 * i] = row[h * dh + i];
        p[h * dh + 2 * i + 1] = row[h * dh + i + rot / 2];
      }
    }
  }
}

// Rotate-half with permuted q/k columns is the interleaved rotation: attention patterns and
// logits agree, also for partial rotary (the tail is not rotated in either).
TEST(RotaryStyle, HalvesIsInterleavedOfPermutedHeads) {
  for (int rot : {0, 4}) {
    SCOPED_TRACE(rot);
    const Model halves = RandomModel(Rotary(RotaryStyle::kHalves, rot), 3);
    Model inter = halves;
    inter.config.rotary_style = RotaryStyle::kInterleaved;
    const int r = halves.config.rotary_elems(), dh = halves.config.d_head;
    for (LayerWeights& L : inter.weights.layers) {
      HalvesToInterleaved(L.W_Q, halves.config.n_heads, dh, r);
      HalvesToInterleaved(L.W_K, halves.config.n_kv_heads, dh, r);
    }
    const RunResult a = MustRun(halves, CacheAll()), b = MustRun(inter, CacheAll());
    EXPECT_LT(MaxAbsDiff(a.logits, b.logits), 1e-5);
    EXPECT_LT(MaxAbsDiff(Hook(a, "blocks.1.attn.hook_pattern"),
                         Hook(b, "blocks.1.attn.hook_pattern")),
              1e-6);
    // Without the permutation the styles differ: the test can see a wrong pairing.
    Model unpermuted = halves;
    unpermuted.config.rotary_style = RotaryStyle::kInterleaved;
    EXPECT_GT(MaxAbsDiff(MustRun(unpermuted).logits, a.logits), 1e-3);
  }
}

// rotary_dim changes the numbers but not position 0 (angle 0); linear scaling by s at
// position p is position p / s: on a prompt of one repeated token, layer 0's q of a model scaled
// by 2 at position 2t is the unscaled model's at position t.
TEST(RotaryStyle, PartialAndLinearScaling) {
  const Model part = RandomModel(Rotary(RotaryStyle::kHalves, 4), 5);
  Model full = part;
  full.config.rotary_dim = 0;
  const Tensor q = Hook(MustRun(part, CacheAll()), "blocks.0.attn.hook_rot_q");
  const Tensor qf = Hook(MustRun(full, CacheAll()), "blocks.0.attn.hook_rot_q");
  const int dh = part.config.d_head, H = part.config.n_heads;
  EXPECT_GT(MaxAbsDiff(q, qf), 1e-3);
  for (int i = 0; i < H * dh; ++i) EXPECT_EQ(q.data[i], qf.data[i]);

  const Model scaled = RandomModel(Rotary(RotaryStyle::kHalves, 0, 2.0f), 6);
  Model plain = scaled;
  plain.config.rope_scale = 1.0f;
  const std::vector<int> one_token = {7, 7, 7, 7, 7, 7, 7, 7, 7};
  const Tensor qs = Hook(MustRun(scaled, CacheAll(), one_token), "blocks.0.attn.hook_rot_q");
  const Tensor qp = Hook(MustRun(plain, CacheAll(), one_token), "blocks.0.attn.hook_rot_q");
  // Layer 0's q depends on the token and position only; the same token everywhere.
  for (int t = 0; 2 * t < static_cast<int>(one_token.size()); ++t) {
    for (int i = 0; i < H * dh; ++i) {
      EXPECT_NEAR(qs.data[2 * t * H * dh + i], qp.data[t * H * dh + i], 1e-5) << t << " " << i;
    }
  }
}

// The unrotated tail of a partial-rotary q equals the plain projection W_Q^T normalized + b.
TEST(RotaryStyle, PartialTailIsTheProjection) {
  const Model m = RandomModel(Rotary(RotaryStyle::kHalves, 4), 8);
  const RunResult r = MustRun(m, CacheAll());
  const Tensor& q = Hook(r, "blocks.0.attn.hook_rot_q");
  const Tensor& x = Hook(r, "blocks.0.ln1.hook_normalized");  // before RMSNorm's w
  const LayerWeights& L = m.weights.layers[0];
  const int D = m.config.d_model, dh = m.config.d_head, H = m.config.n_heads;
  for (size_t t = 0; t < kTokens.size(); ++t) {
    for (int h = 0; h < H; ++h) {
      for (int e = 4; e < dh; ++e) {
        double want = 0;
        for (int d = 0; d < D; ++d) {
          want += static_cast<double>(x.data[t * D + d]) * L.ln1_w.data[d] *
                  L.W_Q.data[d * H * dh + h * dh + e];
        }
        EXPECT_NEAR(q.data[(t * H + h) * dh + e], want, 1e-4) << t << " " << h << " " << e;
      }
    }
  }
}

// TransformerLens's hook points of a rotary model: hook_q/hook_k before rotary, hook_rot_q/
// hook_rot_k after, and the scores read the rotated ones. At position 0 the angle is 0, so the two
// agree there and nowhere else; an edit of hook_q is rotated (zero stays zero), an edit of
// hook_rot_k reaches the scores directly.
TEST(RotaryStyle, HookQBeforeRotaryHookRotQAfter) {
  const Model m = RandomModel(Rotary(RotaryStyle::kHalves, 0), 9);
  const int H = m.config.n_heads, G = m.config.n_kv_heads, dh = m.config.d_head;
  const RunResult r = MustRun(m, CacheAll());
  const Tensor q = Hook(r, "blocks.1.attn.hook_q"), rq = Hook(r, "blocks.1.attn.hook_rot_q");
  const Tensor k = Hook(r, "blocks.1.attn.hook_k"), rk = Hook(r, "blocks.1.attn.hook_rot_k");
  for (int i = 0; i < H * dh; ++i) EXPECT_EQ(q.data[i], rq.data[i]);
  for (int i = 0; i < G * dh; ++i) EXPECT_EQ(k.data[i], rk.data[i]);
  double moved = 0;
  for (size_t i = H * dh; i < q.size(); ++i) {
    moved = std::max(moved, static_cast<double>(std::fabs(q.data[i] - rq.data[i])));
  }
  EXPECT_GT(moved, 1e-2);

  RunOptions zero_q = CacheAll();
  const HookFn zero = [](Tensor& t) { std::fill(t.data.begin(), t.data.end(), 0.0f); };
  zero_q.interventions["blocks.1.attn.hook_q"] = zero;
  const RunResult zq = MustRun(m, zero_q);
  for (float x : Hook(zq, "blocks.1.attn.hook_rot_q").data) EXPECT_EQ(x, 0.0f);
  RunOptions zero_rot_k = CacheAll();
  zero_rot_k.interventions["blocks.1.attn.hook_rot_k"] = zero;
  const RunResult zk = MustRun(m, zero_rot_k);
  EXPECT_EQ(Hook(zk, "blocks.1.attn.hook_k").data, k.data);  // before the edit point
  const Tensor scores = Hook(zk, "blocks.1.attn.hook_attn_scores");
  const int T = kTokens.size();
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < T; ++i) {
      for (int j = 0; j <= i; ++j) EXPECT_EQ(scores.data[(h * T + i) * T + j], 0.0f);
    }
  }

  // A model without rotary has no hook_rot_*.
  const RunResult gelu = MustRun(RandomModel(SmallGeluConfig(), 9), CacheAll());
  EXPECT_FALSE(gelu.store.Get("blocks.1.attn.hook_rot_q").ok());
  EXPECT_FALSE(gelu.store.Get("blocks.1.attn.hook_rot_k").ok());
}

// Parallel residual: no resid_mid; ln2 reads resid_pre (same scale as ln1); resid_post is
// resid_pre + attn_out + mlp_out; the MLP does not see the attention.
TEST(ParallelResidual, BlockReadsResidPreTwice) {
  for (ModelConfig c : {SmallGeluConfig(), SmallLlamaConfig()}) {
    c.parallel_residual = true;
    SCOPED_TRACE(c.name);
    const Model m = RandomModel(c, 11);
    for (const std::string& name : AllHookNames(c)) {
      EXPECT_EQ(name.find("resid_mid"), std::string::npos) << name;
    }
    const RunResult r = MustRun(m, CacheAll());
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = "blocks." + std::to_string(l) + ".";
      EXPECT_EQ(Hook(r, p + "ln1.hook_scale").data, Hook(r, p + "ln2.hook_scale").data);
      const Tensor& pre = Hook(r, p + "hook_resid_pre");
      const Tensor& post = Hook(r, p + "hook_resid_post");
      const Tensor& a = Hook(r, p + "hook_attn_out");
      const Tensor& mo = Hook(r, p + "hook_mlp_out");
      for (size_t i = 0; i < pre.size(); ++i) {
        ASSERT_NEAR(post.data[i], pre.data[i] + a.data[i] + mo.data[i], 1e-5) << p << i;
      }
    }
    // Zeroing the attention output leaves the same layer's MLP output unchanged.
    RunOptions o = CacheAll();
    o.interventions["blocks.0.hook_attn_out"] = [](Tensor& t) {
      std::fill(t.data.begin(), t.data.end(), 0.0f);
    };
    const RunResult z = MustRun(m, o);
    EXPECT_EQ(Hook(z, "blocks.0.hook_mlp_out").data,
              Hook(r, "blocks.0.hook_mlp_out").data);
    EXPECT_GT(MaxAbsDiff(Hook(z, "blocks.1.hook_mlp_out"),
                         Hook(r, "blocks.1.hook_mlp_out")),
              1e-4);
    // There is no resid_mid to restart from.
    RunOptions mid;
    mid.start_layer = 0;
    mid.start_at_mid = true;
    const Tensor pre0 = Hook(r, "blocks.0.hook_resid_pre");
    mid.start_resid = &pre0;
    ThreadPool pool(1);
    Transformer tf(m, pool);
    auto bad = tf.Run(kTokens, mid);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("parallel"), std::string::npos) << bad.status();
  }
}

// A local window w: with L layers, position i can only depend on tokens j > i - L (w - 1) - 1.
// Changing token 0 leaves every position beyond that reach bit-identical, and changes those in
// it; layers with window 0 are global.
TEST(AttentionWindow, ReceptiveField) {
  for (ModelConfig c : {SmallGeluConfig(), SmallLlamaConfig()}) {
    SCOPED_TRACE(c.name);
    const int w = 3;
    c.attn_window.assign(c.n_layers, w);
    const Model m = RandomModel(c, 12);
    std::vector<int> changed = kTokens;
    changed[0] = 6;
    const RunResult a = MustRun(m, {}, kTokens), b = MustRun(m, {}, changed);
    const int reach = c.n_layers * (w - 1);  // positions 0..reach see token 0
    const int V = c.d_vocab;
    for (int i = 0; i < static_cast<int>(kTokens.size()); ++i) {
      double diff = 0;
      for (int v = 0; v < V; ++v) {
        diff = std::max(diff, static_cast<double>(std::fabs(a.logits.data[i * V + v] -
                                                            b.logits.data[i * V + v])));
      }
      if (i > reach) {
        EXPECT_EQ(diff, 0.0) << "position " << i << " sees token 0 through a window of " << w;
      } else {
        EXPECT_GT(diff, 0.0) << "position " << i;
      }
    }
    // One global layer (GPT-Neo alternates) lets the last position see token 0 again.
    Model g = m;
    g.config.attn_window[0] = 0;
    const RunResult ga = MustRun(g, {}, kTokens), gb = MustRun(g, {}, changed);
    const size_t last = (kTokens.size() - 1) * V;
    EXPECT_NE(ga.logits.data[last], gb.logits.data[last]);
    // The pattern is zero outside the window, rows still sum to one.
    const RunResult r = MustRun(m, CacheAll());
    const Tensor& p = Hook(r, "blocks.0.attn.hook_pattern");
    const int T = kTokens.size();
    for (int h = 0; h < c.n_heads; ++h) {
      for (int i = 0; i < T; ++i) {
        double sum = 0;
        for (int j = 0; j < T; ++j) {
          const float x = p.data[(h * T + i) * T + j];
          if (j > i || i - j >= w) {
            EXPECT_EQ(x, 0.0f) << i << " " << j;
          }
          sum += x;
        }
        EXPECT_NEAR(sum, 1.0, 1e-6);
      }
    }
  }
}

// Attention scale 1 (GPT-Neo): scores are the plain dot products.
TEST(AttentionScale, OneMeansUnscaled) {
  ModelConfig c = SmallGeluConfig();
  c.attn_scale = 1.0f;
  const Model m = RandomModel(c, 13);
  const RunResult r = MustRun(m, CacheAll());
  const Tensor& q = Hook(r, "blocks.0.attn.hook_q");
  const Tensor& k = Hook(r, "blocks.0.attn.hook_k");
  const Tensor& s = Hook(r, "blocks.0.attn.hook_attn_scores");
  const int T = kTokens.size(), H = c.n_heads, dh = c.d_head;
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < T; ++i) {
      for (int j = 0; j <= i; ++j) {
        double dot = 0;
        for (int e = 0; e < dh; ++e) {
          dot += static_cast<double>(q.data[(i * H + h) * dh + e]) * k.data[(j * H + h) * dh + e];
        }
        EXPECT_NEAR(s.data[(h * T + i) * T + j], dot, 1e-4 * (1 + std::fabs(dot)));
      }
    }
  }
}

// Biases by projection (Qwen2: q/k/v only; GPT-Neo: o and MLP): the weights must match the
// flags, and a present bias reaches its hook.
TEST(Biases, PerProjection) {
  ModelConfig c = SmallLlamaConfig();
  c.SetAllBiases(false);
  c.bias_qkv = true;  // Qwen2
  const Model m = RandomModel(c, 14);
  ASSERT_TRUE(m.weights.Validate(c).ok());
  EXPECT_TRUE(m.weights.layers[0].b_O.empty());
  EXPECT_TRUE(m.weights.b_U.empty());
  Model extra = m;
  extra.weights.layers[1].b_O = Tensor({c.d_model});
  auto s = extra.weights.Validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("blocks.1.attn.b_O"), std::string::npos) << s;
  Model missing = m;
  missing.weights.layers[0].b_K = Tensor();
  s = missing.weights.Validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("blocks.0.attn.b_K"), std::string::npos) << s;
  // b_V reaches hook_v: v with the bias minus v without it is the bias, at every position.
  Model nob = m;
  for (LayerWeights& L : nob.weights.layers) {
    std::fill(L.b_V.data.begin(), L.b_V.data.end(), 0.0f);
  }
  const Tensor& v1 = Hook(MustRun(m, CacheAll()), "blocks.0.attn.hook_v");
  const Tensor& v0 = Hook(MustRun(nob, CacheAll()), "blocks.0.attn.hook_v");
  const int64_t KV = c.kv_dim();
  for (size_t i = 0; i < v1.size(); ++i) {
    ASSERT_NEAR(v1.data[i] - v0.data[i], m.weights.layers[0].b_V.data[i % KV], 1e-5);
  }
}

// Each refused configuration names its field.
TEST(ConfigValidate, NamesTheField) {
  auto expect_error = [](ModelConfig c, const std::string& field) {
    auto s = c.Validate();
    ASSERT_FALSE(s.ok()) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s;
  };
  EXPECT_TRUE(SmallLlamaConfig().Validate().ok());
  ModelConfig c = SmallLlamaConfig();
  c.rotary_dim = 3;
  expect_error(c, "rotary_dim");
  c.rotary_dim = 10;  // > d_head 8
  expect_error(c, "rotary_dim");
  c.rotary_dim = -2;
  expect_error(c, "rotary_dim");
  c = SmallLlamaConfig();
  c.rope_scale = 0;
  expect_error(c, "rope_scale");
  c.rope_scale = NAN;
  expect_error(c, "rope_scale");
  c = SmallLlamaConfig();
  c.rope_theta = 1;
  expect_error(c, "rope_theta");
  c = SmallGeluConfig();
  c.rotary_dim = 4;  // learned positions
  expect_error(c, "rotary_dim");
  c = SmallGeluConfig();
  c.rope_scale = 2;
  expect_error(c, "rope_scale");
  c = SmallGeluConfig();
  c.attn_window = {0, 4};  // 3 layers
  expect_error(c, "attn_window");
  c.attn_window = {0, -1, 4};
  expect_error(c, "attn_window of layer 1");
  c.attn_window = {0, 256, 4};
  EXPECT_TRUE(c.Validate().ok());
  c = SmallGeluConfig();
  c.attn_scale = INFINITY;
  expect_error(c, "attn_scale");
}

}  // namespace
}  // namespace memlens

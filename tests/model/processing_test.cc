// TransformerLens weight processing: invariants on random models (what each transform must
// and must not change) and agreement with TransformerLens semantics on the tl_safetensors
// fixture (tools/tl_reference.py computed processed_expected.safetensors and
// processed_hooks_{0,1}.safetensors in float64).
#include "core/model/processing.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/model/load/load_model.h"
#include "core/io/safetensors.h"
#include "core/model/forward.h"
#include "gtest/gtest.h"
#include "tests/random_model.h"

namespace memlens {
namespace {

const std::vector<int> kTokens = {0, 5, 3, 17, 9, 9, 2, 11, 20, 1, 4, 8};

double MaxAbs(const Tensor& t) {
  double m = 0;
  for (float x : t.data) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// Max over rows of |mean of the row| (a [C] vector is one row).
double MaxRowMean(const Tensor& t) {
  if (t.empty()) return 0;
  const int64_t C = t.shape.back(), R = t.data.size() / C;
  double worst = 0;
  for (int64_t r = 0; r < R; ++r) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += t.data[r * C + c];
    worst = std::max(worst, std::fabs(s / C));
  }
  return worst;
}

// Max over columns of |mean of the column| of a [R, C] matrix.
double MaxColMean(const Tensor& t) {
  const int64_t R = t.dim(0), C = t.dim(1);
  double worst = 0;
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t r = 0; r < R; ++r) s += t.data[r * C + c];
    worst = std::max(worst, std::fabs(s / R));
  }
  return worst;
}

ModelConfig GqaGeluConfig() {
  ModelConfig c = SmallGeluConfig();
  c.name = "random-gelu-gqa";
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_head = 6;
  return c;
}

ModelConfig BiasedLlamaConfig() {
  ModelConfig c = SmallLlamaConfig();
  c.name = "random-llama-bias";
  c.SetAllBiases(true);
  return c;
}

RunResult MustRun(const Model& model, bool cache = true) {
  ThreadPool pool(2);
  Transformer tf(model, pool);
  RunOptions options;
  if (cache) options.cache = HookFilter::All();
  auto r = tf.Run(kTokens, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : RunResult{};
}

// Float32 forward passes of these models carry rounding of a few 1e-6 of a tensor's scale
// (a few hundred ulps through ~20 chained reductions of length <= 48); processing reorders the
// arithmetic, so two runs agree to that order. 1e-4 of the scale is well above it and far below
// any real processing bug (a missing fold moves values by O(scale)).
constexpr double kTol = 1e-4;

// got - want is the same at every index of each row ([T, N] tensors), up to kTol * scale.
void ExpectEqualUpToRowConstant(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  const int64_t N = want.shape.back(), T = want.data.size() / N;
  const double tol = kTol * std::max(1.0, MaxAbs(want));
  for (int64_t t = 0; t < T; ++t) {
    double mean = 0;
    for (int64_t n = 0; n < N; ++n) mean += got.data[t * N + n] - want.data[t * N + n];
    mean /= N;
    for (int64_t n = 0; n < N; ++n) {
      ASSERT_NEAR(got.data[t * N + n] - want.data[t * N + n], mean, tol)
          << what << " row " << t << " col " << n;
    }
  }
}

void ExpectClose(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  const double tol = kTol * std::max(1.0, MaxAbs(want));
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want.data[i])) {
      ASSERT_EQ(got.data[i], want.data[i]) << what << " at " << i;
      continue;
    }
    ASSERT_NEAR(got.data[i], want.data[i], tol) << what << " at " << i;
  }
}

// The fixtures' tolerance (tests/fixtures/README.md): float64 reference values rounded to
// float32 against a float32 run.
void ExpectMatches(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  float scale = 0;
  for (float w : want.data) {
    if (std::isfinite(w)) scale = std::max(scale, std::fabs(w));
  }
  for (size_t i = 0; i < want.size(); ++i) {
    const float w = want.data[i], g = got.data[i];
    if (std::isinf(w)) {
      ASSERT_EQ(g, w) << what << " at flat index " << i;
      continue;
    }
    ASSERT_NEAR(g, w, 1e-5f * scale + 1e-5f * std::fabs(w)) << what << " at flat index " << i;
  }
}

// x minus its mean over the last axis.
Tensor CenterLast(Tensor t) {
  const int64_t N = t.shape.back(), R = t.data.size() / N;
  for (int64_t r = 0; r < R; ++r) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += t.data[r * N + n];
    for (int64_t n = 0; n < N; ++n) t.data[r * N + n] -= static_cast<float>(s / N);
  }
  return t;
}

class ProcessingLayerNormTest : public ::testing::TestWithParam<bool> {
 protected:
  ModelConfig Config() const { return GetParam() ? GqaGeluConfig() : SmallGeluConfig(); }
};

TEST_P(ProcessingLayerNormTest, DefaultsProduceTransformerLensInvariants) {
  const Model original = RandomModel(Config(), 3);
  Model m = original;
  std::vector<std::string> notes;
  ASSERT_TRUE(ProcessWeights(&m, {}, &notes).ok());
  EXPECT_EQ(m.processing, "fold_ln+center_writing+center_unembed+fold_value_biases");
  EXPECT_TRUE(notes.empty());
  ASSERT_TRUE(m.weights.Validate(m.config).ok());
  const Weights& W = m.weights;
  const double eps = 1e-6;
  // Writing weights: zero mean over d_model.
  EXPECT_LT(MaxRowMean(W.W_E), eps);
  EXPECT_LT(MaxRowMean(W.W_pos), eps);
  for (const LayerWeights& L : W.layers) {
    EXPECT_LT(MaxRowMean(L.W_O), eps);
    EXPECT_LT(MaxRowMean(L.b_O), eps);
    EXPECT_LT(MaxRowMean(L.W_out), eps);
    EXPECT_LT(MaxRowMean(L.b_out), eps);
    // Reading weights centered over d_model (fold_ln's center_weights).
    EXPECT_LT(MaxColMean(L.W_Q), eps);
    EXPECT_LT(MaxColMean(L.W_K), eps);
    EXPECT_LT(MaxColMean(L.W_V), eps);
    EXPECT_LT(MaxColMean(L.W_in), eps);
    // The norms are LNPre; value biases folded away.
    for (float x : L.ln1_w.data) EXPECT_EQ(x, 1.0f);
    for (float x : L.ln2_b.data) EXPECT_EQ(x, 0.0f);
    for (float x : L.b_V.data) EXPECT_EQ(x, 0.0f);
  }
  // Unembedding: rows of W_U and b_U have zero mean over the vocabulary; columns over d_model.
  EXPECT_LT(MaxRowMean(W.W_U), eps);
  EXPECT_LT(MaxRowMean(W.b_U), eps);
  EXPECT_LT(MaxColMean(W.W_U), eps);
  for (float x : W.ln_final_w.data) EXPECT_EQ(x, 1.0f);

  // The forward pass: logits move by a constant per position; patterns and scales are
  // unchanged; each residual point loses its mean over d_model.
  const RunResult a = MustRun(original), b = MustRun(m);
  ExpectEqualUpToRowConstant(b.logits, a.logits, "logits");
  for (int l = 0; l < m.config.n_layers; ++l) {
    const std::string p = absl::StrCat("blocks.", l, ".");
    for (const char* hook : {"attn.hook_pattern", "ln1.hook_scale", "ln2.hook_scale"}) {
      ExpectClose(**b.store.Get(p + hook), **a.store.Get(p + hook), p + hook);
    }
    for (const char* hook : {"hook_resid_pre", "hook_resid_mid", "hook_resid_post"}) {
      ExpectClose(**b.store.Get(p + hook), CenterLast(**a.store.Get(p + hook)), p + hook);
    }
  }
  ExpectClose(**b.store.Get("ln_final.hook_scale"), **a.store.Get("ln_final.hook_scale"),
              "ln_final.hook_scale");
}

// The families' quirks under TransformerLens's default processing: GPT-NeoX (parallel blocks,
// ln2 reading resid_pre, partial rotate-half rotary), GPT-Neo (a local layer, unscaled scores,
// no q/k/v biases to take ln1.b: zeros are added), Qwen2 / Mistral (RMSNorm, q/k/v biases but
// no b_O to take the folded value biases: zeros are added; a sliding window). Logits move by a
// constant per position, patterns and norm scales stay, LayerNorm residual points lose their
// mean (TransformerLens's invariants), and the weights validate against the updated config.
TEST(ProcessingFamilies, QuirksKeepTransformerLensInvariants) {
  ModelConfig neox = SmallGeluConfig();
  neox.name = "neox";
  neox.pos = PosKind::kRotary;
  neox.rotary_style = RotaryStyle::kHalves;
  neox.rotary_dim = 4;
  neox.parallel_residual = true;
  ModelConfig neo = SmallGeluConfig();
  neo.name = "neo";
  neo.act = ActKind::kGeluTanh;
  neo.attn_scale = 1.0f;
  neo.attn_window = {0, 3, 0};
  neo.bias_qkv = false;
  neo.bias_unembed = false;
  ModelConfig qwen = SmallLlamaConfig();
  qwen.name = "qwen";
  qwen.rotary_style = RotaryStyle::kHalves;
  qwen.bias_qkv = true;
  qwen.attn_window = {4, 4};
  for (const ModelConfig& c : {neox, neo, qwen}) {
    SCOPED_TRACE(c.name);
    const Model original = RandomModel(c, 21);
    Model m = original;
    std::vector<std::string> notes;
    ASSERT_TRUE(ProcessWeights(&m, {}, &notes).ok());
    ASSERT_TRUE(m.weights.Validate(m.config).ok());
    const bool ln = c.norm == NormKind::kLayerNorm;
    EXPECT_EQ(m.processing, ln ? "fold_ln+center_writing+center_unembed+fold_value_biases"
                               : "fold_ln+center_unembed+fold_value_biases; skipped "
                                 "center_writing (RMSNorm does not remove the mean)");
    EXPECT_TRUE(m.config.bias_qkv);  // Neo: added for ln1.b
    EXPECT_TRUE(m.config.bias_o);    // Qwen: added for the value biases
    for (const LayerWeights& L : m.weights.layers) {
      for (float x : L.b_V.data) EXPECT_EQ(x, 0.0f);
    }
    const RunResult a = MustRun(original), b = MustRun(m);
    ExpectEqualUpToRowConstant(b.logits, a.logits, "logits");
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = absl::StrCat("blocks.", l, ".");
      for (const char* hook : {"attn.hook_pattern", "ln1.hook_scale", "ln2.hook_scale"}) {
        ExpectClose(**b.store.Get(p + hook), **a.store.Get(p + hook), p + hook);
      }
      if (!ln) continue;
      for (const char* hook : {"hook_resid_pre", "hook_resid_mid", "hook_resid_post"}) {
        if (c.parallel_residual && std::string(hook) == "hook_resid_mid") {
          EXPECT_FALSE(b.store.Has(p + hook));
          continue;
        }
        ExpectClose(**b.store.Get(p + hook), CenterLast(**a.store.Get(p + hook)), p + hook);
      }
    }
  }
}

TEST_P(ProcessingLayerNormTest, EachStepAlonePreservesTheModel) {
  const Model original = RandomModel(Config(), 5);
  const RunResult a = MustRun(original, false);
  for (int step = 0; step < 4; ++step) {
    ProcessingOptions o;
    o.fold_ln = step == 0;
    o.center_writing_weights = step == 1;
    o.center_unembed = step == 2;
    o.fold_value_biases = step == 3;
    Model m = original;
    ASSERT_TRUE(ProcessWeights(&m, o).ok());
    const char* names[] = {"fold_ln", "center_writing", "center_unembed", "fold_value_biases"};
    EXPECT_EQ(m.processing, names[step]);
    const RunResult b = MustRun(m, false);
    ExpectEqualUpToRowConstant(b.logits, a.logits, names[step]);
    if (step != 2) ExpectClose(b.logits, a.logits, names[step]);  // only center_unembed shifts
  }
  Model none = original;
  ASSERT_TRUE(ProcessWeights(&none, {false, false, false, false}).ok());
  EXPECT_EQ(none.processing, "none");
}

INSTANTIATE_TEST_SUITE_P(Mha, ProcessingLayerNormTest, ::testing::Values(false));
INSTANTIATE_TEST_SUITE_P(Gqa, ProcessingLayerNormTest, ::testing::Values(true));

TEST(ProcessingRmsNormTest, FoldsWeightsOnlyAndSkipsCentering) {
  for (const ModelConfig& config : {SmallLlamaConfig(), BiasedLlamaConfig()}) {
    SCOPED_TRACE(config.name);
    const Model original = RandomModel(config, 9);
    Model m = original;
    std::vector<std::string> notes;
    ASSERT_TRUE(ProcessWeights(&m, {}, &notes).ok());
    if (config.bias_qkv) {
      EXPECT_EQ(m.processing,
                "fold_ln+center_unembed+fold_value_biases; skipped center_writing (RMSNorm does "
                "not remove the mean)");
    } else {
      EXPECT_EQ(m.processing,
                "fold_ln+center_unembed; skipped center_writing (RMSNorm does not remove the "
                "mean), fold_value_biases (no value biases)");
    }
    ASSERT_EQ(notes.size(), 2u);
    EXPECT_NE(notes[0].find("weights only"), std::string::npos) << notes[0];
    EXPECT_NE(notes[1].find("center_writing_weights skipped"), std::string::npos) << notes[1];
    ASSERT_TRUE(m.weights.Validate(m.config).ok());
    // Writing weights untouched; W_U rows centered over the vocabulary.
    EXPECT_EQ(m.weights.W_E.data, original.weights.W_E.data);
    EXPECT_EQ(m.weights.layers[0].W_out.data, original.weights.layers[0].W_out.data);
    EXPECT_LT(MaxRowMean(m.weights.W_U), 1e-6);
    const RunResult a = MustRun(original), b = MustRun(m);
    ExpectEqualUpToRowConstant(b.logits, a.logits, "logits");
    ExpectClose(**b.store.Get("blocks.1.hook_resid_post"), **a.store.Get("blocks.1.hook_resid_post"),
                "resid_post");
    ExpectClose(**b.store.Get("blocks.1.attn.hook_pattern"),
                **a.store.Get("blocks.1.attn.hook_pattern"), "pattern");
  }
}

TEST(ProcessingErrorsTest, RefusesWhatCannotBeDoneExactly) {
  Model twice = RandomModel(SmallGeluConfig(), 1);
  ASSERT_TRUE(ProcessWeights(&twice).ok());
  auto again = ProcessWeights(&twice);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(again.message()).find("already processed"), std::string::npos) << again;

  Model broken = RandomModel(SmallGeluConfig(), 1);
  broken.weights.layers[1].W_V = Tensor({3, 3});
  auto invalid = ProcessWeights(&broken);
  EXPECT_NE(std::string(invalid.message()).find("blocks.1.attn.W_V"), std::string::npos)
      << invalid;
  EXPECT_EQ(broken.processing, "none");

  // LayerNorm with a gated MLP: ln2.b @ W_gate has no bias to go to.
  ModelConfig gated = SmallGeluConfig();
  gated.act = ActKind::kSwiGLU;
  Model g = RandomModel(gated, 2);
  const Model before = g;
  auto s = ProcessWeights(&g);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(std::string(s.message()).find("blocks.0.ln2.b"), std::string::npos) << s;
  EXPECT_EQ(g.weights.layers[0].W_Q.data, before.weights.layers[0].W_Q.data);  // unchanged
  EXPECT_EQ(g.processing, "none");
  // ... fine without fold_ln, and fine when ln2.b is zero.
  ProcessingOptions no_fold;
  no_fold.fold_ln = false;
  EXPECT_TRUE(ProcessWeights(&g, no_fold).ok());
  Model g0 = before;
  for (LayerWeights& L : g0.weights.layers) std::fill(L.ln2_b.data.begin(), L.ln2_b.data.end(), 0);
  const RunResult a = MustRun(g0, false);
  ASSERT_TRUE(ProcessWeights(&g0).ok());
  ExpectEqualUpToRowConstant(MustRun(g0, false).logits, a.logits, "gated LN logits");
}

TEST(ProcessingBiasesTest, LayerNormWithoutBiasTensorsGetsZeroBiases) {
  ModelConfig config = SmallGeluConfig();
  config.SetAllBiases(false);
  const Model original = RandomModel(config, 4);  // LN biases random, no other biases
  ASSERT_FALSE(original.weights.layers[0].ln1_b.empty());
  Model m = original;
  std::vector<std::string> notes;
  ASSERT_TRUE(ProcessWeights(&m, {}, &notes).ok());
  // b_Q/K/V, b_in/b_out, b_U for the folded norm biases, then b_O for the folded value biases.
  EXPECT_TRUE(m.config.bias_qkv && m.config.bias_mlp && m.config.bias_unembed && m.config.bias_o);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("zero biases were added"), std::string::npos) << notes[0];
  ASSERT_TRUE(m.weights.Validate(m.config).ok());
  ExpectEqualUpToRowConstant(MustRun(m, false).logits, MustRun(original, false).logits, "logits");
}

// ---- Against the fixture processed by tools/tl_reference.py (TransformerLens semantics). ----

// TransformerLens [H, D, dh] -> memlens [D, H * dh] (heads as contiguous column blocks).
Tensor HeadsToColumns(const Tensor& t) {
  const int64_t H = t.dim(0), D = t.dim(1), dh = t.dim(2);
  Tensor out({D, H * dh});
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t e = 0; e < dh; ++e) out.data[d * H * dh + h * dh + e] = t.data[(h * D + d) * dh + e];
    }
  }
  return out;
}

Tensor Flatten(Tensor t) {
  t.shape = {static_cast<int64_t>(t.data.size())};
  return t;
}

Tensor Rows(Tensor t, int64_t cols) {
  t.shape = {static_cast<int64_t>(t.data.size()) / cols, cols};
  return t;
}

// tl_safetensors (GPT-2 shape), tl_pythia (TransformerLens's GPT-NeoX: parallel blocks, whose
// ln2 TransformerLens folds into W_in as in a sequential block; partial rotary, so no W_pos to
// center) and tl_gptj (the same with adjacent-pair rotary and grouped-query attention, whose
// shared value biases fold into b_O once per query head).
class ProcessingFixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ProcessingFixtureTest, MatchesTransformerLensProcessing) {
  const std::string dir = absl::StrCat("tests/fixtures/", GetParam(), "/");
  auto model = LoadModel(dir + "model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE(ProcessWeights(&*model).ok());
  auto expected = SafetensorsFile::Open(dir + "processed_expected.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(expected->metadata().at("processing"), model->processing);
  const Weights& W = model->weights;
  const int64_t D = model->config.d_model;
  int compared = 0;
  auto check = [&](const std::string& name, const Tensor& got, Tensor want) {
    ExpectMatches(got, want, name);
    ++compared;
  };
  auto get = [&](const std::string& name) { return *expected->ReadFloat(name); };
  check("embed.W_E", W.W_E, get("embed.W_E"));
  if (model->config.pos == PosKind::kLearned) check("pos_embed.W_pos", W.W_pos, get("pos_embed.W_pos"));
  for (size_t l = 0; l < W.layers.size(); ++l) {
    const LayerWeights& L = W.layers[l];
    const std::string p = absl::StrCat("blocks.", l, ".");
    check(p + "attn.W_Q", L.W_Q, HeadsToColumns(get(p + "attn.W_Q")));
    check(p + "attn.W_K", L.W_K, HeadsToColumns(get(p + "attn.W_K")));
    check(p + "attn.W_V", L.W_V, HeadsToColumns(get(p + "attn.W_V")));
    check(p + "attn.W_O", L.W_O, Rows(get(p + "attn.W_O"), D));
    check(p + "attn.b_Q", L.b_Q, Flatten(get(p + "attn.b_Q")));
    check(p + "attn.b_K", L.b_K, Flatten(get(p + "attn.b_K")));
    check(p + "attn.b_V", L.b_V, Flatten(get(p + "attn.b_V")));
    check(p + "attn.b_O", L.b_O, get(p + "attn.b_O"));
    check(p + "mlp.W_in", L.W_in, get(p + "mlp.W_in"));
    check(p + "mlp.b_in", L.b_in, get(p + "mlp.b_in"));
    check(p + "mlp.W_out", L.W_out, get(p + "mlp.W_out"));
    check(p + "mlp.b_out", L.b_out, get(p + "mlp.b_out"));
  }
  check("unembed.W_U", W.W_U, get("unembed.W_U"));
  check("unembed.b_U", W.b_U, get("unembed.b_U"));
  EXPECT_EQ(compared, static_cast<int>(expected->tensors().size()));

  // Every hook of the processed model on the fixture's prompts.
  ThreadPool pool(2);
  Transformer tf(*model, pool);
  for (int k = 0; k < 2; ++k) {
    auto hooks = SafetensorsFile::Open(absl::StrCat(dir, "processed_hooks_", k, ".safetensors"));
    ASSERT_TRUE(hooks.ok()) << hooks.status();
    const Tensor tokens_f = *hooks->ReadFloat("tokens");
    const std::vector<int> tokens(tokens_f.data.begin(), tokens_f.data.end());
    RunOptions options;
    options.cache = HookFilter::All();
    auto run = tf.Run(tokens, options);
    ASSERT_TRUE(run.ok()) << run.status();
    int checked = 0;
    for (const auto& [name, view] : hooks->tensors()) {
      if (name == "tokens") continue;
      const Tensor want = *hooks->ReadFloat(name);
      if (name == "logits") {
        ExpectMatches(run->logits, want, "logits");
      } else {
        auto got = run->store.Get(name);
        ASSERT_TRUE(got.ok()) << got.status();
        ExpectMatches(**got, want, absl::StrCat("prompt ", k, " ", name));
      }
      ++checked;
    }
    EXPECT_EQ(checked, static_cast<int>(AllHookNames(model->config).size()) -
                           model->config.n_layers + 1);  // all but hook_v_input, plus logits
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ProcessingFixtureTest,
                         ::testing::Values("tl_safetensors", "tl_pythia", "tl_gptj"));

}  // namespace
}  // namespace memlens

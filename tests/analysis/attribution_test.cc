// Invariants of the node decomposition, DLA, projection ratios, path-corrected DLA and
// ablations on random models of both families (and the real aidreams260K model when
// ../shared is present).
#include <algorithm>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/analysis/ablation.h"
#include "core/analysis/dla.h"
#include "core/analysis/nodes.h"
#include "core/analysis/path_corrected.h"
#include "core/analysis/projection.h"
#include "core/model/load/load_model.h"
#include "core/model/forward.h"
#include "gtest/gtest.h"
#include "tests/random_model.h"
#include "tests/shared_data.h"

namespace memlens {
namespace {

const std::vector<int> kTokens = {0, 5, 3, 17, 9, 9, 2, 11, 20, 1};

RunResult MustRun(const Transformer& tf, const std::vector<int>& tokens, const RunOptions& o) {
  auto r = tf.Run(tokens, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : RunResult{};
}

RunOptions CacheAll() {
  RunOptions o;
  o.cache = HookFilter::All();
  return o;
}

// Sum of all node DLAs + bias terms == the logit (difference), at every position, for a
// plain logit and a logit difference. Returns the largest |error| relative to (1 + |logit|).
double CheckDlaInvariant(const Model& model, const std::vector<int>& tokens, int contrast) {
  ThreadPool pool(1);
  Transformer tf(model, pool);
  RunResult r = MustRun(tf, tokens, CacheAll());
  const std::vector<Node> nodes = ListNodes(model);
  const int64_t T = tokens.size(), D = model.config.d_model;
  double worst = 0;
  for (int64_t i = 0; i < T; ++i) {
    auto outs = NodeOutputs(r.store, model, nodes, i);
    EXPECT_TRUE(outs.ok()) << outs.status();
    // The nodes sum to the final residual.
    const Tensor& resid = **r.store.Get(
        absl::StrCat("blocks.", model.config.n_layers - 1, ".hook_resid_post"));
    for (int64_t d = 0; d < D; ++d) {
      double s = 0;
      for (size_t n = 0; n < nodes.size(); ++n) s += outs->data[n * D + d];
      EXPECT_NEAR(s, resid.data[i * D + d], 1e-4 * (1 + std::fabs(resid.data[i * D + d])));
    }
    const int target = tokens[(i + 1) % T];
    auto dir = MakeDlaDirection(model, target, contrast == target ? -1 : contrast);
    EXPECT_TRUE(dir.ok());
    const float s = *FinalScale(r.store, i);
    double sum = dir->ln_bias_term + dir->unembed_bias_term;
    for (size_t n = 0; n < nodes.size(); ++n) sum += Dla(outs->row(n), s, *dir);
    const double logit = LogitOf(r.logits, i, *dir);
    worst = std::max(worst, std::fabs(sum - logit) / (1 + std::fabs(logit)));
  }
  return worst;
}

// Zeroes the weights through which `node` writes into the residual stream.
void SilenceNode(Model& m, const Node& node) {
  auto zero = [](Tensor& t) { std::fill(t.data.begin(), t.data.end(), 0.0f); };
  const int64_t D = m.config.d_model, dh = m.config.d_head;
  switch (node.kind) {
    case NodeKind::kEmbed:
      zero(m.weights.W_E);
      break;
    case NodeKind::kPosEmbed:
      zero(m.weights.W_pos);
      break;
    case NodeKind::kHead: {  // W_O's rows of that head: [H * dh, D], head-major
      Tensor& W_O = m.weights.layers[node.layer].W_O;
      std::fill(W_O.data.begin() + node.head * dh * D, W_O.data.begin() + (node.head + 1) * dh * D,
                0.0f);
      break;
    }
    case NodeKind::kAttnBias:
      zero(m.weights.layers[node.layer].b_O);
      break;
    case NodeKind::kMlp:
      zero(m.weights.layers[node.layer].W_out);
      zero(m.weights.layers[node.layer].b_out);
      break;
  }
}

// The families' quirks on the two small configs: kGelu (GPT-2 / gelu-4l), kLlama (llama2.c:
// RMSNorm, SwiGLU, GQA, interleaved rotary), kNeoX (Pythia: parallel residual, partial
// rotate-half rotary), kNeo (GPT-Neo: a local layer, unscaled scores, no q/k/v biases), kQwen
// (Qwen2 / Mistral: q/k/v biases only, sliding window shorter than the prompt, rotate-half with
// linear scaling).
enum Family { kGelu, kLlama, kNeoX, kNeo, kQwen };

ModelConfig FamilyConfig(Family f) {
  ModelConfig c = f == kLlama || f == kQwen ? SmallLlamaConfig() : SmallGeluConfig();
  switch (f) {
    case kGelu:
    case kLlama:
      break;
    case kNeoX:
      c.name = "random-neox";
      c.pos = PosKind::kRotary;
      c.rotary_style = RotaryStyle::kHalves;
      c.rotary_dim = 4;
      c.parallel_residual = true;
      break;
    case kNeo:
      c.name = "random-neo";
      c.act = ActKind::kGeluTanh;
      c.attn_scale = 1.0f;
      c.attn_window = {0, 3, 0};
      c.bias_qkv = false;
      c.bias_unembed = false;
      break;
    case kQwen:
      c.name = "random-qwen";
      c.rotary_style = RotaryStyle::kHalves;
      c.rope_scale = 2.0f;
      c.bias_qkv = true;
      c.attn_window = {4, 4};
      break;
  }
  return c;
}

std::string FamilyName(Family f) {
  switch (f) {
    case kGelu: return "Gelu";
    case kLlama: return "Llama";
    case kNeoX: return "NeoX";
    case kNeo: return "Neo";
    case kQwen: return "Qwen";
  }
  return "?";
}

class FamilyTest : public ::testing::TestWithParam<Family> {
 protected:
  FamilyTest() : model_(RandomModel(FamilyConfig(GetParam()), 7)) {}
  Model model_;
};

TEST_P(FamilyTest, NodeList) {
  const std::vector<Node> nodes = ListNodes(model_);
  const ModelConfig& c = model_.config;
  const size_t expected = 1 + (c.pos == PosKind::kLearned) +
                          c.n_layers * (c.n_heads + 1 + (c.bias_o ? 1 : 0));
  EXPECT_EQ(nodes.size(), expected);
  // The stream order written out by hand for the small configs.
  const bool llama = GetParam() == kLlama || GetParam() == kQwen;
  const std::vector<std::string> want =
      llama ? std::vector<std::string>{"embed", "L0H0", "L0H1", "L0H2", "L0H3", "M0", "L1H0",
                                       "L1H1", "L1H2", "L1H3", "M1"}
      : GetParam() == kNeoX
          ? std::vector<std::string>{"embed", "L0H0", "L0H1", "L0H2", "L0.b_O", "M0", "L1H0",
                                     "L1H1", "L1H2", "L1.b_O", "M1", "L2H0", "L2H1", "L2H2",
                                     "L2.b_O", "M2"}
          : std::vector<std::string>{"embed", "pos_embed", "L0H0", "L0H1", "L0H2", "L0.b_O",
                                     "M0", "L1H0", "L1H1", "L1H2", "L1.b_O", "M1", "L2H0",
                                     "L2H1", "L2H2", "L2.b_O", "M2"};
  std::vector<std::string> names;
  for (const Node& n : nodes) names.push_back(n.name);
  EXPECT_EQ(names, want);
  EXPECT_EQ(*FindNode(nodes, "L1H2"), llama || GetParam() == kNeoX ? 8 : 9);
  EXPECT_EQ(nodes[*FindNode(nodes, "L1H2")].layer, 1);
  EXPECT_EQ(nodes[*FindNode(nodes, "L1H2")].head, 2);
  EXPECT_FALSE(FindNode(nodes, "L9H9").ok());
  const Node& l0 = nodes[*FindNode(nodes, "L0H1")];
  // A parallel block's MLP reads resid_pre: the same layer's heads are not earlier than it.
  EXPECT_EQ(l0.IsReadBy(nodes[*FindNode(nodes, "M0")]), GetParam() != kNeoX);
  if (!llama) {
    EXPECT_EQ(nodes[*FindNode(nodes, "L0.b_O")].IsReadBy(nodes[*FindNode(nodes, "M0")]),
              GetParam() != kNeoX);
  }
  EXPECT_TRUE(nodes[*FindNode(nodes, "M0")].IsReadBy(nodes[*FindNode(nodes, "L1H0")]));
  EXPECT_TRUE(l0.IsReadBy(nodes[*FindNode(nodes, "L1H0")]));
  EXPECT_FALSE(l0.IsReadBy(nodes[*FindNode(nodes, "L0H0")]));
  EXPECT_FALSE(nodes[*FindNode(nodes, "M0")].IsReadBy(nodes[*FindNode(nodes, "M0")]));
  EXPECT_TRUE(nodes[0].IsReadBy(nodes[*FindNode(nodes, "L0H0")]));
}

TEST_P(FamilyTest, DlaSumsToLogit) {
  EXPECT_LT(CheckDlaInvariant(model_, kTokens, -1), 1e-5);
  EXPECT_LT(CheckDlaInvariant(model_, kTokens, 4), 1e-5);
}

TEST_P(FamilyTest, BadDlaDirections) {
  EXPECT_FALSE(MakeDlaDirection(model_, -1).ok());
  EXPECT_FALSE(MakeDlaDirection(model_, model_.config.d_vocab).ok());
  EXPECT_FALSE(MakeDlaDirection(model_, 3, 3).ok());
  EXPECT_FALSE(MakeDlaDirection(model_, 3, model_.config.d_vocab).ok());
}

TEST_P(FamilyTest, SurvivalAndPr) {
  ThreadPool pool(1);
  Transformer tf(model_, pool);
  RunResult r = MustRun(tf, kTokens, CacheAll());
  const std::vector<Node> nodes = ListNodes(model_);
  const Node& w = nodes[*FindNode(nodes, "L1H1")];
  auto out = NodeOutputAll(r.store, model_, w);
  ASSERT_TRUE(out.ok());
  auto curve = SurvivalCurve(r.store, model_, w, out->row(3), 3);
  ASSERT_TRUE(curve.ok()) << curve.status();
  // The first point after layer 1's attention: mid1, or post1 in a parallel block.
  const bool parallel = model_.config.parallel_residual;
  ASSERT_EQ(curve->front().point, parallel ? "post1" : "mid1");
  ASSERT_EQ(curve->back().point, absl::StrCat("post", model_.config.n_layers - 1));
  // PR of the residual onto w there = sum of PRs of every node written up to that point.
  auto outs = NodeOutputs(r.store, model_, nodes, 3);
  double sum = 0;
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].WriteStage() <= (parallel ? 3 : 2)) {
      sum += ProjectionRatio(outs->row(n), out->row(3), outs->dim(1));
    }
  }
  EXPECT_NEAR(curve->front().pr, sum, 1e-4 * (1 + std::fabs(sum)));
  const float b[2] = {0, 0}, a[2] = {1, 2}, c[2] = {-2, -4};
  EXPECT_TRUE(std::isnan(ProjectionRatio(a, b, 2)));
  EXPECT_DOUBLE_EQ(ProjectionRatio(c, a, 2), -2.0);
}

TEST_P(FamilyTest, BosSplitSumsToResult) {
  ThreadPool pool(1);
  Transformer tf(model_, pool);
  RunResult r = MustRun(tf, kTokens, CacheAll());
  const int64_t D = model_.config.d_model, H = model_.config.n_heads;
  const Tensor& res = **r.store.Get("blocks.1.attn.hook_result");
  for (int64_t i : {0, 4, 9}) {
    auto split = SplitBos(r.store, model_, 1, 1, i);
    ASSERT_TRUE(split.ok()) << split.status();
    double bos_norm = 0;
    for (int64_t d = 0; d < D; ++d) {
      EXPECT_NEAR(split->from_bos[d] + split->rest[d], res.data[(i * H + 1) * D + d], 1e-5);
      bos_norm += split->from_bos[d] * split->from_bos[d];
      if (i == 0) {
        EXPECT_NEAR(split->rest[d], 0, 1e-5);
      }
    }
    // Layer 1 reads BOS at position i unless BOS is outside its local window.
    const int w = model_.config.window(1);
    if (w == 0 || i < w) {
      EXPECT_GT(bos_norm, 0) << i;
    } else {
      EXPECT_EQ(bos_norm, 0) << i;
    }
  }
}

// Path-corrected DLA equals the logit change of a real rerun in which only the value path
// from the writer through later heads is removed (see path_corrected.h).
TEST_P(FamilyTest, PathCorrectedMatchesIntervention) {
  const ModelConfig& c = model_.config;
  ThreadPool pool(1);
  Transformer tf(model_, pool);
  RunResult clean = MustRun(tf, kTokens, CacheAll());
  const std::vector<Node> nodes = ListNodes(model_);
  const int64_t T = kTokens.size(), D = c.d_model, G = c.n_kv_heads;
  for (const char* name : {"embed", "L0H1", "M0"}) {
    const Node& w = nodes[*FindNode(nodes, name)];
    const Tensor h = *NodeOutputAll(clean.store, model_, w);
    std::vector<int64_t> positions;
    std::vector<DlaDirection> dirs;
    for (int64_t i = 0; i < T; ++i) {
      positions.push_back(i);
      const int tgt = kTokens[(i + 1) % T];
      dirs.push_back(*MakeDlaDirection(model_, tgt, tgt == 2 ? 6 : 2));
    }
    const Tensor& fscale = **clean.store.Get("ln_final.hook_scale");
    auto corrector = PathCorrector::Create(model_, clean.store, positions, dirs, pool);
    ASSERT_TRUE(corrector.ok()) << corrector.status();
    auto pc = corrector->Compute(w, h);
    ASSERT_TRUE(pc.ok()) << pc.status();
    // The actual intervention.
    RunOptions o;
    for (int l = 0; l < c.n_layers; ++l) {
      if (2 * l <= w.WriteStage()) continue;
      const std::string p = absl::StrCat("blocks.", l, ".");
      const Tensor* vin = *clean.store.Get(p + "hook_v_input");
      o.interventions[p + "hook_v_input"] = [vin, &h, T, G, D](Tensor& t) {
        for (int64_t i = 0; i < T; ++i) {
          for (int64_t g = 0; g < G; ++g) {
            for (int64_t d = 0; d < D; ++d) {
              t.data[(i * G + g) * D + d] = vin->data[(i * G + g) * D + d] - h.data[i * D + d];
            }
          }
        }
      };
      for (const char* frozen : {"attn.hook_pattern", "ln1.hook_scale", "hook_mlp_out"}) {
        const Tensor* v = *clean.store.Get(p + frozen);
        o.interventions[p + frozen] = [v](Tensor& t) { t = *v; };
      }
    }
    const Tensor* fs = &fscale;
    o.interventions["ln_final.hook_scale"] = [fs](Tensor& t) { t = *fs; };
    RunResult edited = MustRun(tf, kTokens, o);
    for (int64_t i = 0; i < T; ++i) {
      const double change = LogitOf(edited.logits, i, dirs[i]) - LogitOf(clean.logits, i, dirs[i]);
      double via = 0;
      for (double v : pc->via_heads[i]) via += v;
      EXPECT_NEAR(-change, via, 2e-4 * (1 + std::fabs(via))) << name << " at " << i;
      EXPECT_NEAR(pc->corrected[i], pc->dla[i] + via, 1e-9);
    }
    // Per-head contributions agree with the one-head vector version.
    auto one = ValuePathContribution(model_, clean.store, c.n_layers - 1, 1, h, T - 1);
    ASSERT_TRUE(one.ok());
    const size_t k = pc->later_heads.size() - c.n_heads + 1;
    EXPECT_NEAR(Dla(one->data(), fscale.data[T - 1], dirs[T - 1]), pc->via_heads[T - 1][k],
                1e-4 * (1 + std::fabs(pc->via_heads[T - 1][k])));
  }
}

TEST_P(FamilyTest, Ablations) {
  const ModelConfig& c = model_.config;
  ThreadPool pool(1);
  Transformer tf(model_, pool);
  RunResult clean = MustRun(tf, kTokens, CacheAll());
  const std::vector<Node> nodes = ListNodes(model_);
  std::vector<int64_t> positions = {3, 9};
  std::vector<DlaDirection> dirs = {*MakeDlaDirection(model_, 4, 6),
                                    *MakeDlaDirection(model_, 7)};
  std::vector<int> donor_tokens = {0, 8, 8, 1, 2, 3};
  RunResult scratch;
  RunResult donor = MustRun(tf, donor_tokens, CacheAll());
  for (const Node& n : nodes) {
    const Tensor h = *NodeOutputAll(clean.store, model_, n);
    // Replacing a node with its own clean value changes nothing: the rerun restarts from the
    // clean residual after the node and repeats the clean run's arithmetic exactly.
    auto none = TotalEffect(tf, kTokens, n, h, clean.store, positions, dirs, scratch);
    ASSERT_TRUE(none.ok()) << n.name << ": " << none.status();
    for (double e : *none) EXPECT_EQ(e, 0) << n.name;
    // Zero ablation equals a plain run of a copy of the model whose weights make that one
    // node write nothing (no intervention machinery, so a wrong node or a wrong restart point
    // shows).
    const Tensor zeros({static_cast<int64_t>(kTokens.size()), c.d_model});
    auto zero = TotalEffect(tf, kTokens, n, zeros, clean.store, positions, dirs, scratch);
    ASSERT_TRUE(zero.ok());
    Model silenced = model_;
    SilenceNode(silenced, n);
    Transformer silenced_tf(silenced, pool);
    RunResult manual = MustRun(silenced_tf, kTokens, RunOptions());
    // The ablation as an intervention (AddAblation) in a full run gives the same logits.
    RunOptions full;
    ASSERT_TRUE(AddAblation(model_, n, zeros, full).ok());
    RunResult intervened = MustRun(tf, kTokens, full);
    for (size_t k = 0; k < manual.logits.size(); ++k) {
      ASSERT_NEAR(intervened.logits.data[k], manual.logits.data[k],
                  1e-4 * (1 + std::fabs(manual.logits.data[k]))) << n.name << " at " << k;
    }
    for (size_t k = 0; k < positions.size(); ++k) {
      const double expect = LogitOf(clean.logits, positions[k], dirs[k]) -
                            LogitOf(manual.logits, positions[k], dirs[k]);
      EXPECT_NEAR((*zero)[k], expect, 1e-4 * (1 + std::fabs(expect))) << n.name;
    }
    // Resample from a shorter donor: runs, and is deterministic.
    const Tensor rep = *NodeOutputAll(donor.store, model_, n);
    auto a = TotalEffect(tf, kTokens, n, rep, clean.store, positions, dirs, scratch);
    auto b = TotalEffect(tf, kTokens, n, rep, clean.store, positions, dirs, scratch);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
  EXPECT_FALSE(ParseAblationMode("bogus").ok());
  EXPECT_EQ(*ParseAblationMode("mean"), AblationMode::kMean);
  for (size_t p = 0; p < 20; ++p) {
    EXPECT_NE(PickDonor(5, p, 20), p);
    EXPECT_LT(PickDonor(5, p, 20), 20u);
    EXPECT_EQ(PickDonor(5, p, 20), PickDonor(5, p, 20));
  }
  NodeMean mean(c.n_ctx, c.d_model);
  Tensor ones({2, c.d_model}), threes({3, c.d_model});
  for (float& x : ones.data) x = 1;
  for (float& x : threes.data) x = 3;
  mean.Add(ones);
  mean.Add(threes);
  Tensor m = mean.Mean(4);
  EXPECT_EQ(m.data[0], 2.0f);
  EXPECT_EQ(m.data[2 * c.d_model], 3.0f);
  EXPECT_EQ(m.data[3 * c.d_model], 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyTest,
                         ::testing::Values(kGelu, kLlama, kNeoX, kNeo, kQwen),
                         [](const auto& info) { return FamilyName(info.param); });

TEST(RealModel, Aidreams260KDlaInvariant) {
  MEMLENS_REQUIRE_SHARED();
  auto model = LoadModel(SharedDir() + "/models/aidreams260K/aidreams260K.bin");
  ASSERT_TRUE(model.ok()) << model.status();
  // "I dream of" followed by the greedy continuation (shared/models/README.md).
  const std::vector<int> tokens = {1, 303, 281, 269, 435, 447, 275, 429, 464, 448, 464};
  EXPECT_LT(CheckDlaInvariant(*model, tokens, -1), 1e-5);
  EXPECT_LT(CheckDlaInvariant(*model, tokens, 448), 1e-5);
}

}  // namespace
}  // namespace memlens

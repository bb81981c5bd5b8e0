// Every hook and the logits of the one forward pass on the families' quirks, against a float64
// reference written here from the families' HF modeling code (not from core/model/forward.cc):
//   GPT-NeoX (modeling_gpt_neox.py): LayerNorm, exact GELU, rotate_half rotary on the first
//     rotary_ndims of each head (the rest passed through), parallel residual
//     h + attn(ln1(h)) + mlp(ln2(h)), no lm-head bias;
//   GPT-Neo (modeling_gpt_neo.py): learned positions, no 1/sqrt(d_head) scaling, alternating
//     global / local layers (key j visible from query i when 0 <= i - j < window_size),
//     q/k/v without bias, out_proj and MLP with bias, gelu_new;
//   LLaMA (modeling_llama.py): RMSNorm, SwiGLU, grouped-query attention (repeat_kv),
//     rotate_half, rope_scaling linear (positions / factor);
//   Qwen2 (modeling_qwen2.py): as LLaMA with q/k/v biases and none on o_proj;
//   Mistral (modeling_mistral.py): as LLaMA with sliding_window on every layer.
// Weights are random in memlens's layout (built in the test: the HF loaders fill these quirks
// in core/model/load); prompts are longer than every window. Hooks follow forward.h's
// conventions (q/k after rotary; LayerNorm's hook_normalized after w and b, RMSNorm's before w).
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/model/forward.h"
#include "gtest/gtest.h"
#include "tests/random_model.h"

namespace memlens {
namespace {

using Mat = std::vector<double>;  // row-major, shapes implied

struct Ref {
  std::map<std::string, Mat> hooks;
  Mat logits;
};

// x [T, D] @ W [D, N] (+ b).
Mat Lin(const Mat& x, int T, int D, const Tensor& W, const Tensor& b) {
  const int N = W.dim(1);
  Mat y(static_cast<size_t>(T) * N, 0.0);
  for (int t = 0; t < T; ++t) {
    for (int n = 0; n < N; ++n) {
      double s = b.empty() ? 0.0 : b.data[n];
      for (int d = 0; d < D; ++d) s += x[t * D + d] * W.data[static_cast<size_t>(d) * N + n];
      y[t * N + n] = s;
    }
  }
  return y;
}

// Records hook_scale [T] and hook_normalized [T, D]; `out` is what the next layer reads.
void NormRef(const ModelConfig& c, const Mat& x, int T, const Tensor& w, const Tensor& b,
             const std::string& prefix, Ref& r, Mat& out) {
  const int D = c.d_model;
  Mat scale(T), hooked(static_cast<size_t>(T) * D);
  out.assign(static_cast<size_t>(T) * D, 0.0);
  for (int t = 0; t < T; ++t) {
    const double* row = &x[t * D];
    double mean = 0, sq = 0;
    if (c.norm == NormKind::kLayerNorm) {
      for (int d = 0; d < D; ++d) mean += row[d];
      mean /= D;
    }
    for (int d = 0; d < D; ++d) sq += (row[d] - mean) * (row[d] - mean);
    scale[t] = std::sqrt(sq / D + c.eps);
    for (int d = 0; d < D; ++d) {
      const double n = (row[d] - mean) / scale[t];
      const double o = n * w.data[d] + (b.empty() ? 0.0 : b.data[d]);
      out[t * D + d] = o;
      hooked[t * D + d] = c.norm == NormKind::kLayerNorm ? o : n;
    }
  }
  r.hooks[prefix + "hook_scale"] = scale;
  r.hooks[prefix + "hook_normalized"] = hooked;
}

// HF rotary on x [T, n, dh] in place: cos/sin of (pos / factor) * theta^(-2i/rot) for i < rot/2,
// duplicated over the two halves (emb = cat(freqs, freqs)); q_rot * cos + rotate_half(q_rot) *
// sin on the first rot elements. llama2.c (interleaved) pairs (2i, 2i+1) instead.
void RotaryRef(const ModelConfig& c, Mat& x, int T, int n) {
  const int dh = c.d_head, rot = c.rotary_dim > 0 ? c.rotary_dim : dh, half = rot / 2;
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < n; ++h) {
      double* p = &x[(static_cast<size_t>(t) * n + h) * dh];
      std::vector<double> in(p, p + rot);
      for (int e = 0; e < rot; ++e) {
        const int i = c.rotary_style == RotaryStyle::kHalves ? e % half : e / 2;
        const double ang = (t / static_cast<double>(c.rope_scale)) *
                           std::pow(static_cast<double>(c.rope_theta), -2.0 * i / rot);
        double rotated;  // rotate_half(x)[e] or the interleaved partner
        if (c.rotary_style == RotaryStyle::kHalves) {
          rotated = e < half ? -in[e + half] : in[e - half];
        } else {
          rotated = e % 2 == 0 ? -in[e + 1] : in[e - 1];
        }
        p[e] = in[e] * std::cos(ang) + rotated * std::sin(ang);
      }
    }
  }
}

double Gelu(const ModelConfig& c, double x) {
  if (c.act == ActKind::kGeluErf) return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

Ref Reference(const Model& m, const std::vector<int>& tokens) {
  const ModelConfig& c = m.config;
  const Weights& W = m.weights;
  const int T = tokens.size(), D = c.d_model, H = c.n_heads, G = c.n_kv_heads, dh = c.d_head,
            F = c.d_mlp;
  Ref r;
  Mat h(static_cast<size_t>(T) * D);
  Mat embed(h.size()), pos(h.size(), 0.0);
  for (int t = 0; t < T; ++t) {
    for (int d = 0; d < D; ++d) {
      embed[t * D + d] = W.W_E.data[static_cast<size_t>(tokens[t]) * D + d];
      if (c.pos == PosKind::kLearned) pos[t * D + d] = W.W_pos.data[t * D + d];
      h[t * D + d] = embed[t * D + d] + pos[t * D + d];
    }
  }
  r.hooks["hook_embed"] = embed;
  if (c.pos == PosKind::kLearned) r.hooks["hook_pos_embed"] = pos;
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = W.layers[l];
    const std::string p = absl::StrCat("blocks.", l, ".");
    r.hooks[p + "hook_resid_pre"] = h;
    Mat v_input(static_cast<size_t>(T) * G * D);
    for (int t = 0; t < T; ++t) {
      for (int g = 0; g < G; ++g) {
        for (int d = 0; d < D; ++d) v_input[(t * G + g) * D + d] = h[t * D + d];
      }
    }
    r.hooks[p + "hook_v_input"] = v_input;
    Mat x;
    NormRef(c, h, T, L.ln1_w, L.ln1_b, p + "ln1.", r, x);
    Mat q = Lin(x, T, D, L.W_Q, L.b_Q), k = Lin(x, T, D, L.W_K, L.b_K),
        v = Lin(x, T, D, L.W_V, L.b_V);
    r.hooks[p + "attn.hook_q"] = q;  // TransformerLens: before rotary
    r.hooks[p + "attn.hook_k"] = k;
    r.hooks[p + "attn.hook_v"] = v;
    if (c.pos == PosKind::kRotary) {
      RotaryRef(c, q, T, H);
      RotaryRef(c, k, T, G);
      r.hooks[p + "attn.hook_rot_q"] = q;
      r.hooks[p + "attn.hook_rot_k"] = k;
    }
    const int w = c.window(l);
    Mat scores(static_cast<size_t>(H) * T * T), pattern(scores.size(), 0.0);
    Mat z(static_cast<size_t>(T) * H * dh, 0.0);
    for (int hh = 0; hh < H; ++hh) {
      const int g = hh / (H / G);  // repeat_kv
      for (int i = 0; i < T; ++i) {
        double max = -INFINITY;
        for (int j = 0; j < T; ++j) {
          double s = -INFINITY;
          if (j <= i && (w == 0 || i - j < w)) {
            s = 0;
            for (int e = 0; e < dh; ++e) s += q[(i * H + hh) * dh + e] * k[(j * G + g) * dh + e];
            s /= c.attn_scale;
          }
          scores[(hh * T + i) * T + j] = s;
          max = std::max(max, s);
        }
        double sum = 0;
        for (int j = 0; j < T; ++j) sum += std::exp(scores[(hh * T + i) * T + j] - max);
        for (int j = 0; j < T; ++j) {
          const double a = std::exp(scores[(hh * T + i) * T + j] - max) / sum;
          pattern[(hh * T + i) * T + j] = a;
          for (int e = 0; e < dh; ++e) z[(i * H + hh) * dh + e] += a * v[(j * G + g) * dh + e];
        }
      }
    }
    r.hooks[p + "attn.hook_attn_scores"] = scores;
    r.hooks[p + "attn.hook_pattern"] = pattern;
    r.hooks[p + "attn.hook_z"] = z;
    Mat result(static_cast<size_t>(T) * H * D, 0.0), attn_out(static_cast<size_t>(T) * D, 0.0);
    for (int t = 0; t < T; ++t) {
      for (int hh = 0; hh < H; ++hh) {
        for (int d = 0; d < D; ++d) {
          double s = 0;
          for (int e = 0; e < dh; ++e) {
            s += z[(t * H + hh) * dh + e] * L.W_O.data[static_cast<size_t>(hh * dh + e) * D + d];
          }
          result[(t * H + hh) * D + d] = s;
          attn_out[t * D + d] += s;
        }
      }
      for (int d = 0; d < D; ++d) attn_out[t * D + d] += L.b_O.empty() ? 0.0 : L.b_O.data[d];
    }
    r.hooks[p + "attn.hook_result"] = result;
    r.hooks[p + "hook_attn_out"] = attn_out;
    Mat mid = h;
    for (size_t i = 0; i < mid.size(); ++i) mid[i] += attn_out[i];
    if (!c.parallel_residual) r.hooks[p + "hook_resid_mid"] = mid;
    Mat x2;  // GPT-NeoX parallel: mlp(ln2(h)) reads the block's input
    NormRef(c, c.parallel_residual ? h : mid, T, L.ln2_w, L.ln2_b, p + "ln2.", r, x2);
    Mat pre = Lin(x2, T, D, c.act == ActKind::kSwiGLU ? L.W_gate : L.W_in, L.b_in), post(pre);
    r.hooks[p + "mlp.hook_pre"] = pre;
    if (c.act == ActKind::kSwiGLU) {
      const Mat up = Lin(x2, T, D, L.W_in, Tensor());
      r.hooks[p + "mlp.hook_pre_linear"] = up;
      for (size_t i = 0; i < post.size(); ++i) post[i] = pre[i] / (1 + std::exp(-pre[i])) * up[i];
    } else {
      for (double& y : post) y = Gelu(c, y);
    }
    r.hooks[p + "mlp.hook_post"] = post;
    const Mat mlp_out = Lin(post, T, F, L.W_out, L.b_out);
    r.hooks[p + "hook_mlp_out"] = mlp_out;
    for (size_t i = 0; i < h.size(); ++i) h[i] = mid[i] + mlp_out[i];
    r.hooks[p + "hook_resid_post"] = h;
  }
  Mat x;
  NormRef(c, h, T, W.ln_final_w, W.ln_final_b, "ln_final.", r, x);
  r.logits = Lin(x, T, D, W.W_U, W.b_U);
  return r;
}

ModelConfig Family(const std::string& name) {
  ModelConfig c = name == "neox" || name == "neo" ? SmallGeluConfig() : SmallLlamaConfig();
  c.name = name;
  c.n_ctx = 20;
  if (name == "neox") {
    c.pos = PosKind::kRotary;
    c.rotary_style = RotaryStyle::kHalves;
    c.rotary_dim = 2;  // rotary_pct 0.25 of d_head 8, as Pythia
    c.rope_theta = 10000;
    c.parallel_residual = true;
    c.bias_unembed = false;
  } else if (name == "neo") {
    c.act = ActKind::kGeluTanh;
    c.attn_scale = 1.0f;
    c.attn_window = {0, 4, 0};
    c.bias_qkv = false;
    c.bias_unembed = false;
  } else {
    c.rotary_style = RotaryStyle::kHalves;
    if (name == "llama") c.rope_scale = 2.0f;
    if (name == "qwen2") c.bias_qkv = true;
    if (name == "mistral") c.attn_window = {4, 4};
    if (name == "llama2c") c.rotary_style = RotaryStyle::kInterleaved;
  }
  return c;
}

class FamilyReferenceTest : public ::testing::TestWithParam<std::string> {};

// Every hook within 1e-4 of the tensor's largest magnitude (float32 through a few layers of a
// tiny model carries ~1e-6; a wrong quirk moves values by O(1)).
TEST_P(FamilyReferenceTest, EveryHookAndLogits) {
  const ModelConfig c = Family(GetParam());
  ASSERT_TRUE(c.Validate().ok()) << c.Validate();
  const Model m = RandomModel(c, 31, 0.4f);
  const std::vector<int> tokens = {1, 7, 3, 22, 9, 9, 2, 11, 20, 0, 4, 8, 13, 5, 17};
  ASSERT_GT(tokens.size(), 4u * 3);  // several windows long
  ThreadPool pool(2);
  Transformer tf(m, pool);
  RunOptions o;
  o.cache = HookFilter::All();
  auto run = tf.Run(tokens, o);
  ASSERT_TRUE(run.ok()) << run.status();
  const Ref ref = Reference(m, tokens);
  double worst = 0;
  std::string worst_hook;
  size_t compared = 0;
  for (const std::string& name : AllHookNames(c)) {
    auto got = run->store.Get(name);
    ASSERT_TRUE(got.ok()) << name;
    auto it = ref.hooks.find(name);
    ASSERT_NE(it, ref.hooks.end()) << "the reference has no " << name;
    const Mat& want = it->second;
    ASSERT_EQ((*got)->size(), want.size()) << name;
    double scale = 1;
    for (double x : want) {
      if (std::isfinite(x)) scale = std::max(scale, std::fabs(x));
    }
    for (size_t i = 0; i < want.size(); ++i) {
      const double g = (*got)->data[i];
      if (std::isinf(want[i])) {
        ASSERT_EQ(g, want[i]) << name << " at " << i;
        continue;
      }
      const double err = std::fabs(g - want[i]) / scale;
      ASSERT_LT(err, 1e-4) << name << " at " << i << ": " << g << " vs " << want[i];
      if (err > worst) {
        worst = err;
        worst_hook = name;
      }
    }
    ++compared;
  }
  EXPECT_EQ(compared, ref.hooks.size());  // no reference hook left unchecked
  double lscale = 1;
  for (double x : ref.logits) lscale = std::max(lscale, std::fabs(x));
  for (size_t i = 0; i < ref.logits.size(); ++i) {
    const double err = std::fabs(run->logits.data[i] - ref.logits[i]) / lscale;
    ASSERT_LT(err, 1e-4) << "logits at " << i;
    worst = std::max(worst, err);
  }
  std::printf("%s: worst relative error %.2g (%s)\n", GetParam().c_str(), worst,
              worst_hook.c_str());
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyReferenceTest,
                         ::testing::Values("neox", "neo", "llama", "qwen2", "mistral", "llama2c"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace memlens

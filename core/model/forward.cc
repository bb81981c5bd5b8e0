#include "core/model/forward.h"

#include <cmath>
#include <cstring>
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/ops/ops.h"
#include "core/ops/tiling.h"

namespace memlens {
namespace {

// Query rows per block of attention that no hook looks inside (see Run). A multiple of the
// kernels' row tile, so the tiles, and so the numbers, are those of one call over all rows.
constexpr int64_t kQueryRows = 192;
static_assert(kQueryRows % ops::kMR == 0, "query blocks must start on a row tile");

// Rows per block of an MLP that no hook looks inside (see Run): [64, d_mlp] is 0.5 MB for
// gelu-4l. MatMul keeps its packed path and its speed there (ops_benchmark, 2 threads, MLP
// shapes: 53-75 GFLOP/s at 64, 128 and 1024 rows alike).
constexpr int64_t kMlpRows = 64;

// Calls the intervention for `name` (if any) and records the value (if the cache wants it).
// Keeps the cost of an unwanted hook to one map lookup and one glob test.
class HookSite {
 public:
  HookSite(const RunOptions& options, ActivationStore* store) : options_(options), store_(store) {}

  // True when someone will look at or edit this hook, i.e. when an optional hook (like
  // hook_result) must be computed at all.
  bool Wanted(const std::string& name) const {
    return Edited(name) || options_.cache.Matches(name);
  }
  bool Edited(const std::string& name) const { return options_.interventions.count(name) > 0; }

  absl::Status Apply(const std::string& name, Tensor& value) {
    auto it = options_.interventions.find(name);
    if (it != options_.interventions.end()) {
      const std::vector<int64_t> shape = value.shape;
      const size_t size = value.size();
      it->second(value);
      if (value.shape != shape || value.size() != size) {
        return absl::InvalidArgumentError(
            absl::StrCat("intervention on ", name, " changed its shape from ", ShapeString(shape),
                         " to ", ShapeString(value.shape)));
      }
    }
    if (options_.cache.Matches(name)) {
      store_->PutCopy(name, value);
      recorded_.push_back(name);
    }
    return absl::OkStatus();
  }

  // Forgets what a previous run left in the store but this one did not record.
  void DropStale() {
    std::sort(recorded_.begin(), recorded_.end());
    store_->RetainOnly(recorded_);
  }

 private:
  const RunOptions& options_;
  ActivationStore* store_;
  std::vector<std::string> recorded_;
};

// Resizes `t` to `shape`, keeping its memory when the element count allows. Contents are
// unspecified (callers overwrite every element).
Tensor& Shaped(Tensor& t, std::vector<int64_t> shape) {
  t.data.resize(Tensor::NumElements(shape));
  t.shape = std::move(shape);
  return t;
}

#define MEMLENS_RETURN_IF_ERROR(expr)         \
  do {                                        \
    if (absl::Status s_ = (expr); !s_.ok()) { \
      return s_;                              \
    }                                         \
  } while (0)

const float* OrNull(const Tensor& t) { return t.empty() ? nullptr : t.ptr(); }

// x[T, D] @ W[D, N] + b -> out (reshaped by the caller).
void Project(const Tensor& x, const Tensor& W, const Tensor& b, Tensor& out, ThreadPool& pool) {
  ops::MatMul(x.ptr(), W.ptr(), OrNull(b), out.ptr(), x.dim(0), W.dim(0), W.dim(1), pool);
}

// The pre-norm of a block or the final norm: hook_scale then hook_normalized. For RMSNorm
// TransformerLens records hook_normalized before multiplying by w; we do the same.
absl::Status Norm(const ModelConfig& c, const Tensor& x, const Tensor& w, const Tensor& b,
                  const std::string& prefix, HookSite& hooks, Tensor& scale, Tensor& out) {
  const size_t T = x.dim(0), D = x.dim(1);
  Shaped(scale, {static_cast<int64_t>(T), 1});
  Shaped(out, {static_cast<int64_t>(T), static_cast<int64_t>(D)});
  if (c.norm == NormKind::kLayerNorm) {
    ops::LayerNormScale(x.ptr(), T, D, c.eps, scale.ptr());
    MEMLENS_RETURN_IF_ERROR(hooks.Apply(prefix + "hook_scale", scale));
    ops::LayerNormApply(x.ptr(), scale.ptr(), w.ptr(), OrNull(b), T, D, out.ptr());
    return hooks.Apply(prefix + "hook_normalized", out);
  }
  ops::RMSNormScale(x.ptr(), T, D, c.eps, scale.ptr());
  MEMLENS_RETURN_IF_ERROR(hooks.Apply(prefix + "hook_scale", scale));
  ops::RMSNormApply(x.ptr(), scale.ptr(), nullptr, T, D, out.ptr());
  MEMLENS_RETURN_IF_ERROR(hooks.Apply(prefix + "hook_normalized", out));
  for (size_t t = 0; t < T; ++t) {
    float* row = out.row(t);
    for (size_t d = 0; d < D; ++d) row[d] *= w.data[d];
  }
  return absl::OkStatus();
}

// hook_v_input [T, G, D]: the residual stream copied once per kv head.
Tensor PerHeadInput(const Tensor& resid, int64_t G) {
  const int64_t T = resid.dim(0), D = resid.dim(1);
  Tensor v_input({T, G, D});
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t g = 0; g < G; ++g) {
      std::memcpy(v_input.ptr() + (t * G + g) * D, resid.row(t), D * sizeof(float));
    }
  }
  return v_input;
}

// The values computed from per-head inputs, each normalized with ln1's scale of the clean
// residual (frozen), so editing one head's input changes only that head's values.
void ValuesFromInput(const ModelConfig& c, const LayerWeights& L, const Tensor& v_input,
                     const Tensor& ln1_scale, Tensor& v, ThreadPool& pool) {
  const int64_t T = v_input.dim(0), G = v_input.dim(1), D = v_input.dim(2), dh = c.d_head;
  Tensor head_in({T, D}), normed({T, D}), w_v({D, dh}), head_v({T, dh});
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(head_in.row(t), v_input.ptr() + (t * G + g) * D, D * sizeof(float));
    }
    if (c.norm == NormKind::kLayerNorm) {
      ops::LayerNormApply(head_in.ptr(), ln1_scale.ptr(), L.ln1_w.ptr(), OrNull(L.ln1_b), T, D,
                          normed.ptr());
    } else {
      ops::RMSNormApply(head_in.ptr(), ln1_scale.ptr(), L.ln1_w.ptr(), T, D, normed.ptr());
    }
    for (int64_t d = 0; d < D; ++d) {
      std::memcpy(w_v.row(d), L.W_V.row(d) + g * dh, dh * sizeof(float));
    }
    ops::MatMul(normed.ptr(), w_v.ptr(), L.b_V.empty() ? nullptr : L.b_V.ptr() + g * dh,
                head_v.ptr(), T, D, dh, pool);
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(v.ptr() + t * G * dh + g * dh, head_v.row(t), dh * sizeof(float));
    }
  }
}

// hook_result[t, h, :] = z[t, h, :] @ W_O[h]: the per-head outputs, without b_O.
void PerHeadResult(const ModelConfig& c, const Tensor& z, const Tensor& W_O, Tensor& result,
                   ThreadPool& pool) {
  const int64_t T = z.dim(0), H = c.n_heads, dh = c.d_head, D = c.d_model;
  Tensor z_h({T, dh}), out_h({T, D});
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(z_h.row(t), z.ptr() + (t * H + h) * dh, dh * sizeof(float));
    }
    ops::MatMul(z_h.ptr(), W_O.ptr() + h * dh * D, nullptr, out_h.ptr(), T, dh, D, pool);
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(result.ptr() + (t * H + h) * D, out_h.row(t), D * sizeof(float));
    }
  }
}

std::string Block(int l) { return absl::StrCat("blocks.", l, "."); }

}  // namespace

std::vector<std::string> AllHookNames(const ModelConfig& c) {
  std::vector<std::string> names = {"hook_embed"};
  if (c.pos == PosKind::kLearned) names.push_back("hook_pos_embed");
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = Block(l);
    for (const char* h :
         {"hook_resid_pre", "ln1.hook_scale", "ln1.hook_normalized", "hook_v_input",
          "attn.hook_q", "attn.hook_k", "attn.hook_v"}) {
      names.push_back(p + h);
    }
    if (c.pos == PosKind::kRotary) {
      names.push_back(p + "attn.hook_rot_q");
      names.push_back(p + "attn.hook_rot_k");
    }
    for (const char* h : {"attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z",
                          "attn.hook_result", "hook_attn_out"}) {
      names.push_back(p + h);
    }
    if (!c.parallel_residual) names.push_back(p + "hook_resid_mid");
    for (const char* h : {"ln2.hook_scale", "ln2.hook_normalized", "mlp.hook_pre"}) {
      names.push_back(p + h);
    }
    if (c.act == ActKind::kSwiGLU) names.push_back(p + "mlp.hook_pre_linear");
    for (const char* h : {"mlp.hook_post", "hook_mlp_out", "hook_resid_post"}) {
      names.push_back(p + h);
    }
  }
  names.push_back("ln_final.hook_scale");
  names.push_back("ln_final.hook_normalized");
  return names;
}

std::vector<int64_t> HookShape(const ModelConfig& c, const std::string& hook, int64_t T) {
  const std::vector<std::string> all = AllHookNames(c);
  if (std::find(all.begin(), all.end(), hook) == all.end()) return {};
  auto ends = [&](absl::string_view suffix) { return absl::EndsWith(hook, suffix); };
  const int64_t D = c.d_model, H = c.n_heads, G = c.n_kv_heads, dh = c.d_head, F = c.d_mlp;
  if (ends("hook_scale")) return {T, 1};
  if (ends("hook_q") || ends("hook_rot_q") || ends("hook_z")) return {T, H, dh};
  if (ends("hook_k") || ends("hook_rot_k") || ends("hook_v")) return {T, G, dh};
  if (ends("hook_attn_scores") || ends("hook_pattern")) return {H, T, T};
  if (ends("hook_result")) return {T, H, D};
  if (ends("hook_v_input")) return {T, G, D};
  if (ends("mlp.hook_pre") || ends("hook_pre_linear") || ends("mlp.hook_post")) return {T, F};
  return {T, D};
}

size_t CacheBytes(const ModelConfig& config, const HookFilter& filter, int64_t T) {
  size_t bytes = 0;
  for (const std::string& hook : AllHookNames(config)) {
    if (filter.Matches(hook)) bytes += Tensor::NumElements(HookShape(config, hook, T)) * sizeof(float);
  }
  return bytes;
}

std::string Megabytes(size_t bytes) { return absl::StrFormat("%.3g MB", bytes / 1048576.0); }

absl::Status CheckCacheFits(const ModelConfig& c, const HookFilter& filter, int64_t T,
                            size_t limit_bytes) {
  const size_t need = CacheBytes(c, filter, T);
  if (need <= limit_bytes) return absl::OkStatus();
  // Name the biggest kinds of hook (summed over layers) so the user knows what to filter.
  std::map<std::string, size_t> by_kind;
  for (const std::string& hook : AllHookNames(c)) {
    if (!filter.Matches(hook)) continue;
    std::string kind = hook;
    if (absl::StartsWith(hook, "blocks.")) kind = "blocks.*." + hook.substr(hook.find('.', 7) + 1);
    by_kind[kind] += Tensor::NumElements(HookShape(c, hook, T)) * sizeof(float);
  }
  std::vector<std::pair<size_t, std::string>> largest;
  for (const auto& [kind, bytes] : by_kind) largest.push_back({bytes, kind});
  std::sort(largest.rbegin(), largest.rend());
  std::string top;
  for (size_t i = 0; i < largest.size() && i < 3; ++i) {
    absl::StrAppend(&top, i ? ", " : "", largest[i].second, " ", Megabytes(largest[i].first));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "caching the requested hooks for ", T, " tokens needs ", Megabytes(need),
      ", more than the limit of ", Megabytes(limit_bytes),
      " (--max_memory); filter them with --hooks (largest: ", top, ") or raise --max_memory"));
}

absl::StatusOr<RunResult> Transformer::Run(absl::Span<const int> tokens,
                                           const RunOptions& options) const {
  RunResult result;
  if (absl::Status s = RunInto(tokens, options, result); !s.ok()) return s;
  return result;
}

absl::Status Transformer::RunInto(absl::Span<const int> tokens, const RunOptions& options,
                                  RunResult& result) const {
  const ModelConfig& c = model_.config;
  const Weights& W = model_.weights;
  const int64_t T = tokens.size(), D = c.d_model, H = c.n_heads, G = c.n_kv_heads,
                dh = c.d_head, F = c.d_mlp, V = c.d_vocab;
  if (T == 0) return absl::InvalidArgumentError("no input tokens");
  if (T > c.n_ctx) {
    return absl::InvalidArgumentError(absl::StrCat(T, " tokens exceed the model's context of ",
                                                   c.n_ctx, " (n_ctx)"));
  }
  for (int64_t i = 0; i < T; ++i) {
    if (tokens[i] < 0 || tokens[i] >= V) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", tokens[i], " at position ", i,
                                                     " is outside the vocabulary [0, ", V, ")"));
    }
  }
  if (!options.interventions.empty()) {
    const std::vector<std::string> all = AllHookNames(c);
    const std::set<std::string> known(all.begin(), all.end());
    for (const auto& [name, fn] : options.interventions) {
      if (!known.count(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("intervention on unknown hook '", name, "'"));
      }
    }
  }
  if (options.start_layer < 0 || options.start_layer > c.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("start_layer ", options.start_layer,
                                                   " is outside [0, ", c.n_layers, "]"));
  }

  if (options.start_at_mid &&
      (options.start_resid == nullptr || options.start_layer >= c.n_layers)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rerunning from blocks.", options.start_layer,
        ".hook_resid_mid needs a residual and a layer below ", c.n_layers));
  }
  if (options.start_at_mid && c.parallel_residual) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rerunning from blocks.", options.start_layer, ".hook_resid_mid: this model's blocks are "
        "parallel (attention and MLP both read hook_resid_pre), so there is no resid_mid"));
  }
  const ops::RotaryParams rotary = {static_cast<size_t>(c.rotary_elems()),
                                    c.rotary_style == RotaryStyle::kHalves, c.rope_theta,
                                    c.rope_scale};

  HookSite hooks(options, &result.store);
  enum Buffer { kResid, kScale, kNormed, kQ, kK, kV, kScores, kAttnOut, kPerHead,
                kMlpPre, kMlpLin, kMlpOut, kPos, kGroupQ, kGroupK, kGroupV, kGroupZ, kNumBuffers };
  std::vector<Tensor>& buf = result.scratch;
  buf.resize(kNumBuffers);
  Tensor& resid = Shaped(buf[kResid], {T, D});
  if (options.start_layer > 0 || options.start_resid != nullptr) {
    if (options.start_resid == nullptr ||
        options.start_resid->shape != std::vector<int64_t>{T, D}) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rerunning from layer ", options.start_layer, " needs a residual of shape ",
          ShapeString({T, D}), ", got ",
          options.start_resid ? ShapeString(options.start_resid->shape) : "none"));
    }
    resid.data = options.start_resid->data;
  } else {
    // The embedding is gathered straight into the residual stream (hook_embed is the residual
    // at that point), and the positions added from W_pos unless a hook wants them as a tensor.
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(resid.row(t), W.W_E.row(tokens[t]), D * sizeof(float));
    }
    MEMLENS_RETURN_IF_ERROR(hooks.Apply("hook_embed", resid));
    if (c.pos == PosKind::kLearned) {
      if (hooks.Wanted("hook_pos_embed")) {
        Tensor& pos = Shaped(buf[kPos], {T, D});
        std::memcpy(pos.ptr(), W.W_pos.ptr(), T * D * sizeof(float));
        MEMLENS_RETURN_IF_ERROR(hooks.Apply("hook_pos_embed", pos));
        ops::Add(pos.ptr(), resid.ptr(), T * D);
      } else {
        ops::Add(W.W_pos.ptr(), resid.ptr(), T * D);
      }
    }
  }

  Tensor &scale = buf[kScale], &normed = Shaped(buf[kNormed], {T, D}),
         &q = Shaped(buf[kQ], {T, H, dh}), &k = Shaped(buf[kK], {T, G, dh}),
         &v = Shaped(buf[kV], {T, G, dh}), &scores = buf[kScores], &mlp_pre = buf[kMlpPre],
         &mlp_lin = buf[kMlpLin], &mlp_out = buf[kMlpOut];
  // Buffers whose lives do not overlap share memory. z takes q's: a head's queries are used
  // (or copied out with their group) before its z is written. Outside parallel blocks,
  // attn_out takes normed's: ln1's output is used up by the projections, and attn_out is in
  // the residual before ln2 writes normed again.
  Tensor& z = q;
  Tensor& attn_out = c.parallel_residual ? Shaped(buf[kAttnOut], {T, D}) : normed;
  for (int l = options.start_layer; l < c.n_layers; ++l) {
    const LayerWeights& L = W.layers[l];
    const std::string p = Block(l);
    if (l > options.start_layer || !options.start_at_mid) {  // attention
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "hook_resid_pre", resid));

      // Attention.
      MEMLENS_RETURN_IF_ERROR(Norm(c, resid, L.ln1_w, L.ln1_b, p + "ln1.", hooks, scale, normed));
      Project(normed, L.W_Q, L.b_Q, q, pool_);
      Project(normed, L.W_K, L.b_K, k, pool_);
      // As with hook_result: the value path reads hook_v_input only when someone edits it.
      if (hooks.Wanted(p + "hook_v_input")) {
        Tensor v_input = PerHeadInput(resid, G);
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "hook_v_input", v_input));
        if (hooks.Edited(p + "hook_v_input")) ValuesFromInput(c, L, v_input, scale, v, pool_);
      }
      if (!hooks.Edited(p + "hook_v_input")) Project(normed, L.W_V, L.b_V, v, pool_);
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_q", q));
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_k", k));
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_v", v));
      if (c.pos == PosKind::kRotary) {  // TransformerLens: hook_q/hook_k before, hook_rot_* after
        ops::Rope(q.ptr(), T, H, dh, 0, rotary);
        ops::Rope(k.ptr(), T, G, dh, 0, rotary);
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_rot_q", q));
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_rot_k", k));
      }
      if (hooks.Wanted(p + "attn.hook_attn_scores") || hooks.Wanted(p + "attn.hook_pattern")) {
        Shaped(scores, {H, T, T});
        ops::AttentionScores(q.ptr(), k.ptr(), T, H, G, dh, c.attn_scale, c.window(l),
                             scores.ptr(), pool_);
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_attn_scores", scores));
        ops::Softmax(scores.ptr(), H * T, T, pool_);  // scores now hold the pattern
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_pattern", scores));
        ops::AttentionMix(scores.ptr(), v.ptr(), T, H, G, dh, c.window(l), z.ptr(), pool_);
      } else {
        // Nobody looks at the [H, T, T] scores: one key/value head's group of H / G heads at
        // a time, so the scores take G times less memory (at T = 1024, 4 MB instead of 32 for
        // 8 heads; Pythia-160M at T = 2048: 17 MB instead of 201). Same kernels, same numbers.
        // Within a group, queries go kQueryRows at a time: the scores take [H/G, kQueryRows, T]
        // (0.8 MB at T = 1024) instead of [H/G, T, T].
        const int64_t hpg = H / G;
        Tensor &gq = Shaped(buf[kGroupQ], {T, hpg, dh}), &gk = Shaped(buf[kGroupK], {T, 1, dh}),
               &gv = Shaped(buf[kGroupV], {T, 1, dh}), &gz = Shaped(buf[kGroupZ], {T, hpg, dh});
        Shaped(scores, {hpg, std::min(T, kQueryRows), T});
        const size_t row = hpg * dh * sizeof(float);
        for (int64_t g = 0; g < G; ++g) {
          for (int64_t t = 0; t < T; ++t) {
            std::memcpy(gq.ptr() + t * hpg * dh, q.ptr() + (t * H + g * hpg) * dh, row);
            std::memcpy(gk.ptr() + t * dh, k.ptr() + (t * G + g) * dh, dh * sizeof(float));
            std::memcpy(gv.ptr() + t * dh, v.ptr() + (t * G + g) * dh, dh * sizeof(float));
          }
          for (int64_t q0 = 0; q0 < T; q0 += kQueryRows) {
            const int64_t q1 = std::min(T, q0 + kQueryRows);
            ops::AttentionScores(gq.ptr() + q0 * hpg * dh, gk.ptr(), q1, hpg, 1, dh,
                                 c.attn_scale, c.window(l), scores.ptr(), pool_, q0);
            ops::Softmax(scores.ptr(), hpg * (q1 - q0), q1, pool_);
            ops::AttentionMix(scores.ptr(), gv.ptr(), q1, hpg, 1, dh, c.window(l),
                              gz.ptr() + q0 * hpg * dh, pool_, q0);
          }
          for (int64_t t = 0; t < T; ++t) {
            std::memcpy(z.ptr() + (t * H + g * hpg) * dh, gz.ptr() + t * hpg * dh, row);
          }
        }
      }
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_z", z));
      // Recording a hook must not change the numbers, so attn_out is the fused projection
      // unless someone edits the per-head results; then it is their sum, so the edit reaches it.
      Tensor& per_head = buf[kPerHead];
      if (hooks.Wanted(p + "attn.hook_result")) {
        Shaped(per_head, {T, H, D});
        PerHeadResult(c, z, L.W_O, per_head, pool_);
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "attn.hook_result", per_head));
      }
      if (hooks.Edited(p + "attn.hook_result")) {
        for (int64_t t = 0; t < T; ++t) {
          float* out = attn_out.row(t);
          if (L.b_O.empty()) {
            std::fill(out, out + D, 0.0f);
          } else {
            std::memcpy(out, L.b_O.ptr(), D * sizeof(float));
          }
          for (int64_t h = 0; h < H; ++h) ops::Add(per_head.ptr() + (t * H + h) * D, out, D);
        }
      } else {
        ops::MatMul(z.ptr(), L.W_O.ptr(), OrNull(L.b_O), attn_out.ptr(), T, H * dh, D, pool_);
      }
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "hook_attn_out", attn_out));
      if (!c.parallel_residual) ops::Add(attn_out.ptr(), resid.ptr(), T * D);
    }
    // MLP: it reads resid_mid, or (parallel residual) the same resid_pre as the attention.
    if (!c.parallel_residual) MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "hook_resid_mid", resid));
    MEMLENS_RETURN_IF_ERROR(Norm(c, resid, L.ln2_w, L.ln2_b, p + "ln2.", hooks, scale, normed));
    if (c.parallel_residual) ops::Add(attn_out.ptr(), resid.ptr(), T * D);  // normed is taken
    // When no hook looks inside the MLP, it runs over blocks of rows: its [T, d_mlp] activations
    // are the largest buffers of a forward pass (8 MB per 1024 tokens of gelu-4l, 12 of Pythia-
    // 160M), and the products are row by row the same (no block has fewer rows than MatMul's
    // register tile, where it switches to another summation order), so the numbers are too.
    const bool mlp_hooked = hooks.Wanted(p + "mlp.hook_pre") ||
                            hooks.Wanted(p + "mlp.hook_pre_linear") ||
                            hooks.Wanted(p + "mlp.hook_post") || hooks.Wanted(p + "hook_mlp_out");
    const int64_t blocks = mlp_hooked ? 1 : std::max<int64_t>(1, T / kMlpRows);
    for (int64_t b = 0; b < blocks; ++b) {  // sizes differ by at most one row, all >= kMlpRows
      const int64_t t0 = b * T / blocks, n = (b + 1) * T / blocks - t0;
      const float* x = normed.row(t0);
      Shaped(mlp_pre, {n, F});
      if (c.act == ActKind::kSwiGLU) {
        ops::MatMul(x, L.W_gate.ptr(), OrNull(L.b_in), mlp_pre.ptr(), n, D, F, pool_);
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "mlp.hook_pre", mlp_pre));
        Shaped(mlp_lin, {n, F});
        ops::MatMul(x, L.W_in.ptr(), nullptr, mlp_lin.ptr(), n, D, F, pool_);
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "mlp.hook_pre_linear", mlp_lin));
        ops::SwiGLU(mlp_pre.ptr(), mlp_lin.ptr(), n * F);
      } else {
        ops::MatMul(x, L.W_in.ptr(), OrNull(L.b_in), mlp_pre.ptr(), n, D, F, pool_);
        MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "mlp.hook_pre", mlp_pre));
        // Compute-bound (~1.7 ns per element): split by rows over the pool.
        float* h = mlp_pre.ptr();
        const bool erf = c.act == ActKind::kGeluErf;
        pool_.Run(static_cast<size_t>(n), [h, F, erf](size_t t, int) {
          if (erf) {
            ops::GeluErf(h + t * F, F);
          } else {
            ops::GeluTanh(h + t * F, F);
          }
        });
      }
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "mlp.hook_post", mlp_pre));
      Shaped(mlp_out, {n, D});
      ops::MatMul(mlp_pre.ptr(), L.W_out.ptr(), OrNull(L.b_out), mlp_out.ptr(), n, F, D, pool_);
      MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "hook_mlp_out", mlp_out));
      ops::Add(mlp_out.ptr(), resid.row(t0), n * D);
    }
    MEMLENS_RETURN_IF_ERROR(hooks.Apply(p + "hook_resid_post", resid));
  }

  MEMLENS_RETURN_IF_ERROR(
      Norm(c, resid, W.ln_final_w, W.ln_final_b, "ln_final.", hooks, scale, normed));
  switch (options.logits) {
    case RunOptions::Logits::kAll:
      Project(normed, W.W_U, W.b_U, Shaped(result.logits, {T, V}), pool_);
      break;
    case RunOptions::Logits::kLastPosition: {
      Tensor last({1, D});
      std::memcpy(last.ptr(), normed.row(T - 1), D * sizeof(float));
      Project(last, W.W_U, W.b_U, Shaped(result.logits, {1, V}), pool_);
      break;
    }
    case RunOptions::Logits::kNone:
      result.logits = Tensor();
      break;
  }
  hooks.DropStale();
  return absl::OkStatus();
}

}  // namespace memlens

#include "core/model/load/transformer_lens.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/io/json_fields.h"
#include "core/model/load/weight_plan.h"

namespace memlens {
namespace {

#define TL_ASSIGN_OR_RETURN(lhs, expr) TL_ASSIGN_OR_RETURN_IMPL(TL_CONCAT(_s, __LINE__), lhs, expr)
#define TL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(*tmp)
#define TL_CONCAT(a, b) TL_CONCAT_IMPL(a, b)
#define TL_CONCAT_IMPL(a, b) a##b

absl::Status Unsupported(const JsonFields& f, absl::string_view key, absl::string_view what) {
  absl::Status s = f.Invalid(key, what);
  return absl::UnimplementedError(s.message());
}

// Buffers TransformerLens keeps in its state dict that are not weights.
bool IsTlBuffer(absl::string_view name) {
  for (absl::string_view suffix :
       {".attn.IGNORE", ".attn.mask", ".attn.rotary_sin", ".attn.rotary_cos"}) {
    if (absl::EndsWith(name, suffix) && absl::StartsWith(name, "blocks.")) return true;
  }
  return false;
}

// The config's file name: shape errors already start with the weights' path, usually in the
// same directory, so repeating the whole config path would only add noise.
std::string ConfigFileName(const std::string& path) {
  return path.substr(path.find_last_of('/') + 1);
}

}  // namespace

absl::StatusOr<TransformerLensSpec> ParseTransformerLensConfig(const json::Value& config,
                                                               const std::string& source) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": config is not a JSON object"));
  }
  JsonFields f(config, source);
  TransformerLensSpec spec;
  spec.config_source = source;
  ModelConfig& c = spec.config;
  TL_ASSIGN_OR_RETURN(c.name, f.String("model_name", ""));

  // Features outside what the forward pass implements: refuse rather than compute something
  // else silently.
  for (const char* flag :
       {"attn_only", "use_local_attn", "post_embedding_ln", "use_normalization_before_and_after",
        "use_qk_norm", "scale_attn_by_inverse_layer_idx", "use_NTK_by_parts_rope",
        "load_in_4bit"}) {
    TL_ASSIGN_OR_RETURN(bool on, f.Bool(flag, false));
    if (on) return Unsupported(f, flag, "this architecture feature is not supported");
  }
  for (const char* cap : {"attn_scores_soft_cap", "output_logits_soft_cap"}) {
    TL_ASSIGN_OR_RETURN(double v, f.Number(cap, -1.0));
    if (v > 0) return Unsupported(f, cap, "soft-capping is not supported");
  }
  TL_ASSIGN_OR_RETURN(std::string attention_dir, f.String("attention_dir", "causal"));
  if (attention_dir != "causal") {
    return Unsupported(f, "attention_dir", "only causal attention is supported");
  }
  TL_ASSIGN_OR_RETURN(absl::optional<int> experts, f.OptionalInt("num_experts"));
  if (experts.has_value()) {
    return Unsupported(f, "num_experts", "mixture-of-experts MLPs are not supported");
  }
  // GPT-J / GPT-NeoX (Pythia): attention and MLP both read resid_pre (the MLP through ln2),
  // resid_post = resid_pre + attn_out + mlp_out, no hook_resid_mid (TransformerBlock.forward).
  TL_ASSIGN_OR_RETURN(c.parallel_residual, f.Bool("parallel_attn_mlp", false));

  TL_ASSIGN_OR_RETURN(c.n_layers, f.RequiredInt("n_layers"));
  TL_ASSIGN_OR_RETURN(c.d_model, f.RequiredInt("d_model"));
  TL_ASSIGN_OR_RETURN(c.d_head, f.RequiredInt("d_head"));
  TL_ASSIGN_OR_RETURN(c.n_heads, f.RequiredInt("n_heads"));
  TL_ASSIGN_OR_RETURN(c.d_mlp, f.RequiredInt("d_mlp"));
  TL_ASSIGN_OR_RETURN(c.d_vocab, f.RequiredInt("d_vocab"));
  TL_ASSIGN_OR_RETURN(c.n_ctx, f.RequiredInt("n_ctx"));
  TL_ASSIGN_OR_RETURN(absl::optional<int> vocab_out, f.OptionalInt("d_vocab_out"));
  if (vocab_out.has_value() && *vocab_out != -1 && *vocab_out != c.d_vocab) {
    return Unsupported(f, "d_vocab_out",
                       absl::StrCat("differs from d_vocab (", c.d_vocab, "): not supported"));
  }
  TL_ASSIGN_OR_RETURN(absl::optional<int> kv, f.OptionalInt("n_key_value_heads"));
  c.n_kv_heads = kv.value_or(c.n_heads);

  TL_ASSIGN_OR_RETURN(std::string act, f.String("act_fn", ""));
  TL_ASSIGN_OR_RETURN(bool gated, f.Bool("gated_mlp", act == "silu"));
  if (act == "gelu" && !gated) {
    c.act = ActKind::kGeluErf;
  } else if ((act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") && !gated) {
    c.act = ActKind::kGeluTanh;
  } else if (act == "silu" && gated) {
    c.act = ActKind::kSwiGLU;
  } else if (act.empty()) {
    return f.Invalid("act_fn", "required field is missing");
  } else if (gated != (act == "silu")) {
    return Unsupported(f, "act_fn",
                       gated ? "a gated MLP is only supported with silu (SwiGLU)"
                             : "silu is only supported in a gated MLP (SwiGLU)");
  } else {
    return Unsupported(f, "act_fn",
                       "not supported (use gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, silu)");
  }

  // Neel Nanda's original checkpoints (gelu-4l and friends) spell it "normalization".
  const char* norm_key =
      config.Find("normalization_type") == nullptr && config.Find("normalization") != nullptr
          ? "normalization"
          : "normalization_type";
  const json::Value* norm_value = config.Find(norm_key);
  if (norm_value != nullptr && norm_value->is_null()) {
    return Unsupported(f, norm_key, "models without normalization are not supported");
  }
  TL_ASSIGN_OR_RETURN(bool shortformer, f.Bool("shortformer_pos", false));
  if (shortformer) {
    return Unsupported(f, "shortformer_pos",
                       "shortformer positions (added to queries and keys only) are not supported");
  }
  TL_ASSIGN_OR_RETURN(std::string norm, f.String(norm_key, "LN"));
  if (norm == "LN" || norm == "LNPre") {
    c.norm = NormKind::kLayerNorm;
  } else if (norm == "RMS" || norm == "RMSPre") {
    c.norm = NormKind::kRMSNorm;
  } else {
    return Unsupported(f, norm_key, "not supported (use LN, LNPre, RMS, RMSPre)");
  }
  spec.ln_weights_stored = norm == "LN" || norm == "RMS";
  TL_ASSIGN_OR_RETURN(bool final_rms, f.Bool("final_rms", false));
  if (final_rms && c.norm == NormKind::kLayerNorm) {
    return Unsupported(f, "final_rms",
                       "an RMSNorm final norm after LayerNorm blocks is not supported");
  }
  TL_ASSIGN_OR_RETURN(double ln_eps, f.Number("ln_eps", 1e-5));
  TL_ASSIGN_OR_RETURN(double eps, f.Number("eps", ln_eps));
  c.eps = static_cast<float>(eps);

  TL_ASSIGN_OR_RETURN(std::string pos, f.String("positional_embedding_type", "standard"));
  if (pos == "standard") {
    c.pos = PosKind::kLearned;
  } else if (pos == "rotary") {
    c.pos = PosKind::kRotary;
    TL_ASSIGN_OR_RETURN(double base, f.Number("rotary_base", 10000.0));
    c.rope_theta = static_cast<float>(base);
    if (!(c.rope_theta > 1)) return f.Invalid("rotary_base", "must be greater than 1");
    // TransformerLens rotates the first rotary_dim dims of each head (null: all d_head) with
    // frequencies rotary_base^(-2i / rotary_dim) (AbstractAttention.apply_rotary,
    // calculate_sin_cos_rotary); the rest pass through.
    TL_ASSIGN_OR_RETURN(absl::optional<int> rotary_dim, f.OptionalInt("rotary_dim"));
    if (rotary_dim.has_value()) {
      if (*rotary_dim <= 0 || *rotary_dim % 2 != 0 || *rotary_dim > c.d_head) {
        return f.Invalid("rotary_dim", absl::StrCat("must be even, positive and at most d_head (",
                                                    c.d_head, ")"));
      }
      c.rotary_dim = *rotary_dim == c.d_head ? 0 : *rotary_dim;  // 0: all of d_head
    }
    TL_ASSIGN_OR_RETURN(bool adjacent, f.Bool("rotary_adjacent_pairs", false));
    c.rotary_style = adjacent ? RotaryStyle::kInterleaved : RotaryStyle::kHalves;
  } else {
    return Unsupported(f, "positional_embedding_type", "not supported (use standard, rotary)");
  }

  TL_ASSIGN_OR_RETURN(bool use_scale, f.Bool("use_attn_scale", true));
  TL_ASSIGN_OR_RETURN(double scale, f.Number("attn_scale", std::sqrt(std::max(c.d_head, 0))));
  c.attn_scale = use_scale ? static_cast<float>(scale) : 1.0f;

  TL_ASSIGN_OR_RETURN(absl::optional<int> bos, f.OptionalInt("bos_token_id"));
  TL_ASSIGN_OR_RETURN(spec.default_prepend_bos, f.Bool("default_prepend_bos", true));
  c.bos_token_id = bos.value_or(-1);
  c.prepend_bos = spec.default_prepend_bos && c.bos_token_id >= 0;
  TL_ASSIGN_OR_RETURN(std::string arch, f.String("original_architecture", ""));
  (void)arch;  // informational only: everything the forward pass needs is in the fields above

  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  if (c.bos_token_id < -1) return f.Invalid("bos_token_id", "must not be negative");
  return spec;
}

absl::StatusOr<Model> BuildTransformerLensModel(TransformerLensSpec spec,
                                                const TensorSource& source, bool read_weights) {
  ModelConfig& c = spec.config;
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(spec.config_source, ": ", s.message()));
  }
  const int64_t D = c.d_model, V = c.d_vocab, H = c.n_heads, KVH = c.n_kv_heads, dh = c.d_head,
                F = c.d_mlp;
  const bool ln = c.norm == NormKind::kLayerNorm;
  c.SetAllBiases(source.Has("blocks.0.attn.b_Q"));

  Model model;
  Weights& w = model.weights;
  w.layers.resize(c.n_layers);
  std::vector<TensorPlan> plan;
  auto add = [&plan](std::string name, std::vector<int64_t> shape,
                     std::function<void(Tensor &&)> place) {
    plan.push_back({std::move(name), std::move(shape), std::move(place)});
  };
  auto set = [](Tensor* dst) { return [dst](Tensor&& t) { *dst = std::move(t); }; };

  add("embed.W_E", {V, D}, set(&w.W_E));
  if (c.pos == PosKind::kLearned) add("pos_embed.W_pos", {c.n_ctx, D}, set(&w.W_pos));
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = absl::StrCat("blocks.", l, ".");
    for (auto [name, weight, bias] :
         {std::tuple<const char*, Tensor*, Tensor*>{"ln1", &L.ln1_w, &L.ln1_b},
          {"ln2", &L.ln2_w, &L.ln2_b}}) {
      if (spec.ln_weights_stored) {
        add(p + name + ".w", {D}, set(weight));
        if (ln) add(p + name + ".b", {D}, set(bias));
      } else {
        *weight = Filled({D}, 1.0f);
        if (ln) *bias = Filled({D}, 0.0f);
      }
    }
    // Grouped-query attention: TransformerLens names the shared key/value weights _W_K, _W_V.
    const std::string kv_prefix = source.Has(p + "attn._W_K") ? "attn._" : "attn.";
    add(p + "attn.W_Q", {H, D, dh}, [&L](Tensor&& t) { L.W_Q = HeadsToColumns(t); });
    add(p + kv_prefix + "W_K", {KVH, D, dh}, [&L](Tensor&& t) { L.W_K = HeadsToColumns(t); });
    add(p + kv_prefix + "W_V", {KVH, D, dh}, [&L](Tensor&& t) { L.W_V = HeadsToColumns(t); });
    add(p + "attn.W_O", {H, dh, D}, [&L, H, dh, D](Tensor&& t) {
      L.W_O = Reshaped(std::move(t), {H * dh, D});
    });
    if (c.bias_qkv) {
      add(p + "attn.b_Q", {H, dh},
          [&L, H, dh](Tensor&& t) { L.b_Q = Reshaped(std::move(t), {H * dh}); });
      add(p + kv_prefix + "b_K", {KVH, dh},
          [&L, KVH, dh](Tensor&& t) { L.b_K = Reshaped(std::move(t), {KVH * dh}); });
      add(p + kv_prefix + "b_V", {KVH, dh},
          [&L, KVH, dh](Tensor&& t) { L.b_V = Reshaped(std::move(t), {KVH * dh}); });
    }
    if (c.bias_o) add(p + "attn.b_O", {D}, set(&L.b_O));
    add(p + "mlp.W_in", {D, F}, set(&L.W_in));
    if (c.act == ActKind::kSwiGLU) add(p + "mlp.W_gate", {D, F}, set(&L.W_gate));
    add(p + "mlp.W_out", {F, D}, set(&L.W_out));
    if (c.bias_mlp) {
      add(p + "mlp.b_in", {F}, set(&L.b_in));
      add(p + "mlp.b_out", {D}, set(&L.b_out));
    }
  }
  if (spec.ln_weights_stored) {
    add("ln_final.w", {D}, set(&w.ln_final_w));
    if (ln) add("ln_final.b", {D}, set(&w.ln_final_b));
  } else {
    w.ln_final_w = Filled({D}, 1.0f);
    if (ln) w.ln_final_b = Filled({D}, 0.0f);
  }
  add("unembed.W_U", {D, V}, set(&w.W_U));
  if (c.bias_unembed) add("unembed.b_U", {V}, set(&w.b_U));

  const std::string why = absl::StrCat(
      ConfigFileName(spec.config_source), " (n_layers ", c.n_layers, ", d_model ", D, ", n_heads ",
      H, ", n_kv_heads ", KVH, ", d_head ", dh, ", d_mlp ", F, ", d_vocab ", V, ", n_ctx ", c.n_ctx,
      ", ", NormKindName(c.norm), ", ", ActKindName(c.act), ", ", PosKindName(c.pos),
      c.any_bias() ? ", with biases" : ", no biases", ")");
  if (auto s = ExecutePlan(source, plan, IsTlBuffer, why, read_weights); !s.ok()) return s;
  model.config = c;
  if (!spec.ln_weights_stored) model.processing = "fold_ln";
  if (!read_weights) return model;
  if (auto s = w.Validate(c); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(source.source_name(), ": ", s.message()));
  }
  return model;
}

ModelFamily TransformerLensFamily() {
  ModelFamily f;
  f.name = "tl";
  f.what = "a TransformerLens config has \"d_model\"";
  f.matches = [](const json::Value& config) { return config.Find("d_model") != nullptr; };
  f.build = [](const FamilyInput& in) -> absl::StatusOr<FamilyModel> {
    absl::StatusOr<TransformerLensSpec> spec = ParseTransformerLensConfig(in.config, in.config_path);
    if (!spec.ok()) return spec.status();
    if (in.tokenizer_bos >= 0 && in.tokenizer_bos < spec->config.d_vocab) {
      spec->config.bos_token_id = in.tokenizer_bos;
      spec->config.prepend_bos = spec->default_prepend_bos;
    }
    const bool folded = !spec->ln_weights_stored;
    FamilyModel out;
    absl::StatusOr<Model> model = BuildTransformerLensModel(std::move(*spec), in.source, in.read_weights);
    if (!model.ok()) return model.status();
    out.model = std::move(*model);
    const ModelConfig& c = out.model.config;
    if (c.parallel_residual) out.quirks.push_back("parallel residual (parallel_attn_mlp)");
    if (c.pos == PosKind::kRotary) {
      const bool halves = c.rotary_style == RotaryStyle::kHalves;
      const std::string what =
          c.rotary_dim > 0
              ? absl::StrCat("rotary on ", c.rotary_dim, " of ", c.d_head, " dims per head")
              : std::string(halves ? "rotary over halves" : "rotary over adjacent pairs");
      out.quirks.push_back(
          absl::StrCat(what, halves ? " (rotate_half)" : " (rotary_adjacent_pairs)"));
    }
    if (folded) out.quirks.push_back("layer-norm weights folded (LNPre/RMSPre)");
    return out;
  };
  return f;
}

}  // namespace memlens

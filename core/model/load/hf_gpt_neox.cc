#include "core/model/load/hf_gpt_neox.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/model/load/hf_common.h"

namespace memlens {
namespace {

// Part `which` (0 q, 1 k, 2 v) of NeoX's fused query_key_value, laid out per head: stored row
// h*3*dh + which*dh + i is output column h*dh + i. A weight [3*H*dh, D] becomes [D, H*dh]; a
// bias [3*H*dh] becomes [H*dh].
Tensor FusedPart(const Tensor& t, int64_t H, int64_t dh, int which) {
  if (t.rank() == 1) {
    Tensor out({H * dh});
    for (int64_t h = 0; h < H; ++h) {
      std::memcpy(&out.data[h * dh], &t.data[(h * 3 + which) * dh], dh * sizeof(float));
    }
    return out;
  }
  const int64_t D = t.dim(1);
  Tensor rows({H * dh, D});
  for (int64_t h = 0; h < H; ++h) {
    std::memcpy(&rows.data[h * dh * D], &t.data[(h * 3 + which) * dh * D], dh * D * sizeof(float));
  }
  return Transposed(rows);
}

bool Matches(const json::Value& config) {
  const json::Value* type = config.Find("model_type");
  return (type != nullptr && type->is_string() && type->string_value() == "gpt_neox") ||
         HfArchitecture(config) == "GPTNeoXForCausalLM";
}

absl::StatusOr<FamilyModel> Build(const FamilyInput& in) {
  JsonFields f(in.config, in.config_path);
  const std::string arch = HfArchitecture(in.config);
  if (!arch.empty() && arch != "GPTNeoXForCausalLM") {
    return HfUnsupported(f, "architectures", "only GPTNeoXForCausalLM is supported");
  }
  if (auto s = CheckHfKeys(f, in.config,
                           {"vocab_size", "hidden_size", "num_hidden_layers",
                            "num_attention_heads", "intermediate_size", "hidden_act",
                            "rotary_pct", "rotary_emb_base", "rope_theta",
                            "max_position_embeddings", "layer_norm_eps",
                            "use_parallel_residual", "attention_bias", "tie_word_embeddings",
                            "rope_scaling"},
                           "GPTNeoXForCausalLM");
      !s.ok()) {
    return s;
  }
  FamilyModel out;
  ModelConfig c;
  HF_ASSIGN_OR_RETURN(c.name, f.String("_name_or_path", ""));
  c.norm = NormKind::kLayerNorm;
  c.pos = PosKind::kRotary;
  HF_ASSIGN_OR_RETURN(c.d_vocab, f.RequiredInt("vocab_size"));
  HF_ASSIGN_OR_RETURN(c.d_model, f.RequiredInt("hidden_size"));
  HF_ASSIGN_OR_RETURN(c.n_layers, f.RequiredInt("num_hidden_layers"));
  HF_ASSIGN_OR_RETURN(c.n_heads, f.RequiredInt("num_attention_heads"));
  if (c.n_heads <= 0 || c.d_model % c.n_heads != 0) {
    return f.Invalid("num_attention_heads",
                     absl::StrCat("must be positive and divide hidden_size (", c.d_model, ")"));
  }
  c.n_kv_heads = c.n_heads;
  c.d_head = c.d_model / c.n_heads;
  HF_ASSIGN_OR_RETURN(c.d_mlp, f.RequiredInt("intermediate_size"));
  HF_ASSIGN_OR_RETURN(c.n_ctx, f.RequiredInt("max_position_embeddings"));
  HF_ASSIGN_OR_RETURN(double eps, f.Number("layer_norm_eps", 1e-5));
  c.eps = static_cast<float>(eps);
  HF_ASSIGN_OR_RETURN(std::string act, f.String("hidden_act", "gelu"));
  HF_ASSIGN_OR_RETURN(c.act, HfGeluKind(f, "hidden_act", act));
  c.attn_scale = std::sqrt(static_cast<float>(c.d_head));
  HF_ASSIGN_OR_RETURN(double base, f.Number("rotary_emb_base", 10000.0));
  HF_ASSIGN_OR_RETURN(double theta, f.Number("rope_theta", base));
  if (!(theta > 1)) {
    return f.Invalid(f.Has("rope_theta") ? "rope_theta" : "rotary_emb_base",
                     "must be greater than 1");
  }
  c.rope_theta = static_cast<float>(theta);
  c.rotary_style = RotaryStyle::kHalves;
  HF_ASSIGN_OR_RETURN(double scaling, HfLinearRopeScaling(f, in.config));
  c.rope_scale = static_cast<float>(scaling);
  HF_ASSIGN_OR_RETURN(double pct, f.Number("rotary_pct", 0.25));
  if (!(pct > 0 && pct <= 1)) return f.Invalid("rotary_pct", "must be in (0, 1]");
  // HF: rotary_ndims = int(head_size * rotary_pct).
  const int rotary_dims = static_cast<int>(c.d_head * pct);
  if (rotary_dims % 2 != 0 || rotary_dims == 0) {
    return f.Invalid("rotary_pct", absl::StrCat("gives ", rotary_dims,
                                                " rotary dimensions per head; an even positive "
                                                "number is needed"));
  }
  c.rotary_dim = rotary_dims == c.d_head ? 0 : rotary_dims;
  HF_ASSIGN_OR_RETURN(c.parallel_residual, f.Bool("use_parallel_residual", true));
  HF_ASSIGN_OR_RETURN(bool attention_bias, f.Bool("attention_bias", true));
  if (!attention_bias) {
    return HfUnsupported(f, "attention_bias", "GPT-NeoX without attention biases is not supported");
  }
  c.SetAllBiases(true);
  c.bias_unembed = false;
  HF_ASSIGN_OR_RETURN(bool tied, f.Bool("tie_word_embeddings", false));
  if (auto s = SetHfBos(f, in.tokenizer_bos, &c); !s.ok()) return s;
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(in.config_path, ": ", s.message()));
  }

  const int64_t D = c.d_model, V = c.d_vocab, F = c.d_mlp, H = c.n_heads, dh = c.d_head;
  Weights& w = out.model.weights;
  w.layers.resize(c.n_layers);
  HfPlan plan("gpt_neox.");
  plan.Add("embed_in.weight", {V, D}, [&w](Tensor&& t) { w.W_E = std::move(t); });
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = absl::StrCat("layers.", l, ".");
    plan.AddLayerNorm(p + "input_layernorm", D, &L.ln1_w, &L.ln1_b);
    plan.Add(p + "attention.query_key_value.weight", {3 * D, D}, [&L, H, dh](Tensor&& t) {
      L.W_Q = FusedPart(t, H, dh, 0);
      L.W_K = FusedPart(t, H, dh, 1);
      L.W_V = FusedPart(t, H, dh, 2);
    });
    plan.Add(p + "attention.query_key_value.bias", {3 * D}, [&L, H, dh](Tensor&& t) {
      L.b_Q = FusedPart(t, H, dh, 0);
      L.b_K = FusedPart(t, H, dh, 1);
      L.b_V = FusedPart(t, H, dh, 2);
    });
    plan.AddLinearWithBias(p + "attention.dense", D, D, &L.W_O, &L.b_O);
    plan.AddLayerNorm(p + "post_attention_layernorm", D, &L.ln2_w, &L.ln2_b);
    plan.AddLinearWithBias(p + "mlp.dense_h_to_4h", F, D, &L.W_in, &L.b_in);
    plan.AddLinearWithBias(p + "mlp.dense_4h_to_h", D, F, &L.W_out, &L.b_out);
  }
  plan.AddLayerNorm("final_layer_norm", D, &w.ln_final_w, &w.ln_final_b);
  if (!tied) plan.AddUnprefixed("embed_out.weight", {V, D}, [&w](Tensor&& t) { w.W_U = Transposed(t); });

  const std::string why = absl::StrCat(
      "config.json (GPTNeoXForCausalLM: num_hidden_layers ", c.n_layers, ", hidden_size ", D,
      ", num_attention_heads ", H, ", intermediate_size ", F, ", vocab_size ", V,
      tied ? ", tied embeddings" : "", ")");
  auto ignorable = [tied](absl::string_view name) {
    if (!absl::StartsWith(name, "gpt_neox.layers.")) return tied && name == "embed_out.weight";
    return absl::EndsWith(name, ".attention.bias") ||
           absl::EndsWith(name, ".attention.masked_bias") ||
           absl::EndsWith(name, ".attention.rotary_emb.inv_freq");
  };
  if (auto s = FinishHfModel(in, plan, ignorable, why, tied, c, &out.model); !s.ok()) return s;
  if (c.parallel_residual) out.quirks.push_back("parallel residual");
  out.quirks.push_back(c.rotary_dim > 0 ? absl::StrCat("rotary on ", c.rotary_dim, " of ", dh,
                                                       " dims per head (rotate_half)")
                                        : std::string("rotary over halves (rotate_half)"));
  if (c.rope_scale != 1.0f) out.quirks.push_back(absl::StrCat("linear rope scaling x", c.rope_scale));
  out.quirks.push_back("fused query_key_value split per head");
  out.quirks.push_back(tied ? "tied embeddings" : "untied embed_out");
  return out;
}

}  // namespace

ModelFamily HfGptNeoXFamily() {
  return {"hf-gpt-neox", "a HuggingFace GPT-NeoX config has \"model_type\": \"gpt_neox\"",
          Matches, Build};
}

}  // namespace memlens

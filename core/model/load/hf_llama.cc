#include "core/model/load/hf_llama.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/model/load/hf_common.h"

namespace memlens {
namespace {

struct Dialect {
  const char* model_type;
  const char* architecture;
  bool qkv_bias;  // Qwen2: q/k/v biases always, o_proj without
};
constexpr Dialect kDialects[] = {
    {"llama", "LlamaForCausalLM", false},
    {"mistral", "MistralForCausalLM", false},
    {"qwen2", "Qwen2ForCausalLM", true},
};

const Dialect* FindDialect(const json::Value& config) {
  const json::Value* type = config.Find("model_type");
  const std::string arch = HfArchitecture(config);
  for (const Dialect& d : kDialects) {
    if ((type != nullptr && type->is_string() && type->string_value() == d.model_type) ||
        arch == d.architecture) {
      return &d;
    }
  }
  return nullptr;
}

bool Matches(const json::Value& config) { return FindDialect(config) != nullptr; }

absl::StatusOr<FamilyModel> Build(const FamilyInput& in) {
  const Dialect& dialect = *FindDialect(in.config);
  JsonFields f(in.config, in.config_path);
  const std::string arch = HfArchitecture(in.config);
  if (!arch.empty() && arch != dialect.architecture) {
    return HfUnsupported(f, "architectures",
                         absl::StrCat("only ", dialect.architecture, " is supported"));
  }
  if (auto s = CheckHfKeys(
          f, in.config,
          {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
           "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
           "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling",
           "attention_bias", "mlp_bias", "tie_word_embeddings", "pretraining_tp",
           "sliding_window", "use_sliding_window", "max_window_layers"},
          dialect.architecture);
      !s.ok()) {
    return s;
  }
  FamilyModel out;
  ModelConfig c;
  HF_ASSIGN_OR_RETURN(c.name, f.String("_name_or_path", ""));
  c.norm = NormKind::kRMSNorm;
  c.pos = PosKind::kRotary;
  HF_ASSIGN_OR_RETURN(c.d_vocab, f.RequiredInt("vocab_size"));
  HF_ASSIGN_OR_RETURN(c.d_model, f.RequiredInt("hidden_size"));
  HF_ASSIGN_OR_RETURN(c.d_mlp, f.RequiredInt("intermediate_size"));
  HF_ASSIGN_OR_RETURN(c.n_layers, f.RequiredInt("num_hidden_layers"));
  HF_ASSIGN_OR_RETURN(c.n_heads, f.RequiredInt("num_attention_heads"));
  HF_ASSIGN_OR_RETURN(absl::optional<int> kv, f.OptionalInt("num_key_value_heads"));
  c.n_kv_heads = kv.value_or(c.n_heads);
  HF_ASSIGN_OR_RETURN(absl::optional<int> head_dim, f.OptionalInt("head_dim"));
  if (!head_dim.has_value()) {
    if (c.n_heads <= 0 || c.d_model % c.n_heads != 0) {
      return f.Invalid("num_attention_heads",
                       absl::StrCat("must divide hidden_size (", c.d_model,
                                    ") when there is no head_dim"));
    }
    head_dim = c.d_model / c.n_heads;
  } else if (*head_dim != c.d_model / std::max(c.n_heads, 1)) {
    out.quirks.push_back(absl::StrCat("head_dim ", *head_dim, " (not hidden_size / heads)"));
  }
  c.d_head = *head_dim;
  HF_ASSIGN_OR_RETURN(c.n_ctx, f.RequiredInt("max_position_embeddings"));
  HF_ASSIGN_OR_RETURN(double eps, f.Number("rms_norm_eps", 1e-6));
  c.eps = static_cast<float>(eps);
  HF_ASSIGN_OR_RETURN(double theta, f.Number("rope_theta", 10000.0));
  if (!(theta > 1)) return f.Invalid("rope_theta", "must be greater than 1");
  c.rope_theta = static_cast<float>(theta);
  HF_ASSIGN_OR_RETURN(std::string act, f.String("hidden_act", "silu"));
  if (act != "silu" && act != "swish") {
    return HfUnsupported(f, "hidden_act", "only silu (SwiGLU) is supported in this family");
  }
  c.act = ActKind::kSwiGLU;
  c.attn_scale = std::sqrt(static_cast<float>(std::max(c.d_head, 1)));
  c.rotary_style = RotaryStyle::kHalves;
  HF_ASSIGN_OR_RETURN(double scaling, HfLinearRopeScaling(f, in.config));
  c.rope_scale = static_cast<float>(scaling);
  HF_ASSIGN_OR_RETURN(bool mlp_bias, f.Bool("mlp_bias", false));
  if (mlp_bias) return HfUnsupported(f, "mlp_bias", "biases in the gated MLP are not supported");
  HF_ASSIGN_OR_RETURN(bool attention_bias, f.Bool("attention_bias", false));
  if (dialect.qkv_bias && f.Has("attention_bias")) {
    return HfUnsupported(f, "attention_bias", "Qwen2 has q/k/v biases and none on o_proj");
  }
  HF_ASSIGN_OR_RETURN(absl::optional<int> tp, f.OptionalInt("pretraining_tp"));
  if (tp.has_value() && *tp < 1) return f.Invalid("pretraining_tp", "must be at least 1");
  // pretraining_tp > 1 only slices the same products in HF: the result is unchanged.

  // Sliding windows: Mistral's applies to every layer; Qwen2's only with use_sliding_window.
  HF_ASSIGN_OR_RETURN(bool use_sliding, f.Bool("use_sliding_window", true));
  HF_ASSIGN_OR_RETURN(absl::optional<int> window, f.OptionalInt("sliding_window"));
  // MistralConfig's default when the key is absent (null means none).
  if (std::string(dialect.model_type) == "mistral" && in.config.Find("sliding_window") == nullptr) {
    window = 4096;
  }
  if (std::string(dialect.model_type) != "qwen2" && f.Has("use_sliding_window")) {
    return HfUnsupported(f, "use_sliding_window", "a Qwen2 setting");
  }
  if (std::string(dialect.model_type) == "qwen2") {
    HF_ASSIGN_OR_RETURN(use_sliding, f.Bool("use_sliding_window", false));
  }
  if (std::string(dialect.model_type) == "llama" && window.has_value()) {
    return HfUnsupported(f, "sliding_window", "LLaMA has no sliding window");
  }
  HF_ASSIGN_OR_RETURN(absl::optional<int> max_window_layers, f.OptionalInt("max_window_layers"));
  if (std::string(dialect.model_type) != "qwen2" && max_window_layers.has_value()) {
    return HfUnsupported(f, "max_window_layers", "a Qwen2 setting");
  }
  if (use_sliding && window.has_value()) {
    if (*window < 1) return f.Invalid("sliding_window", "must be positive");
    // Qwen2 (modeling_qwen2.py): only layers from max_window_layers on slide.
    const int first = std::string(dialect.model_type) == "qwen2" ? max_window_layers.value_or(28) : 0;
    if (first < 0) return f.Invalid("max_window_layers", "must not be negative");
    if (*window < c.n_ctx && first < c.n_layers) {
      c.attn_window.assign(std::max(c.n_layers, 0), 0);
      for (int l = std::max(first, 0); l < c.n_layers; ++l) c.attn_window[l] = *window;
      out.quirks.push_back(absl::StrCat("sliding window ", *window,
                                        first > 0 ? absl::StrCat(" from layer ", first) : ""));
    }
  }
  if (auto s = SetHfBos(f, in.tokenizer_bos, &c); !s.ok()) return s;
  HF_ASSIGN_OR_RETURN(bool tied, f.Bool("tie_word_embeddings", false));
  c.SetAllBiases(false);
  c.bias_qkv = dialect.qkv_bias || attention_bias;
  c.bias_o = attention_bias;
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(in.config_path, ": ", s.message()));
  }

  const int64_t D = c.d_model, V = c.d_vocab, F = c.d_mlp, Q = c.q_dim(), KV = c.kv_dim();
  const int64_t dh = c.d_head;
  Model& model = out.model;
  Weights& w = model.weights;
  w.layers.resize(c.n_layers);
  HfPlan plan("model.");
  plan.Add("embed_tokens.weight", {V, D}, [&w](Tensor&& t) { w.W_E = std::move(t); });
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = absl::StrCat("layers.", l, ".");
    plan.AddVector(p + "input_layernorm.weight", D, &L.ln1_w);
    plan.AddLinear(p + "self_attn.q_proj.weight", Q, D, &L.W_Q);
    plan.AddLinear(p + "self_attn.k_proj.weight", KV, D, &L.W_K);
    plan.AddLinear(p + "self_attn.v_proj.weight", KV, D, &L.W_V);
    plan.AddLinear(p + "self_attn.o_proj.weight", D, Q, &L.W_O);
    if (c.bias_qkv) {
      plan.AddVector(p + "self_attn.q_proj.bias", Q, &L.b_Q);
      plan.AddVector(p + "self_attn.k_proj.bias", KV, &L.b_K);
      plan.AddVector(p + "self_attn.v_proj.bias", KV, &L.b_V);
    }
    if (c.bias_o) plan.AddVector(p + "self_attn.o_proj.bias", D, &L.b_O);
    plan.AddVector(p + "post_attention_layernorm.weight", D, &L.ln2_w);
    plan.AddLinear(p + "mlp.gate_proj.weight", F, D, &L.W_gate);
    plan.AddLinear(p + "mlp.up_proj.weight", F, D, &L.W_in);
    plan.AddLinear(p + "mlp.down_proj.weight", D, F, &L.W_out);
  }
  plan.AddVector("norm.weight", D, &w.ln_final_w);
  if (!tied) plan.AddUnprefixed("lm_head.weight", {V, D}, [&w](Tensor&& t) { w.W_U = Transposed(t); });

  const std::string why = absl::StrCat(
      "config.json (", dialect.architecture, ": num_hidden_layers ", c.n_layers,
      ", hidden_size ", D, ", num_attention_heads ", c.n_heads, ", num_key_value_heads ",
      c.n_kv_heads, ", head_dim ", dh, ", intermediate_size ", F, ", vocab_size ", V,
      tied ? ", tied embeddings" : "", c.any_bias() ? ", with biases" : "", ")");
  auto ignorable = [tied](absl::string_view name) {
    return absl::EndsWith(name, ".self_attn.rotary_emb.inv_freq") ||
           (tied && name == "lm_head.weight");
  };
  if (auto s = FinishHfModel(in, plan, ignorable, why, tied, c, &model); !s.ok()) return s;

  out.quirks.push_back("rotary over halves (rotate_half)");
  if (c.rope_scale != 1.0f) out.quirks.push_back(absl::StrCat("linear rope scaling x", c.rope_scale));
  if (c.n_kv_heads != c.n_heads) {
    out.quirks.push_back(absl::StrCat("grouped-query attention (", c.n_kv_heads, " key/value heads)"));
  }
  if (dialect.qkv_bias) out.quirks.push_back("q/k/v biases");
  if (attention_bias) out.quirks.push_back("attention biases");
  if (tied) out.quirks.push_back("tied embeddings");
  return out;
}

}  // namespace

ModelFamily HfLlamaFamily() {
  return {"hf-llama",
          "a HuggingFace LLaMA / Mistral / Qwen2 config has \"model_type\" llama, mistral or "
          "qwen2",
          Matches, Build};
}

}  // namespace memlens

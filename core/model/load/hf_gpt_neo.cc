#include "core/model/load/hf_gpt_neo.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/model/load/hf_common.h"

namespace memlens {
namespace {

bool Matches(const json::Value& config) {
  const json::Value* type = config.Find("model_type");
  return (type != nullptr && type->is_string() && type->string_value() == "gpt_neo") ||
         HfArchitecture(config) == "GPTNeoForCausalLM";
}

// attention_types [[["global", "local"], 2], ...] expanded to one type per layer (as
// GPTNeoConfig.expand_attention_types_params).
absl::StatusOr<std::vector<std::string>> LayerTypes(const JsonFields& f,
                                                     const json::Value& config) {
  const json::Value* types = config.Find("attention_types");
  const absl::Status bad =
      f.Invalid("attention_types", "expected [[[\"global\" | \"local\", ...], repeat], ...]");
  if (types == nullptr || !types->is_array()) return bad;
  std::vector<std::string> layers;
  for (const json::Value& item : types->array()) {
    if (!item.is_array() || item.size() != 2 || !item.array()[0].is_array()) return bad;
    absl::StatusOr<int64_t> repeat = item.array()[1].AsInt64();
    if (!repeat.ok() || *repeat < 0 || *repeat > 1024) return bad;
    for (int64_t r = 0; r < *repeat; ++r) {
      for (const json::Value& t : item.array()[0].array()) {
        if (!t.is_string() || (t.string_value() != "global" && t.string_value() != "local")) {
          return bad;
        }
        layers.push_back(t.string_value());
        if (layers.size() > 1024) return bad;
      }
    }
  }
  return layers;
}

absl::StatusOr<FamilyModel> Build(const FamilyInput& in) {
  JsonFields f(in.config, in.config_path);
  const std::string arch = HfArchitecture(in.config);
  if (!arch.empty() && arch != "GPTNeoForCausalLM") {
    return HfUnsupported(f, "architectures", "only GPTNeoForCausalLM is supported");
  }
  if (auto s = CheckHfKeys(f, in.config,
                           {"vocab_size", "hidden_size", "num_layers", "num_heads",
                            "intermediate_size", "activation_function", "attention_types",
                            "attention_layers", "window_size", "max_position_embeddings",
                            "layer_norm_epsilon", "tie_word_embeddings",
                            // sequence-summary heads (GPTNeoForSequenceClassification)
                            "summary_activation", "summary_proj_to_labels", "summary_type",
                            "summary_use_proj"},
                           "GPTNeoForCausalLM");
      !s.ok()) {
    return s;
  }
  FamilyModel out;
  ModelConfig c;
  HF_ASSIGN_OR_RETURN(c.name, f.String("_name_or_path", ""));
  c.norm = NormKind::kLayerNorm;
  c.pos = PosKind::kLearned;
  c.SetAllBiases(true);
  c.bias_qkv = false;      // q/k/v_proj have no bias
  c.bias_unembed = false;
  HF_ASSIGN_OR_RETURN(c.d_vocab, f.RequiredInt("vocab_size"));
  HF_ASSIGN_OR_RETURN(c.d_model, f.RequiredInt("hidden_size"));
  HF_ASSIGN_OR_RETURN(c.n_layers, f.RequiredInt("num_layers"));
  HF_ASSIGN_OR_RETURN(c.n_heads, f.RequiredInt("num_heads"));
  if (c.n_heads <= 0 || c.d_model % c.n_heads != 0) {
    return f.Invalid("num_heads",
                     absl::StrCat("must be positive and divide hidden_size (", c.d_model, ")"));
  }
  c.n_kv_heads = c.n_heads;
  c.d_head = c.d_model / c.n_heads;
  HF_ASSIGN_OR_RETURN(absl::optional<int> inner, f.OptionalInt("intermediate_size"));
  c.d_mlp = inner.value_or(4 * c.d_model);
  HF_ASSIGN_OR_RETURN(c.n_ctx, f.RequiredInt("max_position_embeddings"));
  HF_ASSIGN_OR_RETURN(double eps, f.Number("layer_norm_epsilon", 1e-5));
  c.eps = static_cast<float>(eps);
  HF_ASSIGN_OR_RETURN(std::string act, f.String("activation_function", "gelu_new"));
  HF_ASSIGN_OR_RETURN(c.act, HfGeluKind(f, "activation_function", act));
  c.attn_scale = 1.0f;  // GPT-Neo does not scale attention scores by 1/sqrt(d_head)

  HF_ASSIGN_OR_RETURN(std::vector<std::string> types, LayerTypes(f, in.config));
  if (types.size() != static_cast<size_t>(c.n_layers)) {
    return f.Invalid("attention_types", absl::StrCat("describes ", types.size(),
                                                     " layers but num_layers is ", c.n_layers));
  }
  if (const json::Value* layers = in.config.Find("attention_layers"); layers != nullptr) {
    bool same = layers->is_array() && layers->size() == types.size();
    for (size_t i = 0; same && i < types.size(); ++i) {
      same = layers->array()[i].string_value() == types[i];
    }
    if (!same) return f.Invalid("attention_layers", "disagrees with attention_types");
  }
  HF_ASSIGN_OR_RETURN(absl::optional<int> window, f.OptionalInt("window_size"));
  const int window_size = window.value_or(256);
  if (window_size < 1) return f.Invalid("window_size", "must be positive");
  int n_local = 0;
  for (const std::string& t : types) n_local += t == "local";
  if (n_local > 0) {
    c.attn_window.assign(types.size(), 0);
    for (size_t l = 0; l < types.size(); ++l) {
      if (types[l] == "local") c.attn_window[l] = window_size;
    }
  }
  HF_ASSIGN_OR_RETURN(bool tied, f.Bool("tie_word_embeddings", true));
  if (auto s = SetHfBos(f, in.tokenizer_bos, &c); !s.ok()) return s;
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(in.config_path, ": ", s.message()));
  }

  const int64_t D = c.d_model, V = c.d_vocab, F = c.d_mlp;
  Weights& w = out.model.weights;
  w.layers.resize(c.n_layers);
  HfPlan plan("transformer.");
  plan.Add("wte.weight", {V, D}, [&w](Tensor&& t) { w.W_E = std::move(t); });
  plan.Add("wpe.weight", {c.n_ctx, D}, [&w](Tensor&& t) { w.W_pos = std::move(t); });
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = absl::StrCat("h.", l, ".");
    plan.AddLayerNorm(p + "ln_1", D, &L.ln1_w, &L.ln1_b);
    plan.AddLinear(p + "attn.attention.q_proj.weight", D, D, &L.W_Q);
    plan.AddLinear(p + "attn.attention.k_proj.weight", D, D, &L.W_K);
    plan.AddLinear(p + "attn.attention.v_proj.weight", D, D, &L.W_V);
    plan.AddLinearWithBias(p + "attn.attention.out_proj", D, D, &L.W_O, &L.b_O);
    plan.AddLayerNorm(p + "ln_2", D, &L.ln2_w, &L.ln2_b);
    plan.AddLinearWithBias(p + "mlp.c_fc", F, D, &L.W_in, &L.b_in);
    plan.AddLinearWithBias(p + "mlp.c_proj", D, F, &L.W_out, &L.b_out);
  }
  plan.AddLayerNorm("ln_f", D, &w.ln_final_w, &w.ln_final_b);
  if (!tied) plan.AddUnprefixed("lm_head.weight", {V, D}, [&w](Tensor&& t) { w.W_U = Transposed(t); });

  const std::string why = absl::StrCat(
      "config.json (GPTNeoForCausalLM: num_layers ", c.n_layers, ", hidden_size ", D,
      ", num_heads ", c.n_heads, ", intermediate_size ", F, ", vocab_size ", V,
      ", max_position_embeddings ", c.n_ctx, ")");
  auto ignorable = [tied](absl::string_view name) {
    if (!absl::StartsWith(name, "transformer.h.")) return tied && name == "lm_head.weight";
    return absl::EndsWith(name, ".attn.attention.bias") ||
           absl::EndsWith(name, ".attn.attention.masked_bias");
  };
  if (auto s = FinishHfModel(in, plan, ignorable, why, tied, c, &out.model); !s.ok()) return s;
  out.quirks.push_back("attention scores not scaled (scale 1)");
  if (n_local > 0) {
    out.quirks.push_back(absl::StrCat(n_local, " local attention layers, window ", window_size));
  }
  if (tied) out.quirks.push_back("tied embeddings");
  return out;
}

}  // namespace

ModelFamily HfGptNeoFamily() {
  return {"hf-gpt-neo", "a HuggingFace GPT-Neo config has \"model_type\": \"gpt_neo\"", Matches,
          Build};
}

}  // namespace memlens

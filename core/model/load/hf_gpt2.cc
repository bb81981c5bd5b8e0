#include "core/model/load/hf_gpt2.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/io/json_fields.h"
#include "core/model/load/weight_plan.h"

namespace memlens {
namespace {

#define G2_ASSIGN_OR_RETURN(lhs, expr) G2_ASSIGN_OR_RETURN_IMPL(G2_CONCAT(_s, __LINE__), lhs, expr)
#define G2_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(*tmp)
#define G2_CONCAT(a, b) G2_CONCAT_IMPL(a, b)
#define G2_CONCAT_IMPL(a, b) a##b

absl::Status Unsupported(const JsonFields& f, absl::string_view key, absl::string_view what) {
  return absl::UnimplementedError(f.Invalid(key, what).message());
}

// The config's file name: shape errors already start with the weights' path, usually in the
// same directory, so repeating the whole config path would only add noise.
std::string ConfigFileName(const std::string& path) {
  return path.substr(path.find_last_of('/') + 1);
}

}  // namespace

bool IsHfGpt2Config(const json::Value& config) {
  const json::Value* type = config.Find("model_type");
  if (type != nullptr && type->is_string()) return type->string_value() == "gpt2";
  return config.Find("n_embd") != nullptr;
}

absl::StatusOr<ModelConfig> ParseHfGpt2Config(const json::Value& config,
                                              const std::string& source) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": config is not a JSON object"));
  }
  JsonFields f(config, source);
  G2_ASSIGN_OR_RETURN(std::string type, f.String("model_type", "gpt2"));
  if (type != "gpt2") {
    return Unsupported(f, "model_type", "only GPT-2 HuggingFace checkpoints are supported");
  }
  ModelConfig c;
  G2_ASSIGN_OR_RETURN(c.name, f.String("_name_or_path", ""));
  c.norm = NormKind::kLayerNorm;
  c.pos = PosKind::kLearned;
  c.SetAllBiases(true);
  G2_ASSIGN_OR_RETURN(c.n_layers, f.RequiredInt("n_layer"));
  G2_ASSIGN_OR_RETURN(c.d_model, f.RequiredInt("n_embd"));
  G2_ASSIGN_OR_RETURN(c.n_heads, f.RequiredInt("n_head"));
  G2_ASSIGN_OR_RETURN(c.d_vocab, f.RequiredInt("vocab_size"));
  G2_ASSIGN_OR_RETURN(absl::optional<int> n_positions, f.OptionalInt("n_positions"));
  G2_ASSIGN_OR_RETURN(absl::optional<int> n_ctx, f.OptionalInt("n_ctx"));
  if (!n_positions.has_value() && !n_ctx.has_value()) {
    return f.Invalid("n_positions", "required field is missing");
  }
  c.n_ctx = n_positions.has_value() ? *n_positions : *n_ctx;
  if (c.n_heads <= 0 || c.d_model % c.n_heads != 0) {
    return f.Invalid("n_head",
                     absl::StrCat("must be positive and divide n_embd (", c.d_model, ")"));
  }
  c.n_kv_heads = c.n_heads;
  c.d_head = c.d_model / c.n_heads;
  G2_ASSIGN_OR_RETURN(absl::optional<int> n_inner, f.OptionalInt("n_inner"));
  c.d_mlp = n_inner.value_or(4 * c.d_model);
  G2_ASSIGN_OR_RETURN(double eps, f.Number("layer_norm_epsilon", 1e-5));
  c.eps = static_cast<float>(eps);
  G2_ASSIGN_OR_RETURN(std::string act, f.String("activation_function", "gelu_new"));
  if (act == "gelu") {
    c.act = ActKind::kGeluErf;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") {
    c.act = ActKind::kGeluTanh;
  } else {
    return Unsupported(f, "activation_function",
                       "not supported (use gelu, gelu_new, gelu_pytorch_tanh, gelu_fast)");
  }
  G2_ASSIGN_OR_RETURN(bool scale, f.Bool("scale_attn_weights", true));
  c.attn_scale = scale ? std::sqrt(static_cast<float>(std::max(c.d_head, 1))) : 1.0f;
  G2_ASSIGN_OR_RETURN(bool by_layer, f.Bool("scale_attn_by_inverse_layer_idx", false));
  if (by_layer) {
    return Unsupported(f, "scale_attn_by_inverse_layer_idx", "per-layer scaling is not supported");
  }
  G2_ASSIGN_OR_RETURN(absl::optional<int> bos, f.OptionalInt("bos_token_id"));
  if (bos.has_value() && *bos < 0) return f.Invalid("bos_token_id", "must not be negative");
  c.bos_token_id = bos.value_or(-1);
  // TransformerLens prepends BOS for GPT-2 by default (HF's tokenizer does not).
  c.prepend_bos = c.bos_token_id >= 0;
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  return c;
}

absl::StatusOr<Model> BuildHfGpt2Model(const ModelConfig& config, const std::string& config_source,
                                       const TensorSource& source, bool read_weights) {
  const ModelConfig& c = config;
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(config_source, ": ", s.message()));
  }
  std::string prefix;
  if (source.Has("transformer.wte.weight")) {
    prefix = "transformer.";
  } else if (!source.Has("wte.weight")) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.source_name(),
        ": no wte.weight or transformer.wte.weight: not a HuggingFace GPT-2 checkpoint"));
  }
  const int64_t D = c.d_model, V = c.d_vocab, F = c.d_mlp;
  Model model;
  model.config = c;
  Weights& w = model.weights;
  w.layers.resize(c.n_layers);
  std::vector<TensorPlan> plan;
  auto add = [&plan, &prefix](const std::string& name, std::vector<int64_t> shape,
                              std::function<void(Tensor &&)> place) {
    plan.push_back({prefix + name, std::move(shape), std::move(place)});
  };
  auto set = [](Tensor* dst) { return [dst](Tensor&& t) { *dst = std::move(t); }; };

  add("wte.weight", {V, D}, set(&w.W_E));
  add("wpe.weight", {c.n_ctx, D}, set(&w.W_pos));
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    const std::string p = absl::StrCat("h.", l, ".");
    add(p + "ln_1.weight", {D}, set(&L.ln1_w));
    add(p + "ln_1.bias", {D}, set(&L.ln1_b));
    add(p + "attn.c_attn.weight", {D, 3 * D}, [&L, D](Tensor&& t) {
      L.W_Q = SliceLastDim(t, 0, D);
      L.W_K = SliceLastDim(t, D, D);
      L.W_V = SliceLastDim(t, 2 * D, D);
    });
    add(p + "attn.c_attn.bias", {3 * D}, [&L, D](Tensor&& t) {
      L.b_Q = SliceLastDim(t, 0, D);
      L.b_K = SliceLastDim(t, D, D);
      L.b_V = SliceLastDim(t, 2 * D, D);
    });
    add(p + "attn.c_proj.weight", {D, D}, set(&L.W_O));
    add(p + "attn.c_proj.bias", {D}, set(&L.b_O));
    add(p + "ln_2.weight", {D}, set(&L.ln2_w));
    add(p + "ln_2.bias", {D}, set(&L.ln2_b));
    add(p + "mlp.c_fc.weight", {D, F}, set(&L.W_in));
    add(p + "mlp.c_fc.bias", {F}, set(&L.b_in));
    add(p + "mlp.c_proj.weight", {F, D}, set(&L.W_out));
    add(p + "mlp.c_proj.bias", {D}, set(&L.b_out));
  }
  add("ln_f.weight", {D}, set(&w.ln_final_w));
  add("ln_f.bias", {D}, set(&w.ln_final_b));
  // GPT2LMHeadModel may store the (tied) head; it is outside the "transformer." prefix.
  if (source.Has("lm_head.weight")) {
    plan.push_back({"lm_head.weight", {V, D}, [&w](Tensor&& t) { w.W_U = Transposed(t); }});
  }

  const std::string prefix_copy = prefix;
  auto ignorable = [&prefix_copy](absl::string_view name) {
    // h.<l>.attn.bias / h.<l>.attn.masked_bias: causal-mask buffers, not weights.
    if (!absl::ConsumePrefix(&name, prefix_copy) || !absl::ConsumePrefix(&name, "h.")) {
      return false;
    }
    const size_t dot = name.find('.');
    int layer;
    if (dot == absl::string_view::npos || !absl::SimpleAtoi(name.substr(0, dot), &layer)) {
      return false;
    }
    name.remove_prefix(dot);
    return name == ".attn.bias" || name == ".attn.masked_bias";
  };
  const std::string why = absl::StrCat(ConfigFileName(config_source), " (n_layer ", c.n_layers,
                                       ", n_embd ", D, ", n_head ", c.n_heads, ", n_inner ", F,
                                       ", vocab_size ", V, ", n_positions ", c.n_ctx, ")");
  if (auto s = ExecutePlan(source, plan, ignorable, why, read_weights); !s.ok()) return s;
  if (!read_weights) return model;
  if (w.W_U.empty()) w.W_U = Transposed(w.W_E);  // tied embeddings
  w.b_U = Filled({V}, 0.0f);
  if (auto s = w.Validate(c); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(source.source_name(), ": ", s.message()));
  }
  return model;
}

ModelFamily HfGpt2Family() {
  ModelFamily f;
  f.name = "hf-gpt2";
  f.what = "a HuggingFace GPT-2 config has \"model_type\": \"gpt2\" or \"n_embd\"";
  f.matches = IsHfGpt2Config;
  f.build = [](const FamilyInput& in) -> absl::StatusOr<FamilyModel> {
    absl::StatusOr<ModelConfig> c = ParseHfGpt2Config(in.config, in.config_path);
    if (!c.ok()) return c.status();
    if (in.tokenizer_bos >= 0 && in.tokenizer_bos < c->d_vocab) {
      c->bos_token_id = in.tokenizer_bos;
      c->prepend_bos = true;
    }
    FamilyModel out;
    out.quirks.push_back("fused c_attn split into q, k, v");
    if (!in.source.Has("lm_head.weight")) out.quirks.push_back("tied embeddings");
    absl::StatusOr<Model> model = BuildHfGpt2Model(*c, in.config_path, in.source, in.read_weights);
    if (!model.ok()) return model.status();
    out.model = std::move(*model);
    return out;
  };
  return f;
}

}  // namespace memlens

#include "core/model/load/load_model.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/model/load/hf_gpt2.h"
#include "core/model/load/llama2c.h"
#include "core/io/container_formats.h"
#include "core/io/safetensors.h"
#include "core/tokenizer/load_tokenizer.h"
#include "core/model/load/transformer_lens.h"
#include "core/model/load/weight_plan.h"
#include "gtest/gtest.h"
#include "tests/io/io_test_util.h"
#include "tests/shared_data.h"

namespace memlens {
namespace {

using testing_io::ReadAll;
using testing_io::TempDir;
using testing_io::WriteAll;
using Shape = std::vector<int64_t>;
using TensorMap = std::map<std::string, Tensor>;

// Distinct, deterministic values per tensor (a misplaced element shows up as a mismatch).
Tensor Pattern(Shape shape, int seed) {
  Tensor t(std::move(shape));
  for (size_t i = 0; i < t.size(); ++i) {
    t.data[i] = std::sin(static_cast<float>(seed) * 12.9898f + static_cast<float>(i) * 0.731f);
  }
  return t;
}

// A TransformerLens state dict for the given sizes.
struct TlSizes {
  int L = 2, D = 12, H = 3, KVH = 3, dh = 4, F = 20, V = 11, ctx = 7;
  bool bias = true, ln_weights = true, ln_bias = true, gated = false, learned_pos = true;
  bool gqa_names = false;  // _W_K/_W_V (TransformerLens GroupedQueryAttention)
};

TensorMap TlTensors(const TlSizes& s) {
  TensorMap m;
  int seed = 1;
  auto put = [&](const std::string& name, Shape shape) { m[name] = Pattern(shape, seed++); };
  put("embed.W_E", {s.V, s.D});
  if (s.learned_pos) put("pos_embed.W_pos", {s.ctx, s.D});
  for (int l = 0; l < s.L; ++l) {
    const std::string p = absl::StrCat("blocks.", l, ".");
    const std::string kv = s.gqa_names ? "attn._" : "attn.";
    if (s.ln_weights) {
      put(p + "ln1.w", {s.D});
      put(p + "ln2.w", {s.D});
      if (s.ln_bias) {
        put(p + "ln1.b", {s.D});
        put(p + "ln2.b", {s.D});
      }
    }
    put(p + "attn.W_Q", {s.H, s.D, s.dh});
    put(p + kv + "W_K", {s.KVH, s.D, s.dh});
    put(p + kv + "W_V", {s.KVH, s.D, s.dh});
    put(p + "attn.W_O", {s.H, s.dh, s.D});
    put(p + "mlp.W_in", {s.D, s.F});
    if (s.gated) put(p + "mlp.W_gate", {s.D, s.F});
    put(p + "mlp.W_out", {s.F, s.D});
    if (s.bias) {
      put(p + "attn.b_Q", {s.H, s.dh});
      put(p + kv + "b_K", {s.KVH, s.dh});
      put(p + kv + "b_V", {s.KVH, s.dh});
      put(p + "attn.b_O", {s.D});
      put(p + "mlp.b_in", {s.F});
      put(p + "mlp.b_out", {s.D});
    }
    // Buffers a TransformerLens state dict carries; they must be ignored.
    put(p + "attn.IGNORE", {});
    put(p + "attn.mask", {s.ctx, s.ctx});
  }
  if (s.ln_weights) {
    put("ln_final.w", {s.D});
    if (s.ln_bias) put("ln_final.b", {s.D});
  }
  put("unembed.W_U", {s.D, s.V});
  if (s.bias) put("unembed.b_U", {s.V});
  return m;
}

std::string TlConfigJson(const TlSizes& s, const std::string& extra = "") {
  return absl::StrCat(R"({"n_layers": )", s.L, R"(, "d_model": )", s.D, R"(, "d_head": )", s.dh,
                      R"(, "n_heads": )", s.H, R"(, "d_mlp": )", s.F, R"(, "d_vocab": )", s.V,
                      R"(, "n_ctx": )", s.ctx, extra, "}");
}

const std::string kGeluLn =
    R"(, "act_fn": "gelu", "normalization_type": "LN", "ln_eps": 1e-05, )"
    R"("positional_embedding_type": "standard", "original_architecture": "neel", "eps": 1e-05)";

// Writes config.json + model.safetensors into a fresh directory.
std::string WriteModelDir(const std::string& name, const std::string& config,
                          const TensorMap& tensors) {
  const std::string dir = TempDir(name);
  WriteAll(dir + "/config.json", config);
  EXPECT_TRUE(WriteSafetensors(dir + "/model.safetensors", tensors).ok());
  return dir;
}

float At(const Tensor& t, std::initializer_list<int64_t> idx) {
  size_t flat = 0, k = 0;
  for (int64_t i : idx) flat = flat * t.shape[k++] + i;
  return t.data[flat];
}

TEST(TransformerLens, GeluLnModelLandsInTheMemlensLayout) {
  TlSizes s;
  const TensorMap tl = TlTensors(s);
  const std::string dir = WriteModelDir("tl_gelu", TlConfigJson(s, kGeluLn), tl);
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.format, "tl-safetensors");
  EXPECT_EQ(c.name, "tl_gelu");  // the directory's name when the config has no model_name
  EXPECT_EQ(c.norm, NormKind::kLayerNorm);
  EXPECT_EQ(c.act, ActKind::kGeluErf);
  EXPECT_EQ(c.pos, PosKind::kLearned);
  EXPECT_TRUE(c.bias_qkv && c.bias_o && c.bias_mlp && c.bias_unembed);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_FLOAT_EQ(c.attn_scale, 2.0f);  // sqrt(d_head)
  EXPECT_FLOAT_EQ(c.eps, 1e-5f);
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_FALSE(c.prepend_bos);
  EXPECT_EQ(model->processing, "none");

  const Weights& w = model->weights;
  EXPECT_EQ(w.W_E.data, tl.at("embed.W_E").data);
  EXPECT_EQ(w.W_pos.data, tl.at("pos_embed.W_pos").data);
  EXPECT_EQ(w.W_U.data, tl.at("unembed.W_U").data);
  for (int l = 0; l < s.L; ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = absl::StrCat("blocks.", l, ".");
    for (int h = 0; h < s.H; ++h) {
      for (int d = 0; d < s.D; ++d) {
        for (int k = 0; k < s.dh; ++k) {
          EXPECT_EQ(At(L.W_Q, {d, h * s.dh + k}), At(tl.at(p + "attn.W_Q"), {h, d, k}));
          EXPECT_EQ(At(L.W_K, {d, h * s.dh + k}), At(tl.at(p + "attn.W_K"), {h, d, k}));
          EXPECT_EQ(At(L.W_V, {d, h * s.dh + k}), At(tl.at(p + "attn.W_V"), {h, d, k}));
          EXPECT_EQ(At(L.W_O, {h * s.dh + k, d}), At(tl.at(p + "attn.W_O"), {h, k, d}));
        }
      }
      for (int k = 0; k < s.dh; ++k) {
        EXPECT_EQ(L.b_Q.data[h * s.dh + k], At(tl.at(p + "attn.b_Q"), {h, k}));
      }
    }
    EXPECT_EQ(L.W_in.data, tl.at(p + "mlp.W_in").data);
    EXPECT_EQ(L.W_out.data, tl.at(p + "mlp.W_out").data);
    EXPECT_EQ(L.ln1_b.data, tl.at(p + "ln1.b").data);
    EXPECT_EQ(L.b_out.data, tl.at(p + "mlp.b_out").data);
    EXPECT_TRUE(L.W_gate.empty());
  }
}

TEST(TransformerLens, LNPreFillsUnitWeightsAndGeluNewIsTanh) {
  TlSizes s;
  s.ln_weights = false;
  const std::string dir =
      WriteModelDir("tl_lnpre",
                    TlConfigJson(s, R"(, "act_fn": "gelu_new", "normalization_type": "LNPre", )"
                                    R"("model_name": "tiny", "eps": 1e-6, "bos_token_id": 3)"),
                    TlTensors(s));
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.name, "tiny");
  EXPECT_EQ(model->config.act, ActKind::kGeluTanh);
  EXPECT_FLOAT_EQ(model->config.eps, 1e-6f);
  EXPECT_EQ(model->config.bos_token_id, 3);
  EXPECT_TRUE(model->config.prepend_bos);
  EXPECT_EQ(model->processing, "fold_ln");
  EXPECT_EQ(model->weights.layers[1].ln2_w.data, std::vector<float>(s.D, 1.0f));
  EXPECT_EQ(model->weights.layers[1].ln2_b.data, std::vector<float>(s.D, 0.0f));
  EXPECT_EQ(model->weights.ln_final_b.data, std::vector<float>(s.D, 0.0f));
}

// Neel Nanda's original configs (gelu-4l as published) say "normalization", not
// "normalization_type", and "ln_eps".
TEST(TransformerLens, NeelStyleConfigKeys) {
  TlSizes s;
  s.ln_weights = false;
  const std::string dir = WriteModelDir(
      "tl_neel",
      TlConfigJson(s, R"(, "act_fn": "gelu", "normalization": "LNPre", "ln_eps": 1e-6, )"
                      R"("shortformer_pos": false)"),
      TlTensors(s));
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.norm, NormKind::kLayerNorm);
  EXPECT_FLOAT_EQ(model->config.eps, 1e-6f);
  EXPECT_EQ(model->processing, "fold_ln");  // LNPre: norm weights were folded before saving
}

TEST(TransformerLens, RotaryGqaSwiGLURmsModel) {
  TlSizes s;
  s.H = 4;
  s.KVH = 2;
  s.D = 16;
  s.learned_pos = false;
  s.ln_bias = false;
  s.gated = true;
  s.gqa_names = true;
  const TensorMap tl = TlTensors(s);
  const std::string config = TlConfigJson(
      s, R"(, "act_fn": "silu", "gated_mlp": true, "normalization_type": "RMS", "eps": 1e-5, )"
         R"("positional_embedding_type": "rotary", "rotary_dim": 4, "rotary_base": 500000.0, )"
         R"("n_key_value_heads": 2, "original_architecture": "LlamaForCausalLM", )"
         R"("default_prepend_bos": true, "bos_token_id": 1, "attn_only": false)");
  auto model = LoadModel(WriteModelDir("tl_llama", config, tl));
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.norm, NormKind::kRMSNorm);
  EXPECT_EQ(c.act, ActKind::kSwiGLU);
  EXPECT_EQ(c.pos, PosKind::kRotary);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_TRUE(model->weights.W_pos.empty());
  // TransformerLens's default rotary pairs halves (i, i + dh/2); the weights are used as stored.
  EXPECT_EQ(c.rotary_style, RotaryStyle::kHalves);
  const LayerWeights& L = model->weights.layers[1];
  const Tensor& q = tl.at("blocks.1.attn.W_Q");
  const Tensor& k = tl.at("blocks.1.attn._W_K");
  for (int h = 0; h < s.H; ++h) {
    for (int d = 0; d < s.D; ++d) {
      for (int e = 0; e < s.dh; ++e) {
        EXPECT_EQ(At(L.W_Q, {d, h * s.dh + e}), At(q, {h, d, e}));
        if (h < s.KVH) {
          EXPECT_EQ(At(L.W_K, {d, h * s.dh + e}), At(k, {h, d, e}));
        }
      }
    }
  }
  EXPECT_EQ(At(L.W_V, {3, 1 * s.dh + 1}), At(tl.at("blocks.1.attn._W_V"), {1, 3, 1}));
  const Tensor& bq = tl.at("blocks.1.attn.b_Q");
  EXPECT_EQ(L.b_Q.data[1 * s.dh + s.dh / 2], At(bq, {1, s.dh / 2}));
  EXPECT_EQ(L.W_gate.data, tl.at("blocks.1.mlp.W_gate").data);
  EXPECT_TRUE(L.ln1_b.empty());

  // rotary_adjacent_pairs: pairs (2i, 2i + 1), the same weights.
  auto adjacent = LoadModel(WriteModelDir(
      "tl_llama_adjacent",
      config.substr(0, config.size() - 1) + R"(, "rotary_adjacent_pairs": true})", tl));
  ASSERT_TRUE(adjacent.ok()) << adjacent.status();
  EXPECT_EQ(adjacent->config.rotary_style, RotaryStyle::kInterleaved);
  EXPECT_EQ(adjacent->weights.layers[1].W_Q.data, HeadsToColumns(q).data);
}

// TransformerLens's GPT-NeoX / GPT-J keys: parallel_attn_mlp is the parallel residual;
// rotary_dim < d_head rotates only the first rotary_dim dims of each head (d_head or null:
// all, stored as 0).
TEST(TransformerLens, ParallelBlocksAndPartialRotary) {
  TlSizes s;
  s.learned_pos = false;
  const TensorMap tl = TlTensors(s);
  auto load = [&](const std::string& extra) {
    return LoadModel(WriteModelDir(
        "tl_neox",
        TlConfigJson(s, R"(, "act_fn": "gelu", "positional_embedding_type": "rotary")" + extra),
        tl));
  };
  auto neox = load(R"(, "rotary_dim": 2, "parallel_attn_mlp": true, "rotary_base": 500)");
  ASSERT_TRUE(neox.ok()) << neox.status();
  EXPECT_TRUE(neox->config.parallel_residual);
  EXPECT_EQ(neox->config.rotary_dim, 2);
  EXPECT_EQ(neox->config.rotary_style, RotaryStyle::kHalves);
  EXPECT_FLOAT_EQ(neox->config.rope_theta, 500.0f);
  auto gptj = load(R"(, "rotary_dim": 2, "parallel_attn_mlp": true, "rotary_adjacent_pairs": true)");
  ASSERT_TRUE(gptj.ok()) << gptj.status();
  EXPECT_EQ(gptj->config.rotary_style, RotaryStyle::kInterleaved);
  EXPECT_EQ(gptj->config.rotary_dim, 2);
  for (const char* full : {R"(, "rotary_dim": 4, "parallel_attn_mlp": false)", R"(, "rotary_dim": null)", ""}) {
    SCOPED_TRACE(full);
    auto model = load(full);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_FALSE(model->config.parallel_residual);
    EXPECT_EQ(model->config.rotary_dim, 0);
  }
}

TEST(TransformerLens, BuildsFromAnyTensorSource) {
  TlSizes s;
  MapTensorSource source("in-memory", TlTensors(s));
  json::ParseOptions opts;
  auto config = json::Parse(TlConfigJson(s, kGeluLn), opts);
  ASSERT_TRUE(config.ok());
  auto model = BuildModelFromSource(*config, "cfg.json", source, "pth", "");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->model.config.format, "tl-pth");
  EXPECT_EQ(model->family, "tl");
}

TEST(TransformerLens, TokenizerFilesProvideTheBosId) {
  TlSizes s;
  const std::string dir = WriteModelDir("tl_tok", TlConfigJson(s, kGeluLn), TlTensors(s));
  WriteAll(dir + "/tokenizer_config.json", R"({"bos_token": {"content": "<|endoftext|>"}})");
  WriteAll(dir + "/tokenizer.json",
           R"({"added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": true}],)"
           R"( "model": {"vocab": {"a": 1}}})");
  EXPECT_EQ(FindTokenizerBosId(dir).value(), 0);
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.bos_token_id, 0);
  EXPECT_TRUE(model->config.prepend_bos);
  WriteAll(dir + "/tokenizer_config.json", R"({"bos_token": "a"})");
  EXPECT_EQ(FindTokenizerBosId(dir).value(), 1);
  WriteAll(dir + "/tokenizer_config.json", R"({"bos_token": null})");
  EXPECT_EQ(FindTokenizerBosId(dir).value(), -1);
}

struct BadCase {
  std::string label;
  std::string config;
  TensorMap tensors;
  std::string error;
};

TEST(TransformerLens, BadModelsGiveClearErrors) {
  TlSizes s;
  const TensorMap good = TlTensors(s);
  const std::string config = TlConfigJson(s, kGeluLn);
  auto with = [&](const std::string& name, Tensor t) {
    TensorMap m = good;
    m[name] = std::move(t);
    return m;
  };
  auto without = [&](const std::string& name) {
    TensorMap m = good;
    m.erase(name);
    return m;
  };
  Tensor nan_wq = good.at("blocks.1.attn.W_Q");
  nan_wq.data[5] = std::numeric_limits<float>::quiet_NaN();
  auto cfg = [&](const std::string& extra) { return TlConfigJson(s, kGeluLn + extra); };
  auto rotary = [&](int rotary_dim) {
    return TlConfigJson(s, absl::StrCat(R"(, "act_fn": "gelu", "positional_embedding_type": )",
                                        R"("rotary", "rotary_dim": )", rotary_dim));
  };
  const std::vector<BadCase> cases = {
      {"wrong shape", config, with("blocks.1.attn.W_Q", Pattern({3, 4, 12}, 1)),
       "tensor blocks.1.attn.W_Q has shape [3, 4, 12] but "},
      {"wrong shape names the config", config, with("embed.W_E", Pattern({11, 13}, 1)),
       "needs [11, 12]"},
      {"missing tensor", config, without("blocks.0.mlp.b_in"), "missing tensor blocks.0.mlp.b_in"},
      {"unexpected tensor", config, with("blocks.0.mlp.W_gate", Pattern({12, 20}, 1)),
       "unexpected tensor blocks.0.mlp.W_gate"},
      {"NaN", config, with("blocks.1.attn.W_Q", nan_wq),
       "blocks.1.attn.W_Q holds a non-finite value"},
      {"missing field", TlConfigJson(s, "").replace(1, 15, ""), TlTensors(s), "n_layers"},
      {"field of the wrong type", cfg(R"(, "bos_token_id": "one")"), good,
       "field \"bos_token_id\" = \"one\": expected an integer"},
      {"non-integer size", TlConfigJson(s, kGeluLn).replace(13, 1, "2.5"), good,
       "field \"n_layers\" = 2.5: expected an integer"},
      {"act_fn unsupported", TlConfigJson(s, R"(, "act_fn": "relu")"), good,
       "field \"act_fn\" = \"relu\": not supported"},
      {"silu without gate", TlConfigJson(s, R"(, "act_fn": "silu", "gated_mlp": false)"), good,
       "silu is only supported in a gated MLP"},
      {"no normalization", TlConfigJson(s, R"(, "act_fn": "gelu", "normalization_type": null)"),
       good, "field \"normalization_type\" = null: models without normalization"},
      {"Neel-style key, bad value", TlConfigJson(s, R"(, "act_fn": "gelu", "normalization": "BN")"),
       good, "field \"normalization\" = \"BN\": not supported"},
      {"shortformer", cfg(R"(, "shortformer_pos": true)"), good, "shortformer_pos"},
      {"attn_only", cfg(R"(, "attn_only": true)"), good, "field \"attn_only\" = true"},
      {"alibi", TlConfigJson(s, R"(, "act_fn": "gelu", "positional_embedding_type": "alibi")"),
       good, "positional_embedding_type"},
      {"odd rotary_dim", rotary(3), good, "field \"rotary_dim\" = 3: must be even, positive"},
      {"zero rotary_dim", rotary(0), good, "field \"rotary_dim\" = 0: must be even, positive"},
      {"negative rotary_dim", rotary(-2), good, "field \"rotary_dim\" = -2"},
      {"rotary_dim over d_head", rotary(6), good,
       "field \"rotary_dim\" = 6: must be even, positive and at most d_head (4)"},
      {"layer-index scaling", cfg(R"(, "scale_attn_by_inverse_layer_idx": true)"), good,
       "field \"scale_attn_by_inverse_layer_idx\" = true"},
      {"NTK-by-parts rope", cfg(R"(, "use_NTK_by_parts_rope": true)"), good,
       "field \"use_NTK_by_parts_rope\" = true"},
      {"4-bit", cfg(R"(, "load_in_4bit": true)"), good, "field \"load_in_4bit\" = true"},
      {"bidirectional", cfg(R"(, "attention_dir": "bidirectional")"), good,
       "field \"attention_dir\" = \"bidirectional\": only causal attention"},
      {"experts", cfg(R"(, "num_experts": 8, "experts_per_token": 2)"), good,
       "field \"num_experts\" = 8: mixture-of-experts"},
      {"bounds", TlConfigJson(s, kGeluLn).replace(13, 1, "100000"), good, "n_layers = 100000"},
      {"negative size", TlConfigJson(s, kGeluLn).replace(13, 1, "-2"), good, "n_layers = -2"},
      {"heads", cfg(R"(, "n_key_value_heads": 2)"), good,
       "n_heads (3) is not a multiple of n_kv_heads (2)"},
      {"neither config", R"({"hidden_size": 3})", good,
       "not the config of a model family memlens knows"},
      {"vocab out", cfg(R"(, "d_vocab_out": 7)"), good, "d_vocab_out"},
      {"not JSON", "{n_layers: 2}", good, "config.json"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string dir = WriteModelDir("bad_tl", c.config, c.tensors);
    auto model = LoadModel(dir);
    ASSERT_FALSE(model.ok());
    EXPECT_TRUE(testing_io::Contains(model.status().message(), dir)) << model.status();
    EXPECT_TRUE(testing_io::Contains(model.status().message(), c.error)) << model.status();
  }
}

// ---- HuggingFace GPT-2 ----

struct Gpt2Sizes {
  int L = 2, D = 12, H = 3, V = 11, P = 7, F = 48;
};

TensorMap Gpt2Tensors(const Gpt2Sizes& s, const std::string& prefix, bool lm_head) {
  TensorMap m;
  int seed = 100;
  auto put = [&](const std::string& name, Shape shape) {
    m[prefix + name] = Pattern(shape, seed++);
  };
  put("wte.weight", {s.V, s.D});
  put("wpe.weight", {s.P, s.D});
  for (int l = 0; l < s.L; ++l) {
    const std::string p = absl::StrCat("h.", l, ".");
    put(p + "ln_1.weight", {s.D});
    put(p + "ln_1.bias", {s.D});
    put(p + "attn.c_attn.weight", {s.D, 3 * s.D});
    put(p + "attn.c_attn.bias", {3 * s.D});
    put(p + "attn.c_proj.weight", {s.D, s.D});
    put(p + "attn.c_proj.bias", {s.D});
    put(p + "ln_2.weight", {s.D});
    put(p + "ln_2.bias", {s.D});
    put(p + "mlp.c_fc.weight", {s.D, s.F});
    put(p + "mlp.c_fc.bias", {s.F});
    put(p + "mlp.c_proj.weight", {s.F, s.D});
    put(p + "mlp.c_proj.bias", {s.D});
    put(p + "attn.bias", {1, 1, s.P, s.P});
    put(p + "attn.masked_bias", {});
  }
  put("ln_f.weight", {s.D});
  put("ln_f.bias", {s.D});
  if (lm_head) m["lm_head.weight"] = m.at(prefix + "wte.weight");
  return m;
}

const std::string kGpt2Config =
    R"({"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],)"
    R"( "bos_token_id": 10, "eos_token_id": 10, "layer_norm_epsilon": 1e-05,)"
    R"( "model_type": "gpt2", "n_ctx": 7, "n_embd": 12, "n_head": 3, "n_inner": null,)"
    R"( "n_layer": 2, "n_positions": 7, "vocab_size": 11})";

TEST(HfGpt2, FusedQkvIsSplitAndTheHeadIsTied) {
  Gpt2Sizes s;
  for (const std::string prefix : {"", "transformer."}) {
    SCOPED_TRACE(prefix);
    const TensorMap hf = Gpt2Tensors(s, prefix, !prefix.empty());
    auto model = LoadModel(WriteModelDir("gpt2" + prefix, kGpt2Config, hf));
    ASSERT_TRUE(model.ok()) << model.status();
    const ModelConfig& c = model->config;
    EXPECT_EQ(c.format, "hf-gpt2-safetensors");
    EXPECT_EQ(c.d_head, 4);
    EXPECT_EQ(c.d_mlp, 48);
    EXPECT_EQ(c.n_ctx, 7);
    EXPECT_EQ(c.act, ActKind::kGeluTanh);
    EXPECT_EQ(c.norm, NormKind::kLayerNorm);
    EXPECT_EQ(c.bos_token_id, 10);
    EXPECT_TRUE(c.prepend_bos);
    EXPECT_FLOAT_EQ(c.attn_scale, 2.0f);
    const Weights& w = model->weights;
    const Tensor& wte = hf.at(prefix + "wte.weight");
    EXPECT_EQ(w.W_E.data, wte.data);
    for (int v = 0; v < s.V; ++v) {
      for (int d = 0; d < s.D; ++d) EXPECT_EQ(At(w.W_U, {d, v}), At(wte, {v, d}));
    }
    EXPECT_EQ(w.b_U.data, std::vector<float>(s.V, 0.0f));
    const Tensor& qkv = hf.at(prefix + "h.1.attn.c_attn.weight");
    const Tensor& qkv_b = hf.at(prefix + "h.1.attn.c_attn.bias");
    const LayerWeights& L = w.layers[1];
    for (int d = 0; d < s.D; ++d) {
      for (int j = 0; j < s.D; ++j) {
        EXPECT_EQ(At(L.W_Q, {d, j}), At(qkv, {d, j}));
        EXPECT_EQ(At(L.W_K, {d, j}), At(qkv, {d, s.D + j}));
        EXPECT_EQ(At(L.W_V, {d, j}), At(qkv, {d, 2 * s.D + j}));
      }
    }
    for (int j = 0; j < s.D; ++j) {
      EXPECT_EQ(L.b_Q.data[j], qkv_b.data[j]);
      EXPECT_EQ(L.b_K.data[j], qkv_b.data[s.D + j]);
      EXPECT_EQ(L.b_V.data[j], qkv_b.data[2 * s.D + j]);
    }
    EXPECT_EQ(L.W_O.data, hf.at(prefix + "h.1.attn.c_proj.weight").data);
    EXPECT_EQ(L.W_in.data, hf.at(prefix + "h.1.mlp.c_fc.weight").data);
    EXPECT_EQ(L.W_out.data, hf.at(prefix + "h.1.mlp.c_proj.weight").data);
    EXPECT_EQ(L.b_in.data, hf.at(prefix + "h.1.mlp.c_fc.bias").data);
    EXPECT_EQ(w.ln_final_b.data, hf.at(prefix + "ln_f.bias").data);
    EXPECT_EQ(w.W_pos.data, hf.at(prefix + "wpe.weight").data);
  }
}

TEST(HfGpt2, BadModelsGiveClearErrors) {
  Gpt2Sizes s;
  const TensorMap good = Gpt2Tensors(s, "", false);
  TensorMap bad_shape = good;
  bad_shape["h.0.attn.c_attn.weight"] = Pattern({12, 12}, 1);
  TensorMap extra = good;
  extra["h.0.attn.q_proj.weight"] = Pattern({12, 12}, 1);
  TensorMap missing = good;
  missing.erase("h.1.mlp.c_fc.bias");
  TensorMap llama_like;
  llama_like["model.embed_tokens.weight"] = Pattern({11, 12}, 1);
  auto config = [&](const std::string& from, const std::string& to) {
    std::string c = kGpt2Config;
    c.replace(c.find(from), from.size(), to);
    return c;
  };
  const std::vector<BadCase> cases = {
      {"fused qkv shape", kGpt2Config, bad_shape,
       "tensor h.0.attn.c_attn.weight has shape [12, 12] but "},
      {"unexpected", kGpt2Config, extra, "unexpected tensor h.0.attn.q_proj.weight"},
      {"missing", kGpt2Config, missing, "missing tensor h.1.mlp.c_fc.bias"},
      {"not gpt2 tensors", kGpt2Config, llama_like, "not a HuggingFace GPT-2 checkpoint"},
      {"heads do not divide", config("\"n_head\": 3", "\"n_head\": 5"), good,
       "field \"n_head\" = 5"},
      {"activation", config("gelu_new", "relu"), good, "activation_function"},
      {"model_type", config("\"gpt2\"", "\"gptj\""), good,
       "not the config of a model family memlens knows"},
      {"layer scaling",
       config("\"vocab_size\"",
              "\"scale_attn_by_inverse_layer_idx\": true, "
              "\"vocab_size\""),
       good, "scale_attn_by_inverse_layer_idx"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string dir = WriteModelDir("bad_gpt2", c.config, c.tensors);
    auto model = LoadModel(dir);
    ASSERT_FALSE(model.ok());
    EXPECT_TRUE(testing_io::Contains(model.status().message(), dir)) << model.status();
    EXPECT_TRUE(testing_io::Contains(model.status().message(), c.error)) << model.status();
  }
}

// ---- Dispatch ----

TEST(LoadModel, PicksTheFormatFromThePath) {
  TlSizes s;
  const std::string dir = WriteModelDir("dispatch", TlConfigJson(s, kGeluLn), TlTensors(s));
  // A .safetensors file directly: config.json next to it.
  auto direct = LoadModel(dir + "/model.safetensors");
  ASSERT_TRUE(direct.ok()) << direct.status();
  // Trailing slash on the directory.
  EXPECT_TRUE(LoadModel(dir + "/").ok());

  EXPECT_ERROR_CONTAINS(LoadModel(dir + "/nothing_here"), "No such file or directory");
  EXPECT_ERROR_CONTAINS(LoadModel(dir + "/config.json"), "unknown model file type");

  const std::string empty = TempDir("empty_model_dir");
  EXPECT_ERROR_CONTAINS(LoadModel(empty), "no config.json in this directory");
  WriteAll(empty + "/config.json", "{}");
  EXPECT_ERROR_CONTAINS(LoadModel(empty), "no weights file found (looked for model.safetensors");
  WriteAll(empty + "/model_final.pth", "PK");
  EXPECT_ERROR_CONTAINS(LoadModel(empty), "no PyTorch reader is linked in");

  const std::string lonely = TempDir("lonely");
  ASSERT_TRUE(WriteSafetensors(lonely + "/w.safetensors", TlTensors(s)).ok());
  EXPECT_ERROR_CONTAINS(LoadModel(lonely + "/w.safetensors"), "no config.json next to it");

  const std::string zip_bin = testing_io::TempPath("pytorch_model.bin");
  WriteAll(zip_bin, std::string("PK\x03\x04", 4) + std::string(100, '\0'));
  EXPECT_ERROR_CONTAINS(LoadModel(zip_bin), "a PyTorch zip checkpoint, not a llama2.c file");

  const std::string sharded = TempDir("sharded");
  WriteAll(sharded + "/config.json", "{}");
  WriteAll(sharded + "/model.safetensors.index.json", "{}");
  EXPECT_ERROR_CONTAINS(LoadModel(sharded), "no \"weight_map\" object");
}

TEST(LoadModel, RegisteredFormatsPlugIn) {
  TlSizes s;
  const std::string dir = TempDir("registered");
  WriteAll(dir + "/config.json", TlConfigJson(s, kGeluLn));
  WriteAll(dir + "/weights.fake", "anything");
  TensorSourceFormat fake;
  fake.name = "fake";
  fake.extension = ".fake";
  fake.open = [s](const std::string& path) -> absl::StatusOr<std::unique_ptr<TensorSource>> {
    return std::unique_ptr<TensorSource>(new MapTensorSource(path, TlTensors(s)));
  };
  RegisterTensorSourceFormat(fake);
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.format, "tl-fake");
  auto direct = LoadModel(dir + "/weights.fake");
  ASSERT_TRUE(direct.ok()) << direct.status();
  WriteAll(dir + "/other.fake", "anything");
  EXPECT_ERROR_CONTAINS(LoadModel(dir), "several fake files (other.fake, weights.fake)");
}

TEST(LoadModel, Llama2cBinThroughTheSameEntryPoint) {
  MEMLENS_REQUIRE_SHARED();
  auto model = LoadModel(SharedDir() + "/models/stories260K/stories260K.bin");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.format, "llama2c");
  EXPECT_EQ(model->config.n_kv_heads, 4);
}

// TransformerLens's state dict holds BOOL attention masks; saved to safetensors as is, it
// loads: the loader skips those buffers by name. Built here from the tl_safetensors fixture
// plus a mask per layer. A BOOL tensor of another name is still an unexpected tensor.
TEST(ModelLoader, TransformerLensSafetensorsWithBoolMasksLoads) {
  const std::string fixture = "tests/fixtures/tl_safetensors/";
  auto file = SafetensorsFile::Open(fixture + "model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  auto reference = LoadModel(fixture + "model.safetensors");
  ASSERT_TRUE(reference.ok()) << reference.status();
  const int64_t n_ctx = reference->config.n_ctx;
  auto write = [&](const std::string& dir, const std::vector<std::string>& bool_names) {
    std::string header = "{", data;
    auto entry = [&](const std::string& name, const char* dtype,
                     const std::vector<int64_t>& shape, const std::string& bytes) {
      header += absl::StrCat(header.size() > 1 ? "," : "", "\"", name, "\":{\"dtype\":\"",
                             dtype, "\",\"shape\":[", absl::StrJoin(shape, ","),
                             "],\"data_offsets\":[", data.size(), ",",
                             data.size() + bytes.size(), "]}");
      data += bytes;
    };
    for (const auto& [name, view] : file->tensors()) {  // F32 first: every offset aligned
      entry(name, "F32", view.shape, std::string(view.bytes.begin(), view.bytes.end()));
    }
    std::string mask(n_ctx * n_ctx, '\0');
    for (int64_t i = 0; i < n_ctx; ++i) {
      for (int64_t j = 0; j <= i; ++j) mask[i * n_ctx + j] = 1;
    }
    for (const std::string& name : bool_names) entry(name, "BOOL", {n_ctx, n_ctx}, mask);
    header += "}";
    while (header.size() % 8 != 0) header += ' ';
    std::string bytes(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(&bytes[0], &n, 8);
    WriteAll(dir + "/model.safetensors", bytes + header + data);
    WriteAll(dir + "/config.json", ReadAll(fixture + "config.json"));
  };
  std::vector<std::string> masks;
  for (int l = 0; l < reference->config.n_layers; ++l) {
    masks.push_back(absl::StrCat("blocks.", l, ".attn.mask"));
  }
  const std::string dir = TempDir("tl_bool_masks");
  write(dir, masks);
  auto model = LoadModel(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->weights.layers[1].W_Q.data, reference->weights.layers[1].W_Q.data);
  EXPECT_EQ(model->weights.W_U.data, reference->weights.W_U.data);

  masks.push_back("blocks.0.attn.flags");
  const std::string unknown = TempDir("tl_bool_unknown");
  write(unknown, masks);
  auto refused = LoadModel(unknown);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("unexpected tensor blocks.0.attn.flags"),
            std::string::npos)
      << refused.status();
}

}  // namespace
}  // namespace memlens

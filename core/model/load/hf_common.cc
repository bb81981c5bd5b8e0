#include "core/model/load/hf_common.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

// Keys of HF's PretrainedConfig and generation settings that never change a forward pass.
constexpr absl::string_view kHarmless[] = {
    "_name_or_path", "architectures", "model_type", "torch_dtype", "transformers_version",
    "use_cache", "initializer_range", "bos_token_id", "eos_token_id", "pad_token_id",
    "sep_token_id", "decoder_start_token_id", "tokenizer_class", "id2label", "label2id",
    "return_dict", "output_attentions", "output_hidden_states", "torchscript",
    "attention_dropout", "hidden_dropout", "embed_dropout", "resid_dropout",
    "classifier_dropout", "summary_first_dropout", "attention_probs_dropout_prob",
    "hidden_dropout_prob", "max_length", "min_length", "do_sample",
    "early_stopping", "num_beams", "temperature", "top_k", "top_p", "repetition_penalty",
    "length_penalty", "no_repeat_ngram_size", "num_return_sequences", "task_specific_params",
    "gradient_checkpointing", "is_encoder_decoder", "tie_encoder_decoder",
    "problem_type", "finetuning_task", "prefix"};

}  // namespace

std::string HfArchitecture(const json::Value& config) {
  const json::Value* a = config.Find("architectures");
  if (a == nullptr || !a->is_array() || a->size() == 0 || !a->array()[0].is_string()) return "";
  return a->array()[0].string_value();
}

absl::Status HfUnsupported(const JsonFields& f, absl::string_view key, absl::string_view what) {
  return absl::UnimplementedError(f.Invalid(key, what).message());
}

absl::Status CheckHfKeys(const JsonFields& f, const json::Value& config,
                         const std::vector<absl::string_view>& understood,
                         absl::string_view family) {
  for (const json::Member& m : config.object()) {
    const absl::string_view key = m.first;
    if (std::find(understood.begin(), understood.end(), key) != understood.end() ||
        std::find(std::begin(kHarmless), std::end(kHarmless), key) != std::end(kHarmless)) {
      continue;
    }
    return HfUnsupported(f, key,
                         absl::StrCat("not a setting memlens's ", family,
                                      " loader implements (it may change the computation)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> HfLinearRopeScaling(const JsonFields& f, const json::Value& config) {
  const json::Value* s = config.Find("rope_scaling");
  if (s == nullptr || s->is_null()) return 1.0;
  if (!s->is_object()) return f.Invalid("rope_scaling", "expected an object or null");
  const json::Value* type = s->Find("rope_type");
  if (type == nullptr) type = s->Find("type");
  if (type == nullptr || !type->is_string()) {
    return f.Invalid("rope_scaling", "no \"type\" (or \"rope_type\") string");
  }
  const std::string& t = type->string_value();
  if (t == "default") return 1.0;
  if (t != "linear") {
    return HfUnsupported(f, "rope_scaling",
                         absl::StrCat("rope scaling type \"", t,
                                      "\" is not supported (none and linear are)"));
  }
  const json::Value* factor = s->Find("factor");
  if (factor == nullptr || !factor->is_number() || !(factor->number() >= 1.0) ||
      factor->number() > 1e6) {
    return f.Invalid("rope_scaling", "linear scaling needs a \"factor\" >= 1");
  }
  return factor->number();
}

absl::Status SetHfBos(const JsonFields& f, int tokenizer_bos, ModelConfig* c) {
  HF_ASSIGN_OR_RETURN(absl::optional<int> bos, f.OptionalInt("bos_token_id"));
  if (bos.has_value() && (*bos < 0 || *bos >= c->d_vocab)) {
    return f.Invalid("bos_token_id", absl::StrCat("outside the vocabulary [0, ", c->d_vocab, ")"));
  }
  c->bos_token_id = bos.value_or(tokenizer_bos < c->d_vocab ? tokenizer_bos : -1);
  c->prepend_bos = c->bos_token_id >= 0;
  return absl::OkStatus();
}

absl::StatusOr<ActKind> HfGeluKind(const JsonFields& f, absl::string_view key,
                                   absl::string_view value) {
  if (value == "gelu") return ActKind::kGeluErf;
  if (value == "gelu_new" || value == "gelu_pytorch_tanh" || value == "gelu_fast") {
    return ActKind::kGeluTanh;
  }
  return HfUnsupported(f, key, "not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast are)");
}

void HfPlan::Add(const std::string& name, std::vector<int64_t> shape,
                 std::function<void(Tensor&&)> place) {
  plan_.push_back({prefix_ + name, std::move(shape), std::move(place)});
}

void HfPlan::AddUnprefixed(const std::string& name, std::vector<int64_t> shape,
                           std::function<void(Tensor&&)> place) {
  plan_.push_back({name, std::move(shape), std::move(place)});
}

void HfPlan::AddLinear(const std::string& name, int64_t out, int64_t in, Tensor* dst) {
  Add(name, {out, in}, [dst](Tensor&& t) { *dst = Transposed(t); });
}

void HfPlan::AddVector(const std::string& name, int64_t n, Tensor* dst) {
  Add(name, {n}, [dst](Tensor&& t) { *dst = std::move(t); });
}

void HfPlan::AddLinearWithBias(const std::string& name, int64_t out, int64_t in, Tensor* w,
                               Tensor* b) {
  AddLinear(name + ".weight", out, in, w);
  AddVector(name + ".bias", out, b);
}

void HfPlan::AddLayerNorm(const std::string& name, int64_t n, Tensor* w, Tensor* b) {
  AddVector(name + ".weight", n, w);
  AddVector(name + ".bias", n, b);
}

absl::Status FinishHfModel(const FamilyInput& in, const HfPlan& plan,
                           const std::function<bool(absl::string_view)>& ignorable,
                           absl::string_view why, bool tied, const ModelConfig& c, Model* model) {
  if (auto s = ExecutePlan(in.source, plan.plan(), ignorable, why, in.read_weights); !s.ok()) {
    return s;
  }
  Weights& w = model->weights;
  if (tied && in.read_weights) w.W_U = Transposed(w.W_E);
  model->config = c;
  absl::Status s = in.read_weights ? w.Validate(c) : c.Validate();
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(in.source.source_name(), ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace memlens

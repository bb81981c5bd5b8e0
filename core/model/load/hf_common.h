// What the HuggingFace families (hf_llama, hf_gpt_neox, hf_gpt_neo) share: the config keys
// every HF config carries that do not change the computation, the refusal of any other key
// the family does not read, rope_scaling, the BOS, and the tensor-name helpers.
#ifndef MEMLENS_CORE_MODEL_LOAD_HF_COMMON_H_
#define MEMLENS_CORE_MODEL_LOAD_HF_COMMON_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/io/json.h"
#include "core/io/json_fields.h"
#include "core/model/load/family.h"
#include "core/model/load/weight_plan.h"

namespace memlens {

#define HF_ASSIGN_OR_RETURN(lhs, expr) HF_ASSIGN_OR_RETURN_IMPL(HF_CONCAT(_s, __LINE__), lhs, expr)
#define HF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(*tmp)
#define HF_CONCAT(a, b) HF_CONCAT_IMPL(a, b)
#define HF_CONCAT_IMPL(a, b) a##b

// The first entry of "architectures", else "".
std::string HfArchitecture(const json::Value& config);

// Every key of `config` must be one the family reads (`understood`) or one that never changes
// the computation (names, dtype, token ids, dropouts, generation settings). Any other key is an
// UnimplementedError naming it: memlens refuses what it would otherwise silently ignore.
absl::Status CheckHfKeys(const JsonFields& f, const json::Value& config,
                         const std::vector<absl::string_view>& understood,
                         absl::string_view family);

// An UnimplementedError "<config>: field "<key>" = <value>: <what>".
absl::Status HfUnsupported(const JsonFields& f, absl::string_view key, absl::string_view what);

// rope_scaling: null, or {"type"|"rope_type": "default"} -> 1; {"...": "linear", "factor": x}
// -> x (positions are divided by x); any other type is an error naming it.
absl::StatusOr<double> HfLinearRopeScaling(const JsonFields& f, const json::Value& config);

// The BOS id: bos_token_id from the config, else the tokenizer's; prepend_bos when known
// (TransformerLens prepends BOS for these families).
absl::Status SetHfBos(const JsonFields& f, int tokenizer_bos, ModelConfig* c);

// act names of HF's ACT2FN that memlens computes, to ActKind (gelu: erf; gelu_new,
// gelu_pytorch_tanh, gelu_fast: tanh); others an error naming `key`.
absl::StatusOr<ActKind> HfGeluKind(const JsonFields& f, absl::string_view key,
                                   absl::string_view value);

// A family's tensor plan under construction.
class HfPlan {
 public:
  explicit HfPlan(std::string prefix) : prefix_(std::move(prefix)) {}
  // `name` under the prefix (e.g. "model."), `shape` as stored, `place` receives it.
  void Add(const std::string& name, std::vector<int64_t> shape,
           std::function<void(Tensor&&)> place);
  // A name outside the prefix (lm_head.weight, embed_out.weight).
  void AddUnprefixed(const std::string& name, std::vector<int64_t> shape,
                     std::function<void(Tensor&&)> place);
  // A stored nn.Linear weight [out, in] placed as memlens's [in, out].
  void AddLinear(const std::string& name, int64_t out, int64_t in, Tensor* dst);
  void AddVector(const std::string& name, int64_t n, Tensor* dst);
  // `name`.weight [out, in] as AddLinear and `name`.bias [out].
  void AddLinearWithBias(const std::string& name, int64_t out, int64_t in, Tensor* w, Tensor* b);
  // A LayerNorm: `name`.weight and `name`.bias, both [n].
  void AddLayerNorm(const std::string& name, int64_t n, Tensor* w, Tensor* b);
  const std::vector<TensorPlan>& plan() const { return plan_; }

 private:
  std::string prefix_;
  std::vector<TensorPlan> plan_;
};

// The end of every HF family's build: runs `plan` (ExecutePlan: `ignorable` and `why` as
// there; nothing read when !in.read_weights), ties W_U to W_E's transpose when `tied`, sets
// model->config = c and validates the weights (only the config when none were read), errors
// naming the weights file.
absl::Status FinishHfModel(const FamilyInput& in, const HfPlan& plan,
                           const std::function<bool(absl::string_view)>& ignorable,
                           absl::string_view why, bool tied, const ModelConfig& c, Model* model);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_HF_COMMON_H_

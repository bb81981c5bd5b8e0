// The forward pass with TransformerLens hook points: one loop for every family, branching on
// the config's quirks (norm, activation, rotary style and fraction, local windows, parallel
// residual, which biases exist).
//
// Hook points, for layer l (shapes for one prompt of T tokens; TransformerLens names):
//   hook_embed [T, D], hook_pos_embed [T, D] (learned positions only)
//   blocks.l.hook_resid_pre [T, D]
//   blocks.l.ln1.hook_scale [T, 1], blocks.l.ln1.hook_normalized [T, D]
//   blocks.l.hook_v_input [T, KVH, D]  (computed only when cached or edited; when edited, the
//       value path reads this per-head input, normalized with ln1's scale of the clean
//       resid_pre, i.e. the scale is frozen)
//   blocks.l.attn.hook_q [T, H, dh], hook_k [T, KVH, dh], hook_v [T, KVH, dh]
//       (q and k before rotary, as TransformerLens)
//   blocks.l.attn.hook_rot_q [T, H, dh], hook_rot_k [T, KVH, dh] (rotary models only: q and k
//       after rotary, what the scores read, as TransformerLens)
//   blocks.l.attn.hook_attn_scores [H, T, T] (causal entries -inf), hook_pattern [H, T, T]
//   blocks.l.attn.hook_z [T, H, dh], blocks.l.attn.hook_result [T, H, D] (no b_O)
//   blocks.l.hook_attn_out [T, D] (includes b_O)
//   blocks.l.hook_resid_mid [T, D] (not in a parallel-residual block: there ln2 reads resid_pre
//       and resid_post = resid_pre + attn_out + mlp_out, as TransformerLens)
//   blocks.l.ln2.hook_scale [T, 1], blocks.l.ln2.hook_normalized [T, D]
//   blocks.l.mlp.hook_pre [T, d_mlp] (SwiGLU: the gate branch before silu),
//   blocks.l.mlp.hook_pre_linear [T, d_mlp] (SwiGLU only), blocks.l.mlp.hook_post [T, d_mlp]
//   blocks.l.hook_mlp_out [T, D], blocks.l.hook_resid_post [T, D]
//   ln_final.hook_scale [T, 1], ln_final.hook_normalized [T, D]
// Each hook's value may be recorded (RunOptions::cache) and replaced or edited in place by an
// intervention before the rest of the pass uses it.
#ifndef MEMLENS_CORE_MODEL_FORWARD_H_
#define MEMLENS_CORE_MODEL_FORWARD_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/model/weights.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"
#include "core/util/thread_pool.h"

namespace memlens {

// Edits a hook's value in place (ablate, patch, add). The tensor's shape must not change.
using HookFn = std::function<void(Tensor& value)>;

struct RunOptions {
  HookFilter cache;                          // which hooks to record in the result's store
  std::map<std::string, HookFn> interventions;  // hook name -> edit
  // Rerun from blocks.{start_layer}.hook_resid_pre with this residual [T, D] instead of
  // embedding the tokens (the tokens still give T and positions). start_layer == n_layers
  // means only the final norm and unembedding run. Hooks before the start point do not run.
  int start_layer = 0;
  const Tensor* start_resid = nullptr;
  // start_resid is blocks.{start_layer}.hook_resid_mid instead: the layer's attention is
  // skipped (needs start_resid and start_layer < n_layers; an error for parallel blocks).
  bool start_at_mid = false;
  enum class Logits { kAll, kLastPosition, kNone };
  // kLastPosition is what next-token prediction needs and keeps memory at [1, d_vocab].
  Logits logits = Logits::kAll;
};

struct RunResult {
  Tensor logits;  // [T, d_vocab], [1, d_vocab] (last position only) or empty
  ActivationStore store;
  // Working buffers of the pass, kept so that a RunResult passed to Transformer::RunInto
  // again reuses their memory (no fresh pages to fault in and zero on every prompt).
  std::vector<Tensor> scratch;
};

// Every hook name a run of `config` can produce (for filters, `memlens hooks`, validation).
std::vector<std::string> AllHookNames(const ModelConfig& config);

// The shape `hook` has in a run of T tokens (as documented above); empty for unknown names.
std::vector<int64_t> HookShape(const ModelConfig& config, const std::string& hook, int64_t T);

// Bytes the hooks `filter` selects take in one run of T tokens: what caching will allocate.
size_t CacheBytes(const ModelConfig& config, const HookFilter& filter, int64_t T);
// ResourceExhausted when CacheBytes exceeds `limit_bytes`, saying how much is needed and which
// hooks are largest (what to filter) — checked before a run allocates anything.
absl::Status CheckCacheFits(const ModelConfig& config, const HookFilter& filter, int64_t T,
                            size_t limit_bytes);

class Transformer {
 public:
  // `model` must outlive the Transformer.
  Transformer(const Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}

  // Errors: empty input, a token id outside [0, d_vocab), more tokens than n_ctx, a bad
  // start_resid shape, an intervention that changes a shape or names an unknown hook.
  absl::StatusOr<RunResult> Run(absl::Span<const int> tokens, const RunOptions& options) const;
  // The same, reusing `result`'s memory: cached hooks, logits and working buffers of the
  // previous run are overwritten in place when their shapes match (the common case of a
  // dataset loop), so repeated runs allocate nothing. On error `result` is unspecified.
  absl::Status RunInto(absl::Span<const int> tokens, const RunOptions& options,
                       RunResult& result) const;

  const Model& model() const { return model_; }
  ThreadPool& pool() const { return pool_; }

 private:
  const Model& model_;
  ThreadPool& pool_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_FORWARD_H_

// TransformerLens's weight processing (HookedTransformer.process_weights_), with its defaults.
//
// Interpretability results depend on it (method.md: the gelu-4l study used the defaults), so
// every report states Model::processing. The transforms, in TransformerLens's order:
//
//   fold_ln: each norm's weight w (and, for LayerNorm, bias b) moves into the matrices that
//     read the norm's output: for a reader W [d_model, out] with bias b_W,
//       b_W += b @ W,   W = diag(w) W,   then (LayerNorm only) W -= mean over d_model of W,
//     for ln1 -> W_Q, W_K, W_V (b_Q, b_K, b_V), ln2 -> W_in (b_in) and W_gate (scaled only),
//     ln_final -> W_U (b_U). The last step is TransformerLens's center_weights=True: the
//     normalized vector has zero mean, so the mean over d_model of a reading matrix is never
//     used. The norm then has w = 1 and b = 0 (TransformerLens's LNPre / RMSPre), stored as
//     ones and zeros so the forward pass is unchanged.
//   center_writing_weights (LayerNorm only): subtract the mean over d_model from everything
//     that writes to the residual stream: rows of W_E, W_pos, W_O, W_out and b_O, b_out.
//     Every reader of the stream starts with a LayerNorm, which removes that mean anyway.
//   center_unembed: subtract from each row of W_U its mean over the vocabulary, and b_U's
//     mean from b_U: every logit at a position moves by the same amount, softmax is unchanged.
//   fold_value_biases: b_O += sum_h b_V[h] @ W_O[h] (with grouped-query attention, b_V of the
//     head's key/value group), b_V = 0: attention rows sum to 1, so each head's value bias
//     reaches the output as that constant.
//
// What changes observably: the logits by a constant per position (center_unembed); each
// residual point by its mean over d_model (center_writing_weights); the norms' hook_normalized
// loses w and b. Attention patterns, hook_scale, and the centered residual stream are unchanged.
//
// RMSNorm models: fold_ln folds the weights only (RMSNorm has no bias and does not remove the
// mean, so reading matrices are not centered), and center_writing_weights is skipped with a
// note (TransformerLens skips it with a warning): RMSNorm does not remove the mean, so centering
// would change the outputs. center_unembed and fold_value_biases are valid for any model.
#ifndef MEMLENS_CORE_MODEL_PROCESSING_H_
#define MEMLENS_CORE_MODEL_PROCESSING_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/model/weights.h"

namespace memlens {

struct ProcessingOptions {
  bool fold_ln = true;
  bool center_writing_weights = true;
  bool center_unembed = true;
  bool fold_value_biases = true;
};

// Processes `model` in place and sets model->processing to the steps applied, e.g.
// "fold_ln+center_writing+center_unembed+fold_value_biases", followed by any step skipped and
// why ("; skipped center_writing (RMSNorm does not remove the mean)"); "none" when nothing
// applied. `notes` (optional) receives one sentence per skipped step or adjustment.
//
// Errors (the model is then unchanged): weights that fail Weights::Validate; a model already
// processed (model->processing is not "none"); a LayerNorm model with a gated MLP whose ln2
// bias is nonzero (the gate branch has no bias to absorb ln2.b @ W_gate). Where a norm bias
// must fold into a reader that has none (config.bias_qkv / bias_mlp / bias_unembed false),
// that reader gets zero biases first and its config flag becomes true; likewise b_O for
// fold_value_biases when the model has value biases but no b_O (Qwen2).
absl::Status ProcessWeights(Model* model, const ProcessingOptions& options = {},
                            std::vector<std::string>* notes = nullptr);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_PROCESSING_H_

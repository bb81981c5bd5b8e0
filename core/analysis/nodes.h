// The node decomposition of docs method.md: every component whose output is added to the
// residual stream. The final residual stream (blocks.{L-1}.hook_resid_post) is exactly the sum
// of all nodes' outputs at each position.
//
//   embed        hook_embed
//   pos_embed    hook_pos_embed (learned positions only)
//   L{l}H{h}     blocks.l.attn.hook_result[:, h] (z_h @ W_O[h], without b_O)
//   L{l}.b_O     the layer's attention output bias (only when the model has b_O)
//   M{l}         blocks.l.hook_mlp_out (includes b_out)
#ifndef MEMLENS_CORE_ANALYSIS_NODES_H_
#define MEMLENS_CORE_ANALYSIS_NODES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model/weights.h"
#include "core/store/activation_store.h"
#include "core/tensor.h"

namespace memlens {

enum class NodeKind { kEmbed, kPosEmbed, kHead, kAttnBias, kMlp };

struct Node {
  NodeKind kind = NodeKind::kEmbed;
  int layer = -1;  // -1 for embed / pos_embed
  int head = -1;   // heads only
  std::string name;
  // The node's block is parallel (config.parallel_residual): its MLP reads resid_pre, as the
  // attention does, so the MLP is not later than the same layer's heads.
  bool parallel = false;

  // Where the node writes into the residual stream, as a stage index: embeddings -1, layer l's
  // attention (heads and b_O) 2l, layer l's MLP 2l+1. Node b reads node a's output iff
  // b's read stage is greater than a's WriteStage.
  int WriteStage() const;
  // The stage whose input the node reads: heads and b_O of layer l read resid_pre (2l), the MLP
  // of layer l reads resid_mid (2l+1), or resid_pre (2l) in a parallel block; embeddings read
  // nothing (-1).
  int ReadStage() const;
  // True when `reader` reads this node's output (it writes strictly later in the stream).
  bool IsReadBy(const Node& reader) const { return reader.ReadStage() > WriteStage(); }
};

// All nodes of a model in stream order: embed, pos_embed, then per layer its heads, b_O, M.
std::vector<Node> ListNodes(const Model& model);
// The index of the node called `name` in ListNodes(model), or an error naming it.
absl::StatusOr<int> FindNode(const std::vector<Node>& nodes, absl::string_view name);

// The hooks NodeOutputs needs.
std::vector<std::string> NodeHooks(const ModelConfig& config);

// Every node's output at `position`: [num_nodes, d_model], rows in ListNodes order.
// Errors: a needed hook missing from the store, a position outside the prompt.
absl::StatusOr<Tensor> NodeOutputs(const ActivationStore& store, const Model& model,
                                   const std::vector<Node>& nodes, int64_t position);
// One node's output at every position: [T, d_model].
absl::StatusOr<Tensor> NodeOutputAll(const ActivationStore& store, const Model& model,
                                     const Node& node);

// Residual points (method.md): pre{l}, mid{l}, post{l}, with their hooks and stages (the
// stream after stage s: pre{l} = before stage 2l, mid{l} = after 2l, post{l} = after 2l+1).
// A parallel block has no mid{l}.
struct ResidPoint {
  std::string name;  // "mid0"
  std::string hook;  // "blocks.0.hook_resid_mid"
  int stage = 0;     // the last write stage included in this point
};
// mid{l} (not for parallel blocks) and post{l} for every layer, in order.
std::vector<ResidPoint> MidPostPoints(const ModelConfig& config);

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_NODES_H_

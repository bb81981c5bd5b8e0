#include "core/analysis/nodes.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace memlens {

int Node::WriteStage() const {
  switch (kind) {
    case NodeKind::kEmbed:
    case NodeKind::kPosEmbed:
      return -1;
    case NodeKind::kHead:
    case NodeKind::kAttnBias:
      return 2 * layer;
    case NodeKind::kMlp:
      return 2 * layer + 1;
  }
  return -1;
}

int Node::ReadStage() const {
  switch (kind) {
    case NodeKind::kEmbed:
    case NodeKind::kPosEmbed:
      return -1;
    case NodeKind::kHead:
    case NodeKind::kAttnBias:
      return 2 * layer;
    case NodeKind::kMlp:
      return parallel ? 2 * layer : 2 * layer + 1;
  }
  return -1;
}

std::vector<Node> ListNodes(const Model& model) {
  const ModelConfig& c = model.config;
  std::vector<Node> nodes;
  nodes.push_back({NodeKind::kEmbed, -1, -1, "embed"});
  if (c.pos == PosKind::kLearned) nodes.push_back({NodeKind::kPosEmbed, -1, -1, "pos_embed"});
  for (int l = 0; l < c.n_layers; ++l) {
    for (int h = 0; h < c.n_heads; ++h) {
      nodes.push_back({NodeKind::kHead, l, h, absl::StrCat("L", l, "H", h)});
    }
    if (l < static_cast<int>(model.weights.layers.size()) &&
        !model.weights.layers[l].b_O.empty()) {
      nodes.push_back({NodeKind::kAttnBias, l, -1, absl::StrCat("L", l, ".b_O")});
    }
    nodes.push_back({NodeKind::kMlp, l, -1, absl::StrCat("M", l)});
  }
  for (Node& n : nodes) n.parallel = c.parallel_residual;
  return nodes;
}

absl::StatusOr<int> FindNode(const std::vector<Node>& nodes, absl::string_view name) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == name) return static_cast<int>(i);
  }
  return absl::NotFoundError(absl::StrCat("no node named '", name,
                                          "' (nodes are embed, pos_embed, L{l}H{h}, "
                                          "L{l}.b_O, M{l})"));
}

std::vector<std::string> NodeHooks(const ModelConfig& c) {
  std::vector<std::string> hooks = {"hook_embed"};
  if (c.pos == PosKind::kLearned) hooks.push_back("hook_pos_embed");
  for (int l = 0; l < c.n_layers; ++l) {
    hooks.push_back(absl::StrCat("blocks.", l, ".attn.hook_result"));
    hooks.push_back(absl::StrCat("blocks.", l, ".hook_mlp_out"));
  }
  return hooks;
}

namespace {

// Copies the node's output at `position` into out[D].
absl::Status CopyNodeOutput(const ActivationStore& store, const Model& model, const Node& n,
                            int64_t position, float* out) {
  const ModelConfig& c = model.config;
  const int64_t D = c.d_model;
  std::string hook;
  switch (n.kind) {
    case NodeKind::kEmbed:
      hook = "hook_embed";
      break;
    case NodeKind::kPosEmbed:
      hook = "hook_pos_embed";
      break;
    case NodeKind::kHead:
      hook = absl::StrCat("blocks.", n.layer, ".attn.hook_result");
      break;
    case NodeKind::kAttnBias: {
      const Tensor& b = model.weights.layers[n.layer].b_O;
      std::memcpy(out, b.ptr(), D * sizeof(float));
      return absl::OkStatus();
    }
    case NodeKind::kMlp:
      hook = absl::StrCat("blocks.", n.layer, ".hook_mlp_out");
      break;
  }
  absl::StatusOr<const Tensor*> t = store.Get(hook);
  if (!t.ok()) return t.status();
  const Tensor& v = **t;
  if (position < 0 || position >= v.dim(0)) {
    return absl::OutOfRangeError(absl::StrCat("position ", position, " is outside ", hook,
                                              " of shape ", ShapeString(v.shape)));
  }
  const float* src = n.kind == NodeKind::kHead ? v.ptr() + (position * c.n_heads + n.head) * D
                                               : v.row(position);
  std::memcpy(out, src, D * sizeof(float));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Tensor> NodeOutputs(const ActivationStore& store, const Model& model,
                                   const std::vector<Node>& nodes, int64_t position) {
  const int64_t D = model.config.d_model;
  Tensor out({static_cast<int64_t>(nodes.size()), D});
  for (size_t i = 0; i < nodes.size(); ++i) {
    absl::Status s = CopyNodeOutput(store, model, nodes[i], position, out.row(i));
    if (!s.ok()) return s;
  }
  return out;
}

absl::StatusOr<Tensor> NodeOutputAll(const ActivationStore& store, const Model& model,
                                     const Node& node) {
  absl::StatusOr<const Tensor*> embed = store.Get("hook_embed");
  int64_t T = 0;
  if (embed.ok()) {
    T = (*embed)->dim(0);
  } else {
    absl::StatusOr<const Tensor*> mlp = store.Get("blocks.0.hook_mlp_out");
    if (!mlp.ok()) return embed.status();
    T = (*mlp)->dim(0);
  }
  Tensor out({T, model.config.d_model});
  for (int64_t t = 0; t < T; ++t) {
    absl::Status s = CopyNodeOutput(store, model, node, t, out.row(t));
    if (!s.ok()) return s;
  }
  return out;
}

std::vector<ResidPoint> MidPostPoints(const ModelConfig& c) {
  std::vector<ResidPoint> points;
  for (int l = 0; l < c.n_layers; ++l) {
    if (!c.parallel_residual) {
      points.push_back({absl::StrCat("mid", l), absl::StrCat("blocks.", l, ".hook_resid_mid"),
                        2 * l});
    }
    points.push_back({absl::StrCat("post", l), absl::StrCat("blocks.", l, ".hook_resid_post"),
                      2 * l + 1});
  }
  return points;
}

}  // namespace memlens

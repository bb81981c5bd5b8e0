// The static (weights-only) erasure detector of method.md.
//
// Each head's effective OV circuit, in memlens's row-vector convention (out = x @ W_OV):
//   W_OV[h] = N_h diag(ln1.w) W_V[:, g(h)] W_O[h]   (d_model x d_model, rank <= d_head)
// where N_h centers (LayerNorm: I - 11^T / d_model; RMSNorm: I) and the 1/scale of ln1 is
// left out (it is a positive per-position number). W_OV is never formed: with
// A_h = N_h diag(ln1.w) W_V[:, g(h)] [D, dh] and B_h = W_O[h] [dh, D], every quantity below is
// a trace of d_head x d_head products.
//
// For a writer w and a later head e (layer(e) > layer(w)), w's outputs x W_OV[w] are read by
// e and mapped to x W_OV[w] W_OV[e]:
//   composition       = ||W_OV[w] W_OV[e]||_F / (||W_OV[w]||_F ||W_OV[e]||_F)
//                       (V-composition score, in [0, 1])
//   signed_gain       = <W_OV[w] W_OV[e], W_OV[w]>_F / ||W_OV[w]||_F^2
//                       = tr(W_OV[w] W_OV[e] W_OV[w]^T) / ||W_OV[w]||_F^2: for isotropic
//                       inputs x, E[(x W_w W_e) . (x W_w)] / E[||x W_w||^2], i.e. the average
//                       projection ratio of what e writes back onto what w wrote (up to e's
//                       ln1 1/scale); -1: e writes back exactly the negative.
//   signed_cos        = <W_OV[w] W_OV[e], W_OV[w]>_F / (||W_OV[w] W_OV[e]||_F ||W_OV[w]||_F)
//                       in [-1, 1]: -1 iff e maps all of w's output subspace to its negative.
//   signed_composition = signed_cos * composition
//                       = <W_OV[w] W_OV[e], W_OV[w]>_F / (||W_OV[w]||_F^2 ||W_OV[e]||_F):
//                       scale-free, -1 for a perfect eraser of w whose whole OV circuit does
//                       that; pairs are ranked by it, most negative first.
// MLP neurons: cos(W_in[:, n], W_out[n, :]) < threshold (default -0.3): the neuron writes
// back (a multiple of) the negative of the direction it reads. Raw weights (ln2.w not applied;
// with TransformerLens's fold_ln it is already folded into W_in).
#ifndef MEMLENS_CORE_ANALYSIS_STATIC_ERASURE_H_
#define MEMLENS_CORE_ANALYSIS_STATIC_ERASURE_H_

#include <string>
#include <vector>

#include "core/model/weights.h"
#include "core/util/thread_pool.h"

namespace memlens {

struct HeadPairScore {
  int writer_layer = 0, writer_head = 0, eraser_layer = 0, eraser_head = 0;
  std::string writer, eraser;  // "L0H2", "L2H4"
  double composition = 0, signed_gain = 0, signed_cos = 0, signed_composition = 0;
};

// All (writer head, later head) pairs, sorted by signed_composition ascending (most negative
// first). Pairs where either OV circuit (or their product) is zero get 0 scores. The same
// numbers for any thread count.
std::vector<HeadPairScore> StaticHeadPairs(const Model& model, ThreadPool& pool);

struct AntiAlignedNeuron {
  int layer = 0, neuron = 0;
  double cos = 0;
};
// Neurons with cos < threshold, most negative first.
std::vector<AntiAlignedNeuron> AntiAlignedNeurons(const Model& model, double threshold = -0.3);

}  // namespace memlens

#endif  // MEMLENS_CORE_ANALYSIS_STATIC_ERASURE_H_

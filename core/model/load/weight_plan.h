// Building memlens Weights from a TensorSource: a plan of every tensor a naming scheme needs,
// checked in full before anything is converted, plus the layout conversions the schemes share.
//
// A builder (TransformerLens names, HuggingFace GPT-2 names, ...) lists one TensorPlan entry
// per stored tensor: its name, the shape the config implies, and where the converted tensor
// goes. ExecutePlan first checks that every planned tensor exists with exactly that shape and
// that the source holds nothing unexpected (a tensor the builder does not understand usually
// means a config/weights mismatch, e.g. a gated MLP in a file whose config says otherwise);
// only then does it read, convert and place the tensors one at a time. A tensor the source
// gives as a view of its mapped file (core/io/mapped_file.h) is used in place when the
// placement moves it into the model; when the placement converts it instead, its file pages
// are released. With `read_weights` false it stops after the checks (names and shapes, nothing read): what
// `memlens info` needs, in the time it takes to parse the headers.
#ifndef MEMLENS_CORE_MODEL_LOAD_WEIGHT_PLAN_H_
#define MEMLENS_CORE_MODEL_LOAD_WEIGHT_PLAN_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/io/tensor_source.h"
#include "core/tensor.h"

namespace memlens {

struct TensorPlan {
  std::string name;                     // as stored in the source
  std::vector<int64_t> shape;           // as stored in the source
  std::function<void(Tensor&&)> place;  // receives the float32 tensor of that shape
};

// `why` describes where the expected shapes come from (e.g. "config.json: d_model 32, ...");
// it is appended to shape-mismatch errors. `ignorable` accepts stored tensors that are not
// weights (attention-mask buffers and the like); every other unplanned tensor is an error.
absl::Status ExecutePlan(const TensorSource& source, const std::vector<TensorPlan>& plan,
                         const std::function<bool(absl::string_view)>& ignorable,
                         absl::string_view why, bool read_weights = true);

// Refuses weights that cannot fit in this machine's physical memory as float32 (`bytes`), before
// anything is converted: a 27 GB checkpoint on a 16 GB machine is an error naming `source` and
// both sizes, not an hour of swapping and a bad_alloc. ExecutePlan checks its plan's total.
absl::Status CheckWeightsFit(const std::string& source, uint64_t bytes);

// ---- Layout conversions (inputs have the shapes named; the plan guarantees them) ----

// [n, a, b] -> [a, n * b]: TransformerLens's per-head W_Q/W_K/W_V ([H, D, dh]) to memlens's
// column blocks ([D, H * dh], head h = columns h*dh .. (h+1)*dh).
Tensor HeadsToColumns(const Tensor& t);
// The same data under a new shape with the same element count (e.g. b_Q [H, dh] -> [H*dh],
// W_O [H, dh, D] -> [H*dh, D]).
Tensor Reshaped(Tensor t, std::vector<int64_t> shape);
// Columns [begin, begin + count) of a 2-D [rows, cols] tensor, or elements of a 1-D one.
Tensor SliceLastDim(const Tensor& t, int64_t begin, int64_t count);
// [r, c] -> [c, r]. The file pages of a view are released row block by row block.
Tensor Transposed(const Tensor& t);
// A [n] or [rows, n] tensor of ones / zeros.
Tensor Filled(std::vector<int64_t> shape, float value);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_WEIGHT_PLAN_H_

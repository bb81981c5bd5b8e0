// PyTorch checkpoints (torch.save's zip format, e.g. TransformerLens's model_final.pth) read
// without Python and without executing the pickle.
//
// Layout: a zip (core/io/torch_zip.h) whose single top-level folder <archive> (the file's stem
// in torch 1.x when saved to a path, "archive" when saved to a file object and in newer torch;
// never assumed) holds
//   <archive>/data.pkl      the pickled object: here, a state dict (an OrderedDict str -> tensor)
//   <archive>/data/<key>    one raw storage per key, little-endian
//   <archive>/byteorder     "little" (newer torch; absent means little)
//   <archive>/version, <archive>/.data/serialization_id   ignored
// In data.pkl (core/io/pickle.h) each tensor is
//   torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
//                                   backward_hooks[, metadata])
// (optionally wrapped in torch._utils._rebuild_parameter(tensor, requires_grad, hooks)), with
// `storage` the persistent id ('storage', torch.<T>Storage, '<key>', '<location>', numel).
//
// Checks, each an error naming the file and the tensor: the storage entry exists and holds
// exactly numel * element-size bytes; every tensor of a shared storage agrees on its type and
// numel; sizes and strides are non-negative and of equal rank; the view's last element
// (offset + sum((size_i - 1) * stride_i)) lies inside the storage, computed without overflow;
// a view may not have more elements than its storage (broadcast/overlapping views, which would
// let a tiny file demand a huge allocation, are refused). Non-contiguous views (a transposed
// tensor saved as is) are supported: ReadFloat gathers them into a C-ordered Tensor.
#ifndef MEMLENS_CORE_IO_TORCH_CHECKPOINT_H_
#define MEMLENS_CORE_IO_TORCH_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/io/tensor_source.h"
#include "core/io/torch_zip.h"
#include "core/tensor.h"

namespace memlens {

enum class TorchDType { kF32, kF16, kBF16, kF64, kBool, kU8, kI8, kI16, kI32, kI64 };

// "float32", "float16", "bfloat16", "float64", "bool", "uint8", "int8", "int16", "int32",
// "int64" (torch's spelling).
const char* TorchDTypeName(TorchDType dtype);
size_t TorchDTypeSize(TorchDType dtype);
// Float types memlens converts to float32 (f32, f16, bf16, f64).
bool IsFloatDType(TorchDType dtype);

struct TorchTensorInfo {
  std::string name;
  TorchDType dtype = TorchDType::kF32;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;     // in elements
  int64_t storage_offset = 0;      // in elements
  std::string storage_key;         // <archive>/data/<storage_key>
  absl::Span<const uint8_t> storage;  // the whole storage (points into the archive)

  size_t num_elements() const { return Tensor::NumElements(shape); }
  // Row-major with no gaps (strides of size-1 dimensions do not matter).
  bool contiguous() const;
};

struct TorchCheckpointOptions {
  ZipOptions zip;
};

class TorchCheckpoint {
 public:
  // Maps `path` and reads its state dict. Errors name the path; a legacy (pre-1.6, non-zip)
  // torch.save file is recognized and refused with a clear message.
  static absl::StatusOr<TorchCheckpoint> Open(const std::string& path,
                                              const TorchCheckpointOptions& options = {});
  // Reads an archive parsed elsewhere (tests; bytes the caller keeps alive).
  static absl::StatusOr<TorchCheckpoint> FromZip(ZipArchive zip);

  TorchCheckpoint(TorchCheckpoint&&) = default;
  TorchCheckpoint& operator=(TorchCheckpoint&&) = default;

  const std::string& path() const { return zip_->source_name(); }
  const std::string& archive_name() const { return archive_; }  // the top-level folder
  // Every tensor of the state dict, any dtype, in state-dict order.
  const std::vector<TorchTensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TorchTensorInfo* Find(absl::string_view name) const;
  // The tensor as float32 in C order (f32/f16/bf16 exactly; f64 rounded). NotFoundError when
  // absent; InvalidArgumentError for a non-float tensor (e.g. a bool mask).
  absl::StatusOr<Tensor> ReadFloat(absl::string_view name) const;
  // A float tensor of this checkpoint as float32: contiguous F32 data of a mapped archive is
  // viewed in place (core/io/mapped_file.h), anything else converted (ToFloat).
  Tensor Read(const TorchTensorInfo& info) const;
  static Tensor ToFloat(const TorchTensorInfo& info);

 private:
  TorchCheckpoint() = default;
  absl::Status ReadStateDict();

  std::unique_ptr<ZipArchive> zip_;  // heap-held: tensor spans stay valid when this moves
  std::string archive_;
  std::vector<TorchTensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> index_;
};

// A checkpoint's float tensors as a TensorSource (for the model builders): non-float tensors,
// such as TransformerLens's bool attention masks, are not listed.
class TorchCheckpointSource : public TensorSource {
 public:
  explicit TorchCheckpointSource(TorchCheckpoint checkpoint);
  static absl::StatusOr<std::unique_ptr<TorchCheckpointSource>> Open(const std::string& path);

  const std::string& source_name() const override { return checkpoint_.path(); }
  std::vector<std::string> TensorNames() const override;
  const std::vector<int64_t>* FindShape(absl::string_view name) const override;
  absl::StatusOr<Tensor> ReadFloat(absl::string_view name) const override;
  const TorchCheckpoint& checkpoint() const { return checkpoint_; }

 private:
  TorchCheckpoint checkpoint_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_TORCH_CHECKPOINT_H_

// Reading and writing the safetensors format (https://github.com/huggingface/safetensors).
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON header, then the data
// section. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) and may hold a "__metadata__" object of strings.
//
// The reader maps the file and validates the whole header before it allocates anything for
// tensor data: N is sane and within the file; every entry has a supported dtype (F32, F16,
// BF16; any other dtype is a clear error), a shape whose element count times the dtype size
// equals end - begin (overflow-checked), offsets inside the data section and aligned to the
// element size, and no two tensors overlap. Views point into the mapping; conversion to a
// float32 Tensor happens only when asked for.
#ifndef MEMLENS_CORE_IO_SAFETENSORS_H_
#define MEMLENS_CORE_IO_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/io/mapped_file.h"
#include "core/io/tensor_source.h"
#include "core/tensor.h"

namespace memlens {

// Element types memlens converts to float32 at load time.
// kOther: a dtype memlens does not read (F64, integers, BOOL, F8...; the name is in
// TensorView::dtype_name). Such tensors are listed, shaped and bounds-checked like the others
// (a TransformerLens state dict carries BOOL attention masks), but ReadFloat refuses them.
enum class DType { kF32, kF16, kBF16, kOther };

const char* DTypeName(DType dtype);  // "F32", "F16", "BF16" (safetensors spelling), "other"
size_t DTypeSize(DType dtype);       // bytes per element of a float dtype; 0 for kOther

// IEEE binary16 and bfloat16 bit patterns to float (exact; NaN/Inf/subnormals preserved).
float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);

// A tensor stored in a file, not yet converted. `bytes` is little-endian, C order, and points
// into memory its owner (e.g. a SafetensorsFile) keeps alive.
struct TensorView {
  DType dtype = DType::kF32;
  std::string dtype_name = "F32";  // as the file spells it
  std::vector<int64_t> shape;
  absl::Span<const uint8_t> bytes;

  size_t num_elements() const { return Tensor::NumElements(shape); }
};

// Converts a float dtype (not kOther) to float32 (bytes.size() must equal num_elements() *
// DTypeSize(dtype), which every reader guarantees).
Tensor ToFloatTensor(const TensorView& view);

class SafetensorsFile {
 public:
  // Maps and validates `path`. Errors name the path and the offending tensor or field.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&&) = default;
  SafetensorsFile& operator=(SafetensorsFile&&) = default;

  const std::string& path() const { return file_->path(); }
  // Tensors by name (sorted).
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  // The "__metadata__" object (string to string); empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const TensorView* Find(absl::string_view name) const;
  // The tensor as float32: F32 data viewed in place in the mapping (when 4-byte aligned), F16
  // and BF16 converted. NotFoundError naming the file and the tensor when absent;
  // InvalidArgumentError naming its dtype for a kOther tensor.
  absl::StatusOr<Tensor> ReadFloat(absl::string_view name) const;

 private:
  SafetensorsFile() = default;
  // Shared with the Tensors that view it; heap-held so views stay valid when this moves.
  std::shared_ptr<const MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Header-size limit of the reference implementation (100 MB): larger means a corrupt file.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// A SafetensorsFile as a TensorSource (for the model builders).
class SafetensorsSource : public TensorSource {
 public:
  explicit SafetensorsSource(SafetensorsFile file);
  static absl::StatusOr<std::unique_ptr<SafetensorsSource>> Open(const std::string& path);

  const std::string& source_name() const override { return file_.path(); }
  std::vector<std::string> TensorNames() const override;
  const std::vector<int64_t>* FindShape(absl::string_view name) const override;
  absl::StatusOr<Tensor> ReadFloat(absl::string_view name) const override {
    return file_.ReadFloat(name);
  }
  const SafetensorsFile& file() const { return file_; }

 private:
  SafetensorsFile file_;
};

// A sharded checkpoint: model.safetensors.index.json ({"weight_map": {tensor: part file}})
// and the parts beside it. Open checks that every part is a plain file name in the index's
// directory, that each part holds exactly the tensors the index assigns to it (none missing,
// none extra, none in two parts); errors name the index or the part and the tensor.
class ShardedSafetensorsSource : public TensorSource {
 public:
  static absl::StatusOr<std::unique_ptr<ShardedSafetensorsSource>> Open(
      const std::string& index_path);

  const std::string& source_name() const override { return index_path_; }
  std::vector<std::string> TensorNames() const override;
  const std::vector<int64_t>* FindShape(absl::string_view name) const override;
  absl::StatusOr<Tensor> ReadFloat(absl::string_view name) const override;

 private:
  std::string index_path_;
  std::vector<SafetensorsFile> parts_;
  std::map<std::string, size_t, std::less<>> part_of_;  // tensor name -> index into parts_
};

using NamedTensor = std::pair<std::string, const Tensor*>;

// Writes float32 tensors (in the given order) as F32 safetensors, atomically (a temporary file
// renamed over `path`). The data section starts 8-byte aligned (the header is padded with
// spaces, as the reference writer does). Errors: an empty or duplicate name, "__metadata__" as
// a tensor name, a tensor whose data size disagrees with its shape, and I/O errors naming the
// path.
absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
absl::Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_SAFETENSORS_H_

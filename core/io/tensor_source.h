// A read-only collection of named tensors from a checkpoint file: the seam between container
// formats (safetensors, PyTorch .pth zip + pickle) and the code that maps a naming scheme
// (TransformerLens, HuggingFace GPT-2) onto memlens's Weights.
//
// A source must report every tensor's shape without converting anything, so that builders
// can check all shapes against the config before they allocate or convert a single tensor.
#ifndef MEMLENS_CORE_IO_TENSOR_SOURCE_H_
#define MEMLENS_CORE_IO_TENSOR_SOURCE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace memlens {

class TensorSource {
 public:
  virtual ~TensorSource() = default;

  // The file (or other origin) the tensors come from; errors start with it.
  virtual const std::string& source_name() const = 0;
  // Every tensor name, sorted.
  virtual std::vector<std::string> TensorNames() const = 0;
  // The shape of `name`, or nullptr when the source has no such tensor. Cheap: no conversion.
  virtual const std::vector<int64_t>* FindShape(absl::string_view name) const = 0;
  // `name` converted to a float32, C-ordered Tensor of shape *FindShape(name). NotFoundError
  // naming the source and the tensor when absent.
  virtual absl::StatusOr<Tensor> ReadFloat(absl::string_view name) const = 0;

  bool Has(absl::string_view name) const { return FindShape(name) != nullptr; }
};

// Tensors held in memory (tests; formats converted ahead of time).
class MapTensorSource : public TensorSource {
 public:
  MapTensorSource(std::string source_name, std::map<std::string, Tensor> tensors)
      : source_name_(std::move(source_name)), tensors_(std::move(tensors)) {}

  const std::string& source_name() const override { return source_name_; }
  std::vector<std::string> TensorNames() const override;
  const std::vector<int64_t>* FindShape(absl::string_view name) const override;
  absl::StatusOr<Tensor> ReadFloat(absl::string_view name) const override;

 private:
  std::string source_name_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_TENSOR_SOURCE_H_

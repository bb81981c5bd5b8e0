// The weight-file containers memlens can open as a TensorSource, knowing no model: the model
// resolver (core/model/load/load_model.h) looks a weights file up here by name or extension.
//
// Built in, in this order: safetensors (model.safetensors, *.safetensors) and the sharded
// safetensors index (model.safetensors.index.json + the parts it names). Another reader
// (PyTorch zip + pickle, core/io/torch_checkpoint_format.h) registers itself.
#ifndef MEMLENS_CORE_IO_CONTAINER_FORMATS_H_
#define MEMLENS_CORE_IO_CONTAINER_FORMATS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/tensor_source.h"

namespace memlens {

using TensorSourceOpener =
    std::function<absl::StatusOr<std::unique_ptr<TensorSource>>(const std::string& path)>;

struct TensorSourceFormat {
  std::string name;                     // "pth": models load with format "<family>-pth"
  std::string extension;                // ".pth": recognizes a weights file given directly,
                                        // and a single such file in a model directory
  std::vector<std::string> file_names;  // preferred names in a directory ("model_final.pth")
  TensorSourceOpener open;
};

// Registers another container format (thread-safe; formats registered earlier win; the
// built-in ones are always first). Call once at startup, e.g. through a static initializer in
// an `alwayslink` target.
void RegisterTensorSourceFormat(TensorSourceFormat format);

// Every format, built-in ones first.
std::vector<TensorSourceFormat> TensorSourceFormats();

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_CONTAINER_FORMATS_H_

#include "core/io/torch_checkpoint_format.h"

#include <memory>
#include <mutex>
#include <string>

#include "core/io/container_formats.h"
#include "core/io/torch_checkpoint.h"

namespace memlens {
namespace {

absl::StatusOr<std::unique_ptr<TensorSource>> OpenPth(const std::string& path) {
  absl::StatusOr<std::unique_ptr<TorchCheckpointSource>> source =
      TorchCheckpointSource::Open(path);
  if (!source.ok()) return source.status();
  return std::unique_ptr<TensorSource>(std::move(*source));
}

const bool kRegistered = (RegisterTorchCheckpointFormat(), true);

}  // namespace

void RegisterTorchCheckpointFormat() {
  static std::once_flag once;
  std::call_once(once, [] {
    TensorSourceFormat pth;
    pth.name = "pth";
    pth.extension = ".pth";
    pth.file_names = {"model_final.pth"};  // TransformerLens / Neel Nanda's checkpoints
    pth.open = OpenPth;
    RegisterTensorSourceFormat(pth);
    TensorSourceFormat pt = pth;
    pt.extension = ".pt";
    pt.file_names.clear();
    RegisterTensorSourceFormat(pt);
  });
}

}  // namespace memlens

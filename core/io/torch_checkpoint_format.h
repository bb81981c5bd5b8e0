// Plugs the PyTorch checkpoint reader (core/io/torch_checkpoint.h) into the container formats
// (core/io/container_formats.h) that LoadModel looks weights up in: linking the
// target //core/io:torch_checkpoint_format registers the container format "pth" (files
// model_final.pth, *.pth, *.pt, and zip-format pytorch_model.bin), so
// LoadModel("dir/with/config.json+model_final.pth") builds a model through the naming scheme
// config.json selects (TransformerLens or HF GPT-2), with ModelConfig::format "tl-pth" or
// "hf-gpt2-pth".
#ifndef MEMLENS_CORE_IO_TORCH_CHECKPOINT_FORMAT_H_
#define MEMLENS_CORE_IO_TORCH_CHECKPOINT_FORMAT_H_

namespace memlens {

// Registers the format (idempotent; a static initializer in the target already calls it).
void RegisterTorchCheckpointFormat();

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_TORCH_CHECKPOINT_FORMAT_H_

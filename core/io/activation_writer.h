// Saving an ActivationStore (what a forward pass cached) for other tools: this backs
// `memlens cache`.
//
// Two layouts:
//   - a directory with one NumPy file per hook, named "<hook>.npy" (float32, C order, e.g.
//     blocks.0.attn.hook_q.npy), plus index.json:
//       {"format": "memlens-activations", "version": 1, "metadata": {...},
//        "tensors": [{"name": "blocks.0.attn.hook_q", "file": "blocks.0.attn.hook_q.npy",
//                     "shape": [7, 4, 8], "dtype": "float32"}, ...]}
//     Every file is written atomically and index.json last, so a reader that finds index.json
//     finds every file it lists complete. index.json is authoritative: files of earlier runs
//     that it does not list are left alone.
//   - one safetensors file (F32, metadata in "__metadata__").
#ifndef MEMLENS_CORE_IO_ACTIVATION_WRITER_H_
#define MEMLENS_CORE_IO_ACTIVATION_WRITER_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/store/activation_store.h"

namespace memlens {

// Free-form string metadata (model, prompt, tokens, memlens version, ...).
using ActivationMetadata = std::map<std::string, std::string>;

// Writes the .npy directory layout, creating `dir` (and missing parents) when needed.
// Errors name the directory or file; a hook name that cannot be a file name (empty, starting
// with '.', containing '/' or a NUL byte) is an error naming the hook.
absl::Status WriteActivationsNpyDir(const ActivationStore& store, const std::string& dir,
                                    const ActivationMetadata& metadata = {});

// Writes one safetensors file atomically.
absl::Status WriteActivationsSafetensors(const ActivationStore& store, const std::string& path,
                                         const ActivationMetadata& metadata = {});

// A path ending in ".safetensors" gets one file; anything else is a directory of .npy files.
absl::Status WriteActivations(const ActivationStore& store, const std::string& path,
                              const ActivationMetadata& metadata = {});

// Reads either layout back (a directory is read through its index.json, and every file's
// shape must match the index). `metadata` may be null.
absl::StatusOr<ActivationStore> ReadActivations(const std::string& path,
                                                ActivationMetadata* metadata = nullptr);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_ACTIVATION_WRITER_H_

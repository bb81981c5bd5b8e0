// Saving an ActivationStore (what a forward pass cached) for other tools: this backs
// `memlens cache`.
//
// Two layouts:
//   - a directory with one NumPy file per hook, named "<hook>.npy" (float32, C order, e.g.
//     blocks.0.attn.hook_q.npy), plus index.json:
//       {"format": "memlens-activations", "version": 1, "metadata": {...},
//        "tensors": [{"name": "blocks.0.attn.hook_q", "file": "blocks.0.attn.hook_q.npy",
//                     "shape": [7, 4, 8], "dtype": "float32"}, ...]}
//     The files are written into a new directory "<dir>.memlens-tmp.<pid>" beside `dir`, which
//     then replaces `dir` in one atomic rename (an exchange when `dir` exists; the old one is
//     then removed): a reader sees the old directory or the new one, never a mix, whatever
//     signal arrives. An existing `dir` is replaced only when it is empty or a memlens activation
//     directory. Temporaries left by a killed process are removed by the next write there.
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

// Checks, before any work, that WriteActivations(.., path) can write there: a .safetensors path
// as CheckOutputFile (core/io/atomic_file.h); a directory that is absent (its nearest existing
// ancestor a writable directory), empty, or a memlens activation directory. Errors name the path.
absl::Status CheckActivationOutput(const std::string& path);

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

// NumPy .npy files (format versions 1.0 - 3.0) for float32 tensors.
//
// The writer produces what numpy.save writes for a C-ordered little-endian float32 array:
// the magic "\x93NUMPY", version 1.0 (2.0 when the header exceeds 64 KiB), and a header dict
// {'descr': '<f4', 'fortran_order': False, 'shape': (...), } padded with spaces and a newline
// so that the data starts 64-byte aligned. The reader exists for tests and round trips: it
// accepts exactly that dialect ('<f4', C order) and validates the header and the data size.
#ifndef MEMLENS_CORE_IO_NPY_H_
#define MEMLENS_CORE_IO_NPY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace memlens {

// The complete .npy file contents for `tensor`, or an error when its data size disagrees with
// its shape.
absl::StatusOr<std::string> EncodeNpy(const Tensor& tensor);

// Writes `tensor` to `path` atomically. Errors name the path.
absl::Status WriteNpy(const std::string& path, const Tensor& tensor);

// Parses .npy bytes; `source_name` names the data in errors.
absl::StatusOr<Tensor> DecodeNpy(absl::string_view bytes, absl::string_view source_name);

// Maps and parses `path`.
absl::StatusOr<Tensor> ReadNpy(const std::string& path);

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_NPY_H_

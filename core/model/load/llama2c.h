// Loader for llama2.c's legacy checkpoint format (run.c's `.bin`).
//
// Layout (all little-endian): 7 int32 header fields, then float32 arrays in this order:
//   token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
//   wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
//   w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim],
//   freq_cis_real [seq_len, head_size / 2], freq_cis_imag [seq_len, head_size / 2] (ignored:
//   the forward pass recomputes RoPE), then wcls [vocab, dim] only when the header's
//   vocab_size is negative (a classifier separate from the embedding).
// Matrices are stored [out, in] (PyTorch nn.Linear); memlens wants [in, out], so every one is
// transposed. A row block h*hs..(h+1)*hs of wq (head h) becomes the column block of head h.
#ifndef MEMLENS_CORE_MODEL_LOAD_LLAMA2C_H_
#define MEMLENS_CORE_MODEL_LOAD_LLAMA2C_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "core/model/weights.h"

namespace memlens {

// The 7 int32 fields at the start of the file, as stored.
struct Llama2cHeader {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // negative: a separate classifier follows the RoPE tables
  int32_t seq_len = 0;
};

inline constexpr uint64_t kLlama2cHeaderBytes = 7 * sizeof(int32_t);

// Checks the header (positive sizes, dim % n_heads == 0, n_heads % n_kv_heads == 0, and the
// bounds of ModelConfig::Validate) and returns the memlens config it describes. `name` goes
// into config.name. Errors name the offending header field; callers prefix the file.
absl::StatusOr<ModelConfig> Llama2cConfig(const Llama2cHeader& header, const std::string& name);

// The exact size in bytes of a file with this (valid) header.
uint64_t Llama2cFileSize(const Llama2cHeader& header);

// Maps and loads `path`. Checks the header before allocating anything, then that the file
// size is exactly the one the header implies ("truncated" / "trailing bytes", with expected
// and actual byte counts), then runs Weights::Validate (a NaN or Inf is named by tensor).
// Every error message starts with `path`. With `read_weights` false it stops after the header
// and size checks: the model comes back with its config and empty tensors.
absl::StatusOr<Model> LoadLlama2c(const std::string& path, bool read_weights = true);

}  // namespace memlens

#endif  // MEMLENS_CORE_MODEL_LOAD_LLAMA2C_H_

#include "core/model/load/llama2c.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/io/mapped_file.h"
#include "core/model/load/weight_plan.h"

namespace memlens {
namespace {

absl::Status Prefixed(const std::string& path, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

// Copies `rows * cols` little-endian float32 values laid out [rows, cols] from `src` into
// `dst` as [cols, rows]. Tiled so that both the reads and the writes stay within a few cache
// lines per tile (a 32x32 float tile is 4 KB on each side), which matters for the
// multi-gigabyte matrices of real LLaMA checkpoints; memcpy per element avoids unaligned loads.
void TransposeInto(const uint8_t* src, int64_t rows, int64_t cols, float* dst) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const int64_t r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = src + (r * cols) * sizeof(float);
        for (int64_t c = c0; c < c1; ++c) {
          std::memcpy(&dst[c * rows + r], row + c * sizeof(float), sizeof(float));
        }
      }
    }
  }
}

// Reads the file sequentially; every size was checked against the file size beforehand.
class Reader {
 public:
  Reader(std::shared_ptr<const MappedFile> file, uint64_t offset)
      : file_(std::move(file)), p_(file_->data() + offset) {}

  // A vector or stack of vectors stored as is: `shape` is also the memlens shape. Used in place
  // (the arrays follow a 28-byte header, so they are 4-byte aligned).
  Tensor Plain(std::vector<int64_t> shape) {
    const size_t bytes = Tensor::NumElements(shape) * sizeof(float);
    std::optional<Tensor> t = MappedFloats(file_, absl::MakeConstSpan(p_, bytes), shape);
    if (t.has_value()) {
      PopulateMappedPages(p_, bytes);
    } else {
      t = Tensor(std::move(shape));
      std::memcpy(t->ptr(), p_, bytes);
    }
    p_ += bytes;
    return *std::move(t);
  }
  // A stored [out, in] matrix, returned as [in, out]; its file pages are released once read.
  Tensor Transposed(int64_t out, int64_t in) {
    Tensor t({in, out});
    TransposeInto(p_, out, in, t.ptr());
    ReleaseMappedPages(p_, t.size() * sizeof(float));
    converted_.push_back(absl::MakeConstSpan(p_, t.size() * sizeof(float)));
    p_ += t.size() * sizeof(float);
    return t;
  }
  // Releases the converted matrices' file pages again, once every array used in place is
  // mapped (mapping one can map a released neighbour back: PopulateMappedPages says why).
  void ReleaseConverted() {
    for (absl::Span<const uint8_t> bytes : converted_) {
      ReleaseMappedPages(bytes.data(), bytes.size());
    }
    converted_.clear();
  }
  void Skip(uint64_t floats) { p_ += floats * sizeof(float); }

 private:
  std::shared_ptr<const MappedFile> file_;
  const uint8_t* p_;
  std::vector<absl::Span<const uint8_t>> converted_;
};

Tensor TransposeTensor(const Tensor& t) {
  Tensor out({t.dim(1), t.dim(0)});
  TransposeInto(reinterpret_cast<const uint8_t*>(t.ptr()), t.dim(0), t.dim(1), out.ptr());
  return out;
}

std::string Basename(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  const size_t dot = name.rfind('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

}  // namespace

absl::StatusOr<ModelConfig> Llama2cConfig(const Llama2cHeader& h, const std::string& name) {
  const int64_t vocab = std::llabs(static_cast<int64_t>(h.vocab_size));
  for (auto [field, value] : {std::pair<const char*, int64_t>{"dim", h.dim},
                              {"hidden_dim", h.hidden_dim},
                              {"n_layers", h.n_layers},
                              {"n_heads", h.n_heads},
                              {"n_kv_heads", h.n_kv_heads},
                              {"vocab_size", vocab},
                              {"seq_len", h.seq_len}}) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("llama2.c header field ", field, " = ", value, " must be positive"));
    }
  }
  if (h.dim % h.n_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c header: dim (", h.dim, ") is not a multiple of n_heads (", h.n_heads, ")"));
  }
  if (h.n_heads % h.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("llama2.c header: n_heads (", h.n_heads,
                                                   ") is not a multiple of n_kv_heads (",
                                                   h.n_kv_heads, ")"));
  }
  ModelConfig c;
  c.name = name;
  c.format = "llama2c";
  c.norm = NormKind::kRMSNorm;
  c.act = ActKind::kSwiGLU;
  c.pos = PosKind::kRotary;
  c.n_layers = h.n_layers;
  c.d_model = h.dim;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.d_head = h.dim / h.n_heads;
  c.d_mlp = h.hidden_dim;
  c.d_vocab = static_cast<int>(vocab);
  c.n_ctx = h.seq_len;
  c.eps = 1e-5f;
  c.attn_scale = std::sqrt(static_cast<float>(c.d_head));
  c.rope_theta = 10000.0f;
  c.SetAllBiases(false);
  c.bos_token_id = 1;
  c.prepend_bos = true;
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c header (dim ", h.dim, ", hidden_dim ", h.hidden_dim, ", n_layers ", h.n_layers,
        ", n_heads ", h.n_heads, ", n_kv_heads ", h.n_kv_heads, ", vocab_size ", h.vocab_size,
        ", seq_len ", h.seq_len, ") is not a supported model: ", s.message()));
  }
  return c;
}

uint64_t Llama2cFileSize(const Llama2cHeader& h) {
  // All fields are validated and bounded (ModelConfig::Validate), so none of these products
  // comes near 2^64.
  const uint64_t D = h.dim, F = h.hidden_dim, L = h.n_layers, V = std::llabs(h.vocab_size);
  const uint64_t hs = D / h.n_heads, KV = hs * h.n_kv_heads, T = h.seq_len;
  uint64_t floats = V * D;                     // token_embedding
  floats += L * D;                             // rms_att
  floats += L * (D * D + 2 * KV * D + D * D);  // wq, wk, wv, wo
  floats += L * D;                             // rms_ffn
  floats += L * 3 * F * D;                     // w1, w2, w3
  floats += D;                                 // rms_final
  floats += 2 * T * (hs / 2);                  // freq_cis_real, freq_cis_imag
  if (h.vocab_size < 0) floats += V * D;       // wcls
  return kLlama2cHeaderBytes + floats * sizeof(float);
}

absl::StatusOr<Model> LoadLlama2c(const std::string& path, bool read_weights) {
  absl::StatusOr<MappedFile> mapped = MappedFile::Open(path);
  if (!mapped.ok()) return mapped.status();
  // Shared with the tensors used in place.
  const auto file = std::make_shared<const MappedFile>(*std::move(mapped));
  if (file->size() < kLlama2cHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated llama2.c file: the header needs ", kLlama2cHeaderBytes,
                     " bytes but the file has ", file->size()));
  }
  Llama2cHeader h;
  int32_t fields[7];
  std::memcpy(fields, file->data(), sizeof(fields));
  h.dim = fields[0];
  h.hidden_dim = fields[1];
  h.n_layers = fields[2];
  h.n_heads = fields[3];
  h.n_kv_heads = fields[4];
  h.vocab_size = fields[5];
  h.seq_len = fields[6];

  absl::StatusOr<ModelConfig> config = Llama2cConfig(h, Basename(path));
  if (!config.ok()) return Prefixed(path, config.status());
  const uint64_t expected = Llama2cFileSize(h);
  if (file->size() != expected) {
    const bool truncated = file->size() < expected;
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", truncated ? "truncated" : "trailing bytes", ": the llama2.c header (dim ",
        h.dim, ", hidden_dim ", h.hidden_dim, ", n_layers ", h.n_layers, ", n_heads ", h.n_heads,
        ", n_kv_heads ", h.n_kv_heads, ", vocab_size ", h.vocab_size, ", seq_len ", h.seq_len,
        ") implies ", expected, " bytes but the file has ", file->size(), " (",
        truncated ? expected - file->size() : file->size() - expected,
        truncated ? " missing)" : " extra)"));
  }

  if (!read_weights) {
    Model model;
    model.config = *config;
    model.weights.layers.resize(config->n_layers);
    return model;
  }
  // The float32 model: the file's arrays (less the RoPE tables), plus W_U when it is tied.
  const uint64_t model_bytes = expected - kLlama2cHeaderBytes +
                               (h.vocab_size > 0 ? uint64_t{4} * h.vocab_size * h.dim : 0);
  if (absl::Status s = CheckWeightsFit(path, model_bytes); !s.ok()) return s;

  const ModelConfig& c = *config;
  const int64_t D = c.d_model, F = c.d_mlp, V = c.d_vocab, Q = c.q_dim(), KV = c.kv_dim();
  const int L = c.n_layers;
  Model model;
  model.config = c;
  Weights& w = model.weights;
  w.layers.resize(L);
  Reader r(file, kLlama2cHeaderBytes);
  w.W_E = r.Plain({V, D});
  for (int l = 0; l < L; ++l) w.layers[l].ln1_w = r.Plain({D});
  for (int l = 0; l < L; ++l) w.layers[l].W_Q = r.Transposed(Q, D);
  for (int l = 0; l < L; ++l) w.layers[l].W_K = r.Transposed(KV, D);
  for (int l = 0; l < L; ++l) w.layers[l].W_V = r.Transposed(KV, D);
  for (int l = 0; l < L; ++l) w.layers[l].W_O = r.Transposed(D, Q);
  for (int l = 0; l < L; ++l) w.layers[l].ln2_w = r.Plain({D});
  for (int l = 0; l < L; ++l) w.layers[l].W_gate = r.Transposed(F, D);  // w1
  for (int l = 0; l < L; ++l) w.layers[l].W_out = r.Transposed(D, F);   // w2
  for (int l = 0; l < L; ++l) w.layers[l].W_in = r.Transposed(F, D);    // w3
  w.ln_final_w = r.Plain({D});
  r.Skip(2 * static_cast<uint64_t>(c.n_ctx) * (c.d_head / 2));  // RoPE tables
  w.W_U = h.vocab_size < 0 ? r.Transposed(V, D) : TransposeTensor(w.W_E);
  r.ReleaseConverted();

  if (auto s = w.Validate(c); !s.ok()) return Prefixed(path, s);
  return model;
}

}  // namespace memlens

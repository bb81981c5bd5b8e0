#include "core/model/load/llama2c.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/shared_data.h"

namespace memlens {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

float FloatAt(const std::string& bytes, uint64_t float_index) {
  float v;
  std::memcpy(&v, bytes.data() + kLlama2cHeaderBytes + float_index * 4, 4);
  return v;
}

// A synthetic llama2.c file: every float is distinct (value i * 1e-4 for the i-th float) so
// that a misplaced or untransposed element is caught.
std::string MakeFile(Llama2cHeader h, uint64_t floats) {
  std::string bytes(kLlama2cHeaderBytes + floats * 4, '\0');
  const int32_t fields[7] = {h.dim,        h.hidden_dim, h.n_layers, h.n_heads,
                             h.n_kv_heads, h.vocab_size, h.seq_len};
  std::memcpy(&bytes[0], fields, sizeof(fields));
  for (uint64_t i = 0; i < floats; ++i) {
    const float v = static_cast<float>(i) * 1e-4f;
    std::memcpy(&bytes[kLlama2cHeaderBytes + i * 4], &v, 4);
  }
  return bytes;
}

std::string MakeValidFile(const Llama2cHeader& h) {
  return MakeFile(h, (Llama2cFileSize(h) - kLlama2cHeaderBytes) / 4);
}

// dim 8, hidden 12, 2 layers, 4 heads sharing 2 kv heads (hs 2, kv_dim 4), vocab 10, seq 6.
Llama2cHeader SmallHeader() { return {8, 12, 2, 4, 2, 10, 6}; }

std::string HeaderString(const Llama2cHeader& h) {
  std::string bytes(kLlama2cHeaderBytes, '\0');
  const int32_t fields[7] = {h.dim,        h.hidden_dim, h.n_layers, h.n_heads,
                             h.n_kv_heads, h.vocab_size, h.seq_len};
  std::memcpy(&bytes[0], fields, sizeof(fields));
  return bytes;
}

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

#define EXPECT_ERROR_CONTAINS(status_or, text)                                                     \
  do {                                                                                             \
    ASSERT_FALSE((status_or).ok()) << "expected an error containing " << text;                     \
    EXPECT_TRUE(Contains((status_or).status().message(), text)) << (status_or).status().message(); \
  } while (0)

TEST(Llama2c, FileSizeMatchesTheFormula) {
  // The README's two real models: header + floats.
  EXPECT_EQ(Llama2cFileSize({64, 172, 4, 4, 4, 512, 128}), 932124u);
  EXPECT_EQ(Llama2cFileSize({64, 172, 5, 8, 4, 512, 512}), 1056540u);
  Llama2cHeader separate = SmallHeader();
  separate.vocab_size = -10;
  EXPECT_EQ(Llama2cFileSize(separate), Llama2cFileSize(SmallHeader()) + 10 * 8 * 4);
}

TEST(Llama2c, SyntheticFileLandsInTheMemlensLayout) {
  const Llama2cHeader h = SmallHeader();
  const std::string bytes = MakeValidFile(h);
  const std::string path = TempPath("small.bin");
  WriteAll(path, bytes);
  auto model = LoadLlama2c(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.name, "small");
  EXPECT_EQ(c.format, "llama2c");
  EXPECT_EQ(c.d_model, 8);
  EXPECT_EQ(c.d_mlp, 12);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.d_head, 2);
  EXPECT_EQ(c.d_vocab, 10);
  EXPECT_EQ(c.n_ctx, 6);
  EXPECT_EQ(c.norm, NormKind::kRMSNorm);
  EXPECT_EQ(c.act, ActKind::kSwiGLU);
  EXPECT_EQ(c.pos, PosKind::kRotary);
  EXPECT_FALSE(c.any_bias());
  EXPECT_FLOAT_EQ(c.eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.attn_scale, std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_TRUE(c.prepend_bos);

  const Weights& w = model->weights;
  const int64_t D = 8, F = 12, V = 10, KV = 4, L = 2;
  // Float offsets of each array, in file order.
  const uint64_t emb = 0, rms_att = emb + V * D, wq = rms_att + L * D, wk = wq + L * D * D,
                 wv = wk + L * KV * D, wo = wv + L * KV * D, rms_ffn = wo + L * D * D,
                 w1 = rms_ffn + L * D, w2 = w1 + L * F * D, w3 = w2 + L * D * F,
                 rms_final = w3 + L * F * D;
  for (int64_t v = 0; v < V; ++v) {
    for (int64_t d = 0; d < D; ++d) {
      EXPECT_EQ(w.W_E.data[v * D + d], FloatAt(bytes, emb + v * D + d));
      EXPECT_EQ(w.W_U.data[d * V + v], w.W_E.data[v * D + d]);  // tied: W_U = W_E^T
    }
  }
  for (int64_t l = 0; l < L; ++l) {
    const LayerWeights& lw = w.layers[l];
    for (int64_t d = 0; d < D; ++d) {
      EXPECT_EQ(lw.ln1_w.data[d], FloatAt(bytes, rms_att + l * D + d));
      EXPECT_EQ(lw.ln2_w.data[d], FloatAt(bytes, rms_ffn + l * D + d));
    }
    // file[out][in] == memlens[in][out]
    for (int64_t o = 0; o < D; ++o) {
      for (int64_t i = 0; i < D; ++i) {
        EXPECT_EQ(lw.W_Q.data[i * D + o], FloatAt(bytes, wq + l * D * D + o * D + i));
        EXPECT_EQ(lw.W_O.data[i * D + o], FloatAt(bytes, wo + l * D * D + o * D + i));
      }
    }
    for (int64_t o = 0; o < KV; ++o) {
      for (int64_t i = 0; i < D; ++i) {
        EXPECT_EQ(lw.W_K.data[i * KV + o], FloatAt(bytes, wk + l * KV * D + o * D + i));
        EXPECT_EQ(lw.W_V.data[i * KV + o], FloatAt(bytes, wv + l * KV * D + o * D + i));
      }
    }
    for (int64_t f = 0; f < F; ++f) {
      for (int64_t d = 0; d < D; ++d) {
        EXPECT_EQ(lw.W_gate.data[d * F + f], FloatAt(bytes, w1 + l * F * D + f * D + d));
        EXPECT_EQ(lw.W_in.data[d * F + f], FloatAt(bytes, w3 + l * F * D + f * D + d));
        EXPECT_EQ(lw.W_out.data[f * D + d], FloatAt(bytes, w2 + l * D * F + d * F + f));
      }
    }
    EXPECT_TRUE(lw.ln1_b.empty());
    EXPECT_TRUE(lw.b_Q.empty());
    EXPECT_TRUE(lw.b_in.empty());
  }
  for (int64_t d = 0; d < D; ++d) EXPECT_EQ(w.ln_final_w.data[d], FloatAt(bytes, rms_final + d));
  // Arrays stored in memlens's layout are used in place from the file; transposed ones and
  // the tied W_U are converted copies.
  EXPECT_TRUE(w.W_E.data.is_view());
  EXPECT_TRUE(w.layers[1].ln1_w.data.is_view());
  EXPECT_TRUE(w.ln_final_w.data.is_view());
  EXPECT_FALSE(w.layers[0].W_Q.data.is_view());
  EXPECT_FALSE(w.W_U.data.is_view());
  EXPECT_TRUE(w.W_pos.empty());
  EXPECT_TRUE(w.b_U.empty());
  EXPECT_TRUE(w.ln_final_b.empty());
}

TEST(Llama2c, NegativeVocabReadsTheSeparateClassifier) {
  Llama2cHeader h = SmallHeader();
  h.vocab_size = -10;
  const std::string bytes = MakeValidFile(h);
  const std::string path = TempPath("separate.bin");
  WriteAll(path, bytes);
  auto model = LoadLlama2c(path);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config.d_vocab, 10);
  const uint64_t wcls = (Llama2cFileSize(h) - kLlama2cHeaderBytes) / 4 - 10 * 8;
  for (int64_t v = 0; v < 10; ++v) {
    for (int64_t d = 0; d < 8; ++d) {
      EXPECT_EQ(model->weights.W_U.data[d * 10 + v], FloatAt(bytes, wcls + v * 8 + d));
    }
  }
}

TEST(Llama2c, TruncatedFilesSayTruncatedWithBothSizes) {
  const std::string bytes = MakeValidFile(SmallHeader());
  const std::string path = TempPath("truncated.bin");
  const size_t full = bytes.size();
  for (size_t size : {size_t{0}, size_t{1}, size_t{27}, size_t{28}, size_t{29}, size_t{100},
                      full / 3, full / 2, full - 100, full - 5, full - 4, full - 1}) {
    SCOPED_TRACE(size);
    WriteAll(path, bytes.substr(0, size));
    auto model = LoadLlama2c(path);
    EXPECT_ERROR_CONTAINS(model, path);
    EXPECT_ERROR_CONTAINS(model, "truncated");
    if (size >= kLlama2cHeaderBytes) {
      EXPECT_ERROR_CONTAINS(model, absl::StrCat("implies ", full, " bytes"));
      EXPECT_ERROR_CONTAINS(model, absl::StrCat("the file has ", size));
    } else {
      EXPECT_ERROR_CONTAINS(model, "header needs 28 bytes");
    }
  }
}

TEST(Llama2c, TrailingBytesAreAnError) {
  const std::string bytes = MakeValidFile(SmallHeader());
  const std::string path = TempPath("trailing.bin");
  for (size_t extra : {1, 4, 1000}) {
    WriteAll(path, bytes + std::string(extra, '\0'));
    auto model = LoadLlama2c(path);
    EXPECT_ERROR_CONTAINS(model, path);
    EXPECT_ERROR_CONTAINS(model, "trailing bytes");
    EXPECT_ERROR_CONTAINS(model, absl::StrCat(extra, " extra"));
  }
}

TEST(Llama2c, BadHeadersAreRejectedBeforeAnyAllocation) {
  struct Case {
    Llama2cHeader header;
    std::string error;
  };
  const int32_t kMax = std::numeric_limits<int32_t>::max();
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  const std::vector<Case> cases = {
      {{0, 12, 2, 4, 2, 10, 6}, "dim = 0 must be positive"},
      {{-8, 12, 2, 4, 2, 10, 6}, "dim = -8 must be positive"},
      {{8, 0, 2, 4, 2, 10, 6}, "hidden_dim = 0 must be positive"},
      {{8, 12, 0, 4, 2, 10, 6}, "n_layers = 0 must be positive"},
      {{8, 12, 2, 0, 2, 10, 6}, "n_heads = 0 must be positive"},
      {{8, 12, 2, 4, 0, 10, 6}, "n_kv_heads = 0 must be positive"},
      {{8, 12, 2, 4, 2, 0, 6}, "vocab_size = 0 must be positive"},
      {{8, 12, 2, 4, 2, 10, -1}, "seq_len = -1 must be positive"},
      {{8, 12, 2, 3, 3, 10, 6}, "dim (8) is not a multiple of n_heads (3)"},
      {{8, 12, 2, 4, 3, 10, 6}, "n_heads (4) is not a multiple of n_kv_heads (3)"},
      {{kMax, 12, 2, 1, 1, 10, 6}, "d_model"},
      {{8, kMax, 2, 4, 2, 10, 6}, "d_mlp"},
      {{8, 12, kMax, 4, 2, 10, 6}, "n_layers"},
      {{8, 12, 2, 4, 2, kMax, 6}, "d_vocab"},
      {{8, 12, 2, 4, 2, kMin, 6}, "d_vocab"},
      {{8, 12, 2, 4, 2, 10, kMax}, "n_ctx"},
      {{8, 12, 2, 8, 8, 10, 6}, "even d_head"},  // head size 1 cannot be rotated
      {{8, 12, 2, 4, 2, 1, 6}, "bos_token_id"},  // vocab 1 has no room for BOS id 1
  };
  const std::string path = TempPath("bad_header.bin");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    // Pad with a megabyte so that size checks cannot be what rejects the file.
    WriteAll(path, HeaderString(c.header) + std::string(1 << 20, '\0'));
    auto model = LoadLlama2c(path);
    EXPECT_ERROR_CONTAINS(model, path);
    EXPECT_ERROR_CONTAINS(model, c.error);
  }
}

TEST(Llama2c, NonFiniteValuesAreNamedByTensor) {
  const Llama2cHeader h = SmallHeader();
  const int64_t D = 8, V = 10, L = 2;
  const std::string good = MakeValidFile(h);
  const std::string path = TempPath("nan.bin");
  struct Case {
    uint64_t float_index;
    float value;
    std::string tensor;
  };
  const uint64_t wq = V * D + L * D;
  const std::vector<Case> cases = {
      {3, std::numeric_limits<float>::quiet_NaN(), "embed.W_E"},
      {wq + D * D + 5, std::numeric_limits<float>::quiet_NaN(), "blocks.1.attn.W_Q"},
      {wq + 7, std::numeric_limits<float>::infinity(), "blocks.0.attn.W_Q"},
      {V * D + D + 1, -std::numeric_limits<float>::infinity(), "blocks.1.ln1.w"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.tensor);
    std::string bytes = good;
    std::memcpy(&bytes[kLlama2cHeaderBytes + c.float_index * 4], &c.value, 4);
    WriteAll(path, bytes);
    auto model = LoadLlama2c(path);
    EXPECT_ERROR_CONTAINS(model, path);
    EXPECT_ERROR_CONTAINS(model, c.tensor + " holds a non-finite value");
  }
}

TEST(Llama2c, MissingFileNamesThePath) {
  const std::string path = TempPath("no_such_model.bin");
  auto model = LoadLlama2c(path);
  EXPECT_ERROR_CONTAINS(model, path);
  EXPECT_ERROR_CONTAINS(model, "No such file");
}

// --- The real models in ../shared ---

TEST(Llama2cShared, Aidreams260K) {
  MEMLENS_REQUIRE_SHARED();
  const std::string path = SharedDir() + "/models/aidreams260K/aidreams260K.bin";
  auto model = LoadLlama2c(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.name, "aidreams260K");
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_mlp, 172);
  EXPECT_EQ(c.n_layers, 4);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.d_head, 16);
  EXPECT_EQ(c.d_vocab, 512);
  EXPECT_EQ(c.n_ctx, 128);
  EXPECT_FLOAT_EQ(c.attn_scale, 4.0f);
  EXPECT_TRUE(model->weights.Validate(c).ok());
  EXPECT_EQ(model->weights.NumParameters(),
            // embedding + tied unembedding + per layer (2 norms, 4 attn, 3 mlp) + final norm
            2u * 512 * 64 + 4u * (2 * 64 + 4 * 64 * 64 + 3 * 64 * 172) + 64);
  // Spot-check a transposed element against the raw bytes: wq[layer 1][out 5][in 7].
  const std::string bytes = ReadAll(path);
  const uint64_t wq = 512 * 64 + 4 * 64;
  EXPECT_EQ(model->weights.layers[1].W_Q.data[7 * 64 + 5],
            FloatAt(bytes, wq + 64 * 64 + 5 * 64 + 7));
}

TEST(Llama2cShared, Stories260KHasGroupedQueryAttention) {
  MEMLENS_REQUIRE_SHARED();
  const std::string path = SharedDir() + "/models/stories260K/stories260K.bin";
  auto model = LoadLlama2c(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_mlp, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.d_head, 8);
  EXPECT_EQ(c.d_vocab, 512);
  EXPECT_EQ(c.n_ctx, 512);
  const LayerWeights& l0 = model->weights.layers[0];
  EXPECT_EQ(l0.W_Q.shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(l0.W_K.shape, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(l0.W_V.shape, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(l0.W_O.shape, (std::vector<int64_t>{64, 64}));
}

TEST(Llama2cShared, TruncatedAndCorruptedCopiesOfARealModel) {
  MEMLENS_REQUIRE_SHARED();
  const std::string bytes = ReadAll(SharedDir() + "/models/stories260K/stories260K.bin");
  ASSERT_EQ(bytes.size(), 1056540u);
  const std::string path = TempPath("stories_copy.bin");
  for (size_t size : {size_t{20}, size_t{5000}, bytes.size() / 2, bytes.size() - 1}) {
    WriteAll(path, bytes.substr(0, size));
    auto model = LoadLlama2c(path);
    EXPECT_ERROR_CONTAINS(model, "truncated");
  }
  // NaN in layer 3's wv (after emb, rms_att, wq, wk; kv_dim 32).
  std::string bytes_nan = bytes;
  const uint64_t wv = 512 * 64 + 5 * 64 + 5 * 64 * 64 + 5 * 32 * 64;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&bytes_nan[kLlama2cHeaderBytes + (wv + 3 * 32 * 64 + 100) * 4], &nan, 4);
  WriteAll(path, bytes_nan);
  auto model = LoadLlama2c(path);
  EXPECT_ERROR_CONTAINS(model, "blocks.3.attn.W_V holds a non-finite value");
}

}  // namespace
}  // namespace memlens

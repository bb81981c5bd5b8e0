#include "core/io/torch_checkpoint.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/io/mapped_file.h"
#include "core/model/load/load_model.h"
#include "core/model/processing.h"
#include "core/io/safetensors.h"
#include "core/io/torch_checkpoint_format.h"
#include "gtest/gtest.h"
#include "tests/io/torch_zip_builder.h"

namespace memlens {
namespace {

using testing_zip::BuildEntry;
using testing_zip::BuildZip;
using testing_zip::Bytes;

constexpr char kTestdata[] = "tests/io/testdata/";
constexpr char kFixtures[] = "tests/fixtures/";

std::vector<float> Floats(const TorchCheckpoint& ckpt, const std::string& name) {
  auto t = ckpt.ReadFloat(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? t->data.ToVector() : std::vector<float>{};
}

TEST(TorchCheckpointTest, ReadsEveryDtypeAndView) {
  for (const char* file : {"torch_small", "torch_proto4"}) {
    SCOPED_TRACE(file);
    auto ckpt = TorchCheckpoint::Open(std::string(kTestdata) + file + ".pth");
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    EXPECT_EQ(ckpt->archive_name(), file);
    std::vector<std::string> names;
    for (const TorchTensorInfo& t : ckpt->tensors()) names.push_back(t.name);
    EXPECT_EQ(names, (std::vector<std::string>{"f32", "f16", "bf16", "mask", "transposed", "row1",
                                               "scalar", "f64", "i64", "param", "empty"}));
    EXPECT_EQ(Floats(*ckpt, "f32"), (std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5}));
    EXPECT_EQ(ckpt->Find("f32")->shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(ckpt->Find("f16")->dtype, TorchDType::kF16);
    EXPECT_EQ(Floats(*ckpt, "f16"), (std::vector<float>{1, -2, 0.25}));
    EXPECT_EQ(ckpt->Find("bf16")->dtype, TorchDType::kBF16);
    EXPECT_EQ(Floats(*ckpt, "bf16"), (std::vector<float>{3, -0.5, 1024}));
    // A transposed view of f32's storage, gathered into C order.
    const TorchTensorInfo* tr = ckpt->Find("transposed");
    EXPECT_FALSE(tr->contiguous());
    EXPECT_EQ(tr->shape, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(Floats(*ckpt, "transposed"), (std::vector<float>{0, 1.5, 0.5, 2, 1, 2.5}));
    EXPECT_EQ(ckpt->Find("row1")->storage_offset, 3);
    EXPECT_EQ(Floats(*ckpt, "row1"), (std::vector<float>{1.5, 2, 2.5}));
    // Contiguous F32 (at any storage offset) is used in place from the mapped archive; other
    // dtypes and strided views are converted into owned floats.
    for (const char* in_place : {"f32", "row1", "param"}) {
      EXPECT_TRUE(ckpt->ReadFloat(in_place)->data.is_view()) << in_place;
    }
    EXPECT_EQ(ckpt->ReadFloat("row1")->ptr(),
              reinterpret_cast<const float*>(ckpt->Find("row1")->storage.data()) + 3);
    for (const char* copied : {"f16", "bf16", "transposed", "f64"}) {
      EXPECT_FALSE(ckpt->ReadFloat(copied)->data.is_view()) << copied;
    }
    EXPECT_TRUE(ckpt->Find("scalar")->shape.empty());
    EXPECT_EQ(Floats(*ckpt, "scalar"), (std::vector<float>{-1e5f}));
    EXPECT_EQ(Floats(*ckpt, "f64"), (std::vector<float>{1.5, 2.5}));
    EXPECT_EQ(Floats(*ckpt, "param"), (std::vector<float>{1, 2}));
    EXPECT_EQ(ckpt->Find("empty")->shape, (std::vector<int64_t>{0, 3}));
    EXPECT_TRUE(Floats(*ckpt, "empty").empty());
    // Non-float tensors are described but not converted.
    EXPECT_EQ(ckpt->Find("mask")->dtype, TorchDType::kBool);
    EXPECT_EQ(ckpt->Find("mask")->shape, (std::vector<int64_t>{4, 4}));
    auto mask = ckpt->ReadFloat("mask");
    ASSERT_FALSE(mask.ok());
    EXPECT_NE(std::string(mask.status().message()).find("'mask' is bool"), std::string::npos)
        << mask.status();
    EXPECT_FALSE(ckpt->ReadFloat("i64").ok());
    EXPECT_EQ(ckpt->ReadFloat("nope").status().code(), absl::StatusCode::kNotFound);
  }
}

TEST(TorchCheckpointTest, SourceListsOnlyFloatTensors) {
  auto source = TorchCheckpointSource::Open(std::string(kTestdata) + "torch_small.pth");
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->TensorNames(),
            (std::vector<std::string>{"bf16", "empty", "f16", "f32", "f64", "param", "row1",
                                      "scalar", "transposed"}));
  EXPECT_EQ((*source)->FindShape("mask"), nullptr);
  EXPECT_FALSE((*source)->Has("i64"));
  EXPECT_EQ(*(*source)->FindShape("transposed"), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ((*source)->ReadFloat("mask").status().code(), absl::StatusCode::kNotFound);
}

TEST(TorchCheckpointTest, ModuleStateDictWithMetadata) {
  auto ckpt = TorchCheckpoint::Open(std::string(kTestdata) + "torch_module.pth");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  ASSERT_EQ(ckpt->tensors().size(), 4u);
  EXPECT_EQ(Floats(*ckpt, "1.weight"), (std::vector<float>{1, 1}));
  EXPECT_FLOAT_EQ(Floats(*ckpt, "0.bias")[1], 0.45777493715286255f);
}

// ---- The TransformerLens fixtures (tests/fixtures, written by tools/make_fixtures.py). ----

TEST(TorchCheckpointTest, FixturesMatchTheSafetensorsCopy) {
  auto ref = SafetensorsFile::Open(std::string(kFixtures) + "tl_safetensors/model.safetensors");
  ASSERT_TRUE(ref.ok()) << ref.status();
  struct Case {
    const char* dir;
    const char* archive;
    TorchDType dtype;
    double rel;  // rounding of the stored copy
    double abs;  // float16 subnormals: absolute spacing 2^-24
  };
  for (const Case& c : {Case{"tl_pth", "model_final", TorchDType::kF32, 0, 0},
                        Case{"tl_pth_f16", "archive", TorchDType::kF16, 1.0 / 2048, 0x1p-25},
                        Case{"tl_pth_bf16", "model_final", TorchDType::kBF16, 1.0 / 256, 0}}) {
    SCOPED_TRACE(c.dir);
    auto ckpt = TorchCheckpoint::Open(std::string(kFixtures) + c.dir + "/model_final.pth");
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    EXPECT_EQ(ckpt->archive_name(), c.archive);
    int weights = 0;
    for (const TorchTensorInfo& info : ckpt->tensors()) {
      if (absl::EndsWith(info.name, ".mask")) {
        EXPECT_EQ(info.dtype, TorchDType::kBool);
        continue;
      }
      EXPECT_EQ(info.dtype, c.dtype) << info.name;
      if (absl::EndsWith(info.name, ".IGNORE")) {
        EXPECT_TRUE(info.shape.empty());
        continue;
      }
      auto want = ref->ReadFloat(info.name);
      ASSERT_TRUE(want.ok()) << want.status();
      auto got = ckpt->ReadFloat(info.name);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->shape, want->shape) << info.name;
      for (size_t i = 0; i < got->data.size(); ++i) {
        ASSERT_LE(std::fabs(got->data[i] - want->data[i]),
                  c.rel * std::fabs(want->data[i]) + c.abs)
            << info.name << "[" << i << "]";
      }
      ++weights;
    }
    EXPECT_EQ(weights, static_cast<int>(ref->tensors().size()));
  }
}

TEST(TorchCheckpointTest, LoadModelReadsTransformerLensCheckpoints) {
  RegisterTorchCheckpointFormat();
  auto ref = LoadModel(std::string(kFixtures) + "tl_safetensors");
  ASSERT_TRUE(ref.ok()) << ref.status();
  // A model directory (config.json + model_final.pth, next to expected_*.safetensors) and the
  // weights file named directly.
  for (const char* dir : {"tl_pth", "tl_pth/model_final.pth", "tl_pth_f16", "tl_pth_bf16"}) {
    SCOPED_TRACE(dir);
    auto model = LoadModel(std::string(kFixtures) + dir);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ(model->config.format, "tl-pth");
    EXPECT_TRUE(model->weights.Validate(model->config).ok());
    EXPECT_EQ(model->config.n_layers, 2);
    EXPECT_EQ(model->config.d_model, 32);
    if (std::string(dir).find("16") == std::string::npos) {  // float32: identical weights
      EXPECT_EQ(model->weights.layers[1].W_Q.data, ref->weights.layers[1].W_Q.data);
      EXPECT_EQ(model->weights.W_U.data, ref->weights.W_U.data);
    }
  }
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A TransformerLens checkpoint in float32 is mostly in memlens's layout: those tensors are used
// in place from the mapped file (W_Q/W_K/W_V are regrouped per head, so copied), and weight
// processing, which rewrites nearly every tensor, changes the model but never the file.
TEST(TorchCheckpointTest, Float32WeightsAreUsedInPlaceAndProcessingLeavesTheFileAlone) {
  RegisterTorchCheckpointFormat();
  for (const char* path : {"tl_pth/model_final.pth", "tl_safetensors/model.safetensors"}) {
    SCOPED_TRACE(path);
    const std::string file = std::string(kFixtures) + path;
    const std::string before = FileBytes(file);
    auto model = LoadModel(file);
    ASSERT_TRUE(model.ok()) << model.status();
    const Weights& w = model->weights;
    for (const Tensor* t : {&w.W_E, &w.W_pos, &w.W_U, &w.b_U, &w.layers[1].W_O, &w.layers[1].W_in,
                            &w.layers[1].W_out, &w.layers[1].b_Q, &w.layers[0].ln1_w}) {
      EXPECT_TRUE(t->data.is_view());
    }
    EXPECT_FALSE(w.layers[1].W_Q.data.is_view());
    const Tensor W_E = w.W_E;  // a deep copy
    ASSERT_TRUE(ProcessWeights(&*model).ok());
    EXPECT_NE(model->weights.W_E.data, W_E.data);  // centred: processing did write it
    EXPECT_EQ(FileBytes(file), before);
  }
}

// ---- Bad checkpoints built byte by byte. ----

// A protocol-2 pickle of {name: _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel),
// offset, size, stride, False, OrderedDict())}.
struct T {
  std::string name, type = "FloatStorage", key = "0";
  int64_t numel = 6, offset = 0;
  std::vector<int64_t> size = {2, 3}, stride = {3, 1};
};

struct PickleWriter {
  std::string b = "\x80\x02";
  void op(char c) { b.push_back(c); }
  void str(const std::string& s) {
    op('X');
    for (int k = 0; k < 4; ++k) b.push_back(static_cast<char>((s.size() >> (8 * k)) & 0xFF));
    b += s;
  }
  void integer(int64_t v) {
    const bool small = v >= INT32_MIN && v <= INT32_MAX;
    if (small) {
      op('J');
    } else {
      b += "\x8a\x08";  // LONG1, 8 bytes
    }
    for (int k = 0; k < (small ? 4 : 8); ++k) b.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  }
  void global(const std::string& m, const std::string& n) {
    op('c');
    b += m + "\n" + n + "\n";
  }
  void ints(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    op('t');
  }
};

std::string StateDictPickle(const std::vector<T>& tensors) {
  PickleWriter w;
  w.global("collections", "OrderedDict");
  w.op(')');
  w.op('R');
  w.op('(');
  for (const T& t : tensors) {
    w.str(t.name);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.op('(');
    w.op('(');
    w.str("storage");
    w.global("torch", t.type);
    w.str(t.key);
    w.str("cpu");
    w.integer(t.numel);
    w.op('t');
    w.op('Q');
    w.integer(t.offset);
    w.ints(t.size);
    w.ints(t.stride);
    w.b.push_back('\x89');
    w.global("collections", "OrderedDict");
    w.op(')');
    w.op('R');
    w.op('t');
    w.op('R');
  }
  w.op('u');
  w.op('.');
  return w.b;
}

absl::StatusOr<TorchCheckpoint> FromEntries(const std::string& zip_bytes) {
  // The archive's bytes must outlive the checkpoint: keep them in a static list.
  static auto* keep = new std::vector<std::unique_ptr<std::string>>();
  keep->push_back(std::make_unique<std::string>(zip_bytes));
  auto zip = ZipArchive::FromBytes(Bytes(*keep->back()), "bad.pth");
  if (!zip.ok()) return zip.status();
  return TorchCheckpoint::FromZip(*std::move(zip));
}

std::string Checkpoint(const std::vector<T>& tensors,
                       const std::vector<BuildEntry>& storages = {{"a/data/0",
                                                                   std::string(24, '\0')}}) {
  std::vector<BuildEntry> entries = {{"a/data.pkl", StateDictPickle(tensors)}};
  entries.insert(entries.end(), storages.begin(), storages.end());
  entries.push_back({"a/version", "3\n"});
  return BuildZip(entries);
}

void ExpectError(const std::string& zip, const std::string& needle) {
  auto ckpt = FromEntries(zip);
  ASSERT_FALSE(ckpt.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_NE(std::string(ckpt.status().message()).find(needle), std::string::npos)
      << ckpt.status().message();
}

TEST(TorchCheckpointBadInput, BuilderMakesAValidCheckpoint) {
  auto ckpt = FromEntries(Checkpoint({{"w"}}));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ(ckpt->archive_name(), "a");
  EXPECT_EQ(Floats(*ckpt, "w"), std::vector<float>(6, 0.0f));
}

TEST(TorchCheckpointBadInput, StorageTooSmallOrTooLarge) {
  ExpectError(Checkpoint({{"w"}}, {{"a/data/0", std::string(20, '\0')}}),
              "tensor 'w': storage 'a/data/0' holds 20 bytes but the checkpoint declares 6 "
              "float32 elements (too small)");
  ExpectError(Checkpoint({{"w"}}, {{"a/data/0", std::string(28, '\0')}}), "too large");
  T huge{"w"};
  huge.numel = int64_t{1} << 62;
  ExpectError(Checkpoint({huge}), "too small");
}

TEST(TorchCheckpointBadInput, ViewsOutsideTheStorage) {
  T shifted{"w"};
  shifted.offset = 1;
  ExpectError(Checkpoint({shifted}), "reach past the end of its storage of 6 elements");
  T wide{"w"};
  wide.stride = {4, 1};
  ExpectError(Checkpoint({wide}), "reach past the end");
  T broadcast{"w"};
  broadcast.size = {1000000, 1000000};
  broadcast.stride = {0, 0};
  ExpectError(Checkpoint({broadcast}), "more elements than its storage");
  T rank{"w"};
  rank.stride = {1};
  ExpectError(Checkpoint({rank}), "differ in rank");
  T negative{"w"};
  negative.size = {-2, 3};
  ExpectError(Checkpoint({negative}), "not a size >= 0");
  T neg_offset{"w"};
  neg_offset.offset = -1;
  ExpectError(Checkpoint({neg_offset}), "storage offset -1");
  // An empty view may sit anywhere (torch writes such views of an empty storage).
  T empty{"w"};
  empty.size = {0, 3};
  empty.offset = 100;
  EXPECT_TRUE(FromEntries(Checkpoint({empty})).ok());
}

TEST(TorchCheckpointBadInput, StorageProblems) {
  T missing{"w"};
  missing.key = "7";
  ExpectError(Checkpoint({missing}), "storage entry 'a/data/7' is missing");
  T as_half{"v"};
  as_half.type = "HalfStorage";
  as_half.numel = 12;
  ExpectError(Checkpoint({{"w"}, as_half}), "shared with another tensor");
  T complex{"w"};
  complex.type = "ComplexFloatStorage";
  ExpectError(Checkpoint({complex}), "'torch.ComplexFloatStorage' is not allowed");
}

TEST(TorchCheckpointBadInput, NotAStateDict) {
  // A pickle that runs os.system: refused by the pickle reader.
  PickleWriter evil;
  evil.global("os", "system");
  evil.str("echo pwned");
  evil.b += "\x85R.";
  ExpectError(BuildZip({{"a/data.pkl", evil.b}}), "'os.system' is not allowed");
  PickleWriter list;
  list.op(']');
  list.op('.');
  ExpectError(BuildZip({{"a/data.pkl", list.b}}), "holds a list, not a state dict");
  PickleWriter int_value;
  int_value.op('}');
  int_value.str("step");
  int_value.integer(5);
  int_value.op('s');
  int_value.op('.');
  ExpectError(BuildZip({{"a/data.pkl", int_value.b}}), "tensor 'step': is 5, not a tensor");
  ExpectError(BuildZip({{"a/other.pkl", "x"}}), "no <folder>/data.pkl");
  ExpectError(BuildZip({{"a/data.pkl", list.b}, {"b/data.pkl", list.b}}), "several top-level");
  ExpectError(BuildZip({{"a/data.pkl", StateDictPickle({{"w"}})},
                        {"a/data/0", std::string(24, '\0')},
                        {"a/byteorder", "big"}}),
              "byteorder is 'big'");
  // A truncated pickle.
  std::string pkl = StateDictPickle({{"w"}});
  ExpectError(BuildZip({{"a/data.pkl", pkl.substr(0, pkl.size() - 3)},
                        {"a/data/0", std::string(24, '\0')}}),
              "bad.pth:a/data.pkl");
}

TEST(TorchCheckpointBadInput, SurvivesRandomCorruption) {
  // CRC checks off, so corrupted bytes reach the pickle and tensor layers.
  auto file = MappedFile::Open(std::string(kTestdata) + "torch_small.pth");
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string good(reinterpret_cast<const char*>(file->data()), file->size());
  ZipOptions no_crc;
  no_crc.verify_crc = false;
  std::mt19937 rng(5);
  int opened = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string bad = good;
    for (int f = 0; f <= trial % 3; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    auto zip = ZipArchive::FromBytes(Bytes(bad), "fuzz.pth", no_crc);
    if (!zip.ok()) continue;
    auto ckpt = TorchCheckpoint::FromZip(*std::move(zip));
    if (!ckpt.ok()) continue;
    ++opened;
    for (const TorchTensorInfo& t : ckpt->tensors()) {
      if (IsFloatDType(t.dtype)) {
        ASSERT_TRUE(ckpt->ReadFloat(t.name).ok()) << t.name;
      }
    }
  }
  EXPECT_GT(opened, 0);  // flips in tensor data leave a valid checkpoint
}

TEST(TorchCheckpointBadInput, LegacyAndNonZipFiles) {
  const std::string dir = ::testing::TempDir();
  const std::string legacy = dir + "/legacy.pth";
  FILE* f = std::fopen(legacy.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("\x80\x02\x8a\x0al\xfc\x9c" "F\xf9 j\xa8P\x19.", f);  // split: \x9cF is one escape
  std::fclose(f);
  auto ckpt = TorchCheckpoint::Open(legacy);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(std::string(ckpt.status().message()).find("legacy"), std::string::npos);
  EXPECT_FALSE(TorchCheckpoint::Open(dir + "/does_not_exist.pth").ok());
}

}  // namespace
}  // namespace memlens

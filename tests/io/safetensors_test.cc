#include "core/io/safetensors.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/io/io_test_util.h"

namespace memlens {
namespace {

using testing_io::AppendPod;
using testing_io::ListDir;
using testing_io::ReadAll;
using testing_io::TempDir;
using testing_io::TempPath;
using testing_io::WriteAll;

// A safetensors file with the given header text and data section.
std::string Raw(const std::string& header, const std::string& data) {
  std::string out;
  AppendPod<uint64_t>(&out, header.size());
  return out + header + data;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

absl::StatusOr<SafetensorsFile> OpenRaw(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  WriteAll(path, bytes);
  return SafetensorsFile::Open(path);
}

Tensor Make(std::vector<int64_t> shape, float start) {
  Tensor t(std::move(shape));
  for (size_t i = 0; i < t.size(); ++i) t.data[i] = start + static_cast<float>(i) * 0.5f;
  return t;
}

TEST(Safetensors, WriteThenReadRoundTrips) {
  std::map<std::string, Tensor> tensors;
  tensors["a.W"] = Make({2, 3}, 1.0f);
  tensors["b"] = Make({5}, -3.0f);
  tensors["scalar"] = Make({}, 7.0f);
  tensors["empty"] = Make({0, 4}, 0.0f);
  tensors["z.W"] = Make({2, 1, 3, 2}, 100.0f);
  const std::string path = TempPath("roundtrip.safetensors");
  ASSERT_TRUE(
      WriteSafetensors(path, tensors, {{"format", "pt"}, {"note", "memlens \"test\""}}).ok());

  const std::string bytes = ReadAll(path);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u) << "data section must start 8-byte aligned";

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors().size(), tensors.size());
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("note"), "memlens \"test\"");
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    const TensorView* view = file->Find(name);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->dtype, DType::kF32);
    EXPECT_EQ(view->shape, t.shape);
    auto read = file->ReadFloat(name);
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(read->shape, t.shape);
    EXPECT_EQ(read->data, t.data);
    // F32 is memlens's dtype: used in place from the mapping, not copied.
    EXPECT_TRUE(read->data.is_view());
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(read->ptr()), view->bytes.data());
  }
  EXPECT_EQ(file->Find("missing"), nullptr);
  EXPECT_ERROR_CONTAINS(file->ReadFloat("missing"), "no tensor named \"missing\"");
  EXPECT_ERROR_CONTAINS(file->ReadFloat("missing"), path);
  // No temporary files left behind.
  for (const std::string& n : ListDir(TempPath("")))
    EXPECT_EQ(n.find("tmp."), std::string::npos) << n;
}

TEST(Safetensors, OrderedWriterKeepsTheGivenOrderInTheDataSection) {
  Tensor a = Make({3}, 1.0f), b = Make({2}, 9.0f);
  const std::string path = TempPath("ordered.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"second", &b}, {"first", &a}}).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_LT(file->Find("second")->bytes.data(), file->Find("first")->bytes.data());
}

TEST(Safetensors, ViewsSurviveAMove) {
  Tensor a = Make({4}, 2.0f);
  const std::string path = TempPath("move.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", &a}}).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  SafetensorsFile moved = std::move(*file);
  EXPECT_EQ(ToFloatTensor(*moved.Find("a")).data, a.data);
}

// Dtypes memlens does not compute with (a TransformerLens state dict's BOOL attention masks,
// integer buffers) are listed, shaped and checked like the rest, so a loader can skip them by
// name; reading one as float is an error naming it and its dtype, never numbers.
TEST(Safetensors, NonFloatTensorsAreListedButNotRead) {
  // Laid out as the safetensors writer does: by element size, largest first.
  std::string data(8 + 4 * 3 + 16, '\0');
  const float w[3] = {1.5f, -2.0f, 3.0f};
  std::memcpy(data.data() + 8, w, sizeof(w));
  auto file = OpenRaw("mask.safetensors",
                      Raw(R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                          R"("w":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},)"
                          R"("blocks.0.attn.mask":{"dtype":"BOOL","shape":[4,4],)"
                          R"("data_offsets":[20,36]}})",
                          data));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors().size(), 3u);
  const TensorView* mask = file->Find("blocks.0.attn.mask");
  ASSERT_NE(mask, nullptr);
  EXPECT_EQ(mask->dtype, DType::kOther);
  EXPECT_EQ(mask->dtype_name, "BOOL");
  EXPECT_EQ(mask->shape, (std::vector<int64_t>{4, 4}));
  EXPECT_ERROR_CONTAINS(file->ReadFloat("blocks.0.attn.mask"),
                        "tensor \"blocks.0.attn.mask\" is BOOL, not a floating-point tensor");
  EXPECT_ERROR_CONTAINS(file->ReadFloat("ids"), "is I64");
  auto floats = file->ReadFloat("w");
  ASSERT_TRUE(floats.ok()) << floats.status();
  EXPECT_EQ(floats->data, (std::vector<float>{1.5f, -2.0f, 3.0f}));
}

TEST(Safetensors, HalfAndBFloat16ConvertExactly) {
  // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), +Inf, -0.
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001,
                                     0x0400, 0x7C00, 0x8000, 0x03FF};
  // BF16: 1, -0.5, 3.140625, -Inf.
  const std::vector<uint16_t> bf16 = {0x3F80, 0xBF00, 0x4049, 0xFF80};
  std::string data(reinterpret_cast<const char*>(f16.data()), f16.size() * 2);
  data.append(reinterpret_cast<const char*>(bf16.data()), bf16.size() * 2);
  const std::string header =
      absl::StrCat(R"({"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]},)",
                   R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]}})");
  auto file = OpenRaw("half.safetensors", Raw(header, data));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->Find("h")->dtype, DType::kF16);
  auto h = file->ReadFloat("h");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(h->data[0], 1.0f);
  EXPECT_EQ(h->data[1], -2.0f);
  EXPECT_EQ(h->data[2], 65504.0f);
  EXPECT_EQ(h->data[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(h->data[4], std::ldexp(1.0f, -14));
  EXPECT_EQ(h->data[5], std::numeric_limits<float>::infinity());
  EXPECT_EQ(h->data[6], 0.0f);
  EXPECT_TRUE(std::signbit(h->data[6]));
  EXPECT_EQ(h->data[7], std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  auto b = file->ReadFloat("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data,
            (std::vector<float>{1.0f, -0.5f, 3.140625f, -std::numeric_limits<float>::infinity()}));
  // Every finite half converts to a float that converts back to the same value ordering.
  float prev = -std::numeric_limits<float>::infinity();
  for (uint32_t bits = 0x0000; bits < 0x7C00; ++bits) {
    const float f = HalfToFloat(static_cast<uint16_t>(bits));
    EXPECT_GT(f, prev) << bits;
    prev = f;
  }
}

TEST(Safetensors, MetadataAndEmptyFilesAreAllowed) {
  auto file = OpenRaw("meta_only.safetensors", Raw(R"({"__metadata__":{"k":"v"}})", ""));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_EQ(file->metadata().at("k"), "v");
  auto padded = OpenRaw("padded.safetensors", Raw("{}      ", ""));
  EXPECT_TRUE(padded.ok()) << padded.status();
}

struct BadCase {
  std::string label;
  std::string bytes;
  std::string error;
};

TEST(Safetensors, BadFilesGiveClearErrors) {
  const std::string d16 = FloatBytes({1, 2, 3, 4});  // 16 data bytes
  auto one = [&](const std::string& entry) {
    return Raw(absl::StrCat(R"({"t":)", entry, "}"), d16);
  };
  std::string huge_len;
  AppendPod<uint64_t>(&huge_len, uint64_t{1} << 60);
  huge_len += "{}";
  std::string past_end;
  AppendPod<uint64_t>(&past_end, 1000);
  past_end += R"({"a":1})";
  std::string deep = std::string(100, '[') + std::string(100, ']');
  const std::vector<BadCase> cases = {
      {"empty file", "", "too short for the 8-byte header length"},
      {"seven bytes", "1234567", "too short"},
      {"absurd header length", huge_len, "is not plausible"},
      {"header length past the end", past_end, "runs past the end of the file"},
      {"zero header length", Raw("", d16), "is not plausible"},
      {"non-JSON header", Raw("{not json}", d16), "safetensors header"},
      {"header not an object", Raw("[1, 2]", d16), "does not start with '{'"},
      {"binary garbage", std::string("\x10\0\0\0\0\0\0\0garbagegarbage!!", 24), "does not start"},
      {"deep nesting", Raw(absl::StrCat(R"({"t":)", deep, "}"), d16), "safetensors header"},
      {"duplicate tensor",
       Raw(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
           R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           d16),
       "t"},
      {"entry not an object", one("5"), "tensor \"t\": entry is not a JSON object"},
      {"missing dtype", one(R"({"shape":[4],"data_offsets":[0,16]})"), "dtype"},
      {"I64 of the wrong size", one(R"({"dtype":"I64","shape":[3],"data_offsets":[0,16]})"),
       "shape [3] of I64 needs 24 bytes"},
      {"misaligned I32",
       Raw(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
           R"("t":{"dtype":"I32","shape":[1],"data_offsets":[2,6]}})",
           d16),
       "data offset 2 is misaligned for I32"},
      {"unknown dtype", one(R"({"dtype":"Q4_K","shape":[2],"data_offsets":[0,16]})"),
       "unknown dtype \"Q4_K\""},
      {"dtype not a string", one(R"({"dtype":32,"shape":[4],"data_offsets":[0,16]})"), "dtype"},
      {"shape not an array", one(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"),
       "\"shape\" is not an array"},
      {"negative dimension", one(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"),
       "not a non-negative integer"},
      {"fractional dimension", one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,16]})"),
       "not a non-negative integer"},
      {"absurd shape",
       one(R"({"dtype":"F32","shape":[4294967296,4294967296,16],)"
           R"("data_offsets":[0,16]})"),
       "absurdly large"},
      {"huge rank",
       one(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],)"
           R"("data_offsets":[0,4]})"),
       "rank 17"},
      {"size mismatch", one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"),
       "needs 12 bytes but data_offsets [0, 16] span 16"},
      {"F16 size mismatch", one(R"({"dtype":"F16","shape":[4],"data_offsets":[0,16]})"),
       "needs 8 bytes"},
      {"offsets out of file", one(R"({"dtype":"F32","shape":[4],"data_offsets":[8,24]})"),
       "lie outside the data section (16 bytes)"},
      {"absurd offsets",
       one(R"({"dtype":"F32","shape":[1],)"
           R"("data_offsets":[9223372036854775800,9223372036854775804]})"),
       "outside the data section"},
      {"negative offset", one(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"),
       "are not non-negative integers"},
      {"reversed offsets", one(R"({"dtype":"F32","shape":[0],"data_offsets":[8,4]})"),
       "end before they begin"},
      {"one offset", one(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})"),
       "\"data_offsets\" is not an array of two integers"},
      {"misaligned", Raw(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})", d16),
       "data offset 2 is misaligned for F32"},
      {"misaligned F16", Raw(R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[3,7]}})", d16),
       "misaligned for F16"},
      {"overlap",
       Raw(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
           d16),
       "tensors \"a\" [0, 12) and \"b\" [8, 16) overlap"},
      {"identical ranges",
       Raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
           R"("b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
           d16),
       "overlap"},
      {"extra field", one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":1})"),
       "unexpected field \"x\""},
      {"metadata not an object", Raw(R"({"__metadata__":[1]})", ""),
       "__metadata__ is not a JSON object"},
      {"metadata value not a string", Raw(R"({"__metadata__":{"n":1}})", ""),
       "__metadata__ value \"n\" is a number, not a string"},
      {"empty name", Raw(R"({"":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d16),
       "empty name"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string path = TempPath("bad.safetensors");
    WriteAll(path, c.bytes);
    auto file = SafetensorsFile::Open(path);
    EXPECT_ERROR_CONTAINS(file, path);
    EXPECT_ERROR_CONTAINS(file, c.error);
  }
}

TEST(Safetensors, EveryTruncationOfAValidFileIsAnErrorNotACrash) {
  Tensor a = Make({3, 5}, 1.0f), b = Make({7}, 2.0f);
  const std::string path = TempPath("whole.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", &a}, {"b", &b}}).ok());
  const std::string bytes = ReadAll(path);
  const std::string cut = TempPath("cut.safetensors");
  for (size_t n = 0; n < bytes.size(); ++n) {
    WriteAll(cut, bytes.substr(0, n));
    auto file = SafetensorsFile::Open(cut);
    EXPECT_FALSE(file.ok()) << "truncated at " << n;
  }
}

TEST(Safetensors, RandomlyCorruptedHeadersNeverCrash) {
  Tensor a = Make({3, 5}, 1.0f), b = Make({7}, 2.0f), c = Make({2, 2, 2}, 3.0f);
  const std::string path = TempPath("fuzz_src.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", &a}, {"b", &b}, {"c", &c}}, {{"k", "v"}}).ok());
  const std::string good = ReadAll(path);
  uint64_t header_len;
  std::memcpy(&header_len, good.data(), 8);
  const std::string cut = TempPath("fuzz.safetensors");
  uint32_t rng = 12345;
  auto next = [&rng] { return rng = rng * 1664525u + 1013904223u; };
  int opened = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes = good;
    const int flips = 1 + next() % 3;
    for (int f = 0; f < flips; ++f) {
      // Mostly the header (length and JSON), where the validation lives.
      const size_t pos = next() % (8 + header_len);
      const char kInteresting[] = "0123456789[]{},:\"-e.ABFIU";
      bytes[pos] = (next() % 2) ? kInteresting[next() % (sizeof(kInteresting) - 1)]
                                : static_cast<char>(next());
    }
    WriteAll(cut, bytes);
    auto file = SafetensorsFile::Open(cut);
    if (!file.ok()) continue;
    ++opened;
    // Whatever survived validation must be readable within bounds.
    for (const auto& [name, view] : file->tensors()) {
      EXPECT_EQ(ToFloatTensor(view).size(), view.num_elements());
    }
  }
  EXPECT_GT(opened, 0);  // some flips (e.g. inside a string) are harmless
}

TEST(Safetensors, WriterRejectsBadInputAndLeavesNoFile) {
  const std::string dir = TempDir("writer_errors");
  const std::string path = dir + "/out.safetensors";
  Tensor a = Make({2}, 1.0f);
  Tensor broken({3});
  broken.data.resize(2);
  EXPECT_ERROR_CONTAINS(WriteSafetensors(path, {{"a", &a}, {"a", &a}}), "\"a\" is given twice");
  EXPECT_ERROR_CONTAINS(WriteSafetensors(path, {{"", &a}}), "cannot write a tensor named");
  EXPECT_ERROR_CONTAINS(WriteSafetensors(path, {{"__metadata__", &a}}), "__metadata__");
  EXPECT_ERROR_CONTAINS(WriteSafetensors(path, {{"x", &broken}}), "has shape [3] but 2 values");
  EXPECT_TRUE(ListDir(dir).empty());
  const std::string missing_dir = dir + "/no/such/dir/out.safetensors";
  EXPECT_ERROR_CONTAINS(WriteSafetensors(missing_dir, {{"a", &a}}), missing_dir);
  EXPECT_ERROR_CONTAINS(WriteSafetensors(missing_dir, {{"a", &a}}), "No such file or directory");
}

TEST(Safetensors, RewriteReplacesTheFileAtomically) {
  const std::string path = TempPath("rewrite.safetensors");
  Tensor a = Make({2}, 1.0f), b = Make({3}, 5.0f);
  ASSERT_TRUE(WriteSafetensors(path, {{"a", &a}}).ok());
  auto first = SafetensorsFile::Open(path);  // keeps the old mapping alive
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(WriteSafetensors(path, {{"b", &b}}).ok());
  auto second = SafetensorsFile::Open(path);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->Find("b"), nullptr);
  EXPECT_EQ(second->Find("a"), nullptr);
  // The reader of the old file still sees the old, complete contents.
  EXPECT_EQ(ToFloatTensor(*first->Find("a")).data, a.data);
}

}  // namespace
}  // namespace memlens

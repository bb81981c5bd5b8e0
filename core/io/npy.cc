#include "core/io/npy.h"

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/io/atomic_file.h"
#include "core/io/mapped_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "memlens writes little-endian float32 data in place: a little-endian host is needed"
#endif

namespace memlens {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// numpy >= 1.23 aligns the data to 64 bytes (ARRAY_ALIGN), older versions to 16; 64 suits both.
constexpr size_t kAlign = 64;
constexpr size_t kMaxRank = 32;  // numpy's NPY_MAXDIMS

absl::Status Error(absl::string_view source, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

// The value of `key` in a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }: the text up to the next
// top-level ',' or '}' (a tuple's commas are inside parentheses).
absl::StatusOr<absl::string_view> DictValue(absl::string_view dict, absl::string_view key,
                                            absl::string_view source) {
  const std::string quoted = absl::StrCat("'", key, "'");
  const size_t k = dict.find(quoted);
  if (k == absl::string_view::npos) {
    return Error(source, absl::StrCat(".npy header has no ", quoted, " key"));
  }
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(dict.substr(k + quoted.size()));
  if (!absl::ConsumePrefix(&rest, ":")) {
    return Error(source, absl::StrCat(".npy header: no ':' after ", quoted));
  }
  rest = absl::StripLeadingAsciiWhitespace(rest);
  int depth = 0;
  size_t i = 0;
  for (; i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  if (i == rest.size()) return Error(source, ".npy header dict is not terminated");
  return absl::StripTrailingAsciiWhitespace(rest.substr(0, i));
}

}  // namespace

absl::StatusOr<std::string> EncodeNpy(const Tensor& tensor) {
  if (tensor.data.size() != Tensor::NumElements(tensor.shape)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor of shape ", ShapeString(tensor.shape),
                                                   " holds ", tensor.data.size(), " values"));
  }
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape.size(); ++i) {
    if (tensor.shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension in shape ", ShapeString(tensor.shape)));
    }
    absl::StrAppend(&shape, i ? ", " : "", tensor.shape[i]);
  }
  if (tensor.shape.size() == 1) shape += ",";  // Python's one-element tuple
  shape += ")";
  std::string dict =
      absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': ", shape, ", }");
  // Version 1.0 has a 2-byte header length; 2.0 a 4-byte one (only for huge ranks).
  const bool v2 = dict.size() + 1 + kMagicLen + 2 + 2 + kAlign > 65535;
  const size_t prefix = kMagicLen + 2 + (v2 ? 4 : 2);
  const size_t unpadded = prefix + dict.size() + 1;  // + '\n'
  dict.append((kAlign - unpadded % kAlign) % kAlign, ' ');
  dict += '\n';
  const uint32_t header_len = static_cast<uint32_t>(dict.size());

  std::string out;
  out.reserve(prefix + dict.size() + tensor.data.size() * 4);
  out.append(kMagic, kMagicLen);
  out.push_back(v2 ? 2 : 1);
  out.push_back(0);
  out.append(reinterpret_cast<const char*>(&header_len), v2 ? 4 : 2);
  out += dict;
  out.append(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size() * 4);
  return out;
}

absl::Status WriteNpy(const std::string& path, const Tensor& tensor) {
  absl::StatusOr<std::string> bytes = EncodeNpy(tensor);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.status().message()));
  }
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<Tensor> DecodeNpy(absl::string_view bytes, absl::string_view source) {
  if (bytes.size() < kMagicLen + 4 ||
      bytes.substr(0, kMagicLen) != absl::string_view(kMagic, kMagicLen)) {
    return Error(source, "not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  if (major < 1 || major > 3) {
    return Error(source, absl::StrCat("unsupported .npy format version ", major, ".",
                                      static_cast<int>(static_cast<uint8_t>(bytes[7]))));
  }
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < kMagicLen + 2 + len_bytes) return Error(source, "truncated .npy header");
  uint32_t header_len = 0;
  std::memcpy(&header_len, bytes.data() + 8, len_bytes);
  const size_t data_start = kMagicLen + 2 + len_bytes + static_cast<size_t>(header_len);
  if (data_start > bytes.size()) {
    return Error(source, absl::StrCat(".npy header length ", header_len,
                                      " runs past the end of the data (", bytes.size(), " bytes)"));
  }
  const absl::string_view dict = bytes.substr(kMagicLen + 2 + len_bytes, header_len);

  absl::StatusOr<absl::string_view> descr = DictValue(dict, "descr", source);
  if (!descr.ok()) return descr.status();
  if (*descr != "'<f4'") {
    return Error(source, absl::StrCat(".npy dtype ", *descr,
                                      " is not supported (only little-endian float32 '<f4')"));
  }
  absl::StatusOr<absl::string_view> fortran = DictValue(dict, "fortran_order", source);
  if (!fortran.ok()) return fortran.status();
  if (*fortran != "False") {
    return Error(source,
                 absl::StrCat(".npy fortran_order ", *fortran, " is not supported (only C order)"));
  }
  absl::StatusOr<absl::string_view> shape_text = DictValue(dict, "shape", source);
  if (!shape_text.ok()) return shape_text.status();
  absl::string_view inner = *shape_text;
  if (!absl::ConsumePrefix(&inner, "(") || !absl::ConsumeSuffix(&inner, ")")) {
    return Error(source, absl::StrCat(".npy shape ", *shape_text, " is not a tuple"));
  }
  std::vector<int64_t> shape;
  uint64_t elements = 1;
  for (absl::string_view part : absl::StrSplit(inner, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;  // "(3,)" and "()"
    int64_t d;
    if (!absl::SimpleAtoi(part, &d) || d < 0) {
      return Error(source, absl::StrCat(".npy shape ", *shape_text, " has a bad dimension"));
    }
    if (shape.size() == kMaxRank ||
        __builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements)) {
      return Error(source, absl::StrCat(".npy shape ", *shape_text, " is absurdly large"));
    }
    shape.push_back(d);
  }
  const uint64_t have = bytes.size() - data_start;
  uint64_t need;
  if (__builtin_mul_overflow(elements, uint64_t{4}, &need) || need != have) {
    return Error(source, absl::StrCat(".npy shape ", ShapeString(shape), " needs ", elements,
                                      " float32 values but the file holds ", have, " data bytes"));
  }
  Tensor t(shape);
  if (need > 0) std::memcpy(t.ptr(), bytes.data() + data_start, need);
  return t;
}

absl::StatusOr<Tensor> ReadNpy(const std::string& path) {
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  return DecodeNpy(absl::string_view(reinterpret_cast<const char*>(file->data()), file->size()),
                   path);
}

}  // namespace memlens

#include "core/io/safetensors.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/io/atomic_file.h"
#include "core/io/json.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "memlens reads and writes little-endian tensor data in place: a little-endian host is needed"
#endif

namespace memlens {
namespace {

// Rank beyond which a shape is certainly corrupt (the largest real tensors have rank 4 or 5).
constexpr size_t kMaxRank = 16;

absl::Status Error(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

struct ParsedDType {
  DType dtype;
  size_t size;  // bytes per element
};

absl::StatusOr<ParsedDType> ParseDType(const std::string& s) {
  if (s == "F32") return ParsedDType{DType::kF32, 4};
  if (s == "F16") return ParsedDType{DType::kF16, 2};
  if (s == "BF16") return ParsedDType{DType::kBF16, 2};
  static const std::pair<const char*, size_t> kOthers[] = {
      {"F64", 8}, {"I64", 8}, {"U64", 8}, {"I32", 4},     {"U32", 4},    {"I16", 2},
      {"U16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (const auto& [name, size] : kOthers) {
    if (s == name) return ParsedDType{DType::kOther, size};
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype \"", s, "\""));
}

bool MulOverflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kOther:
      return "other";
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kOther:
      return 0;  // varies (TensorView::dtype_name says which)
  }
  return 0;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // Inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal: value = mant * 2^-24; normalize into a float exponent.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Tensor ToFloatTensor(const TensorView& view) {
  Tensor t(view.shape);
  const size_t n = t.size();
  const uint8_t* p = view.bytes.data();
  switch (view.dtype) {
    case DType::kF32:
      // In chunks, releasing each chunk's file pages once copied (see ReleaseMappedPages).
      for (size_t done = 0; done < n;) {
        const size_t chunk = std::min<size_t>(n - done, size_t{1} << 20);
        std::memcpy(t.ptr() + done, p + 4 * done, chunk * 4);
        ReleaseMappedPages(p + 4 * done, chunk * 4);
        done += chunk;
      }
      break;
    case DType::kF16:
    case DType::kBF16: {
      const bool half = view.dtype == DType::kF16;
      // In chunks too: an f16/bf16 file's pages would otherwise stay resident beside the
      // float32 weights (measured: 1.52x the weights' size at peak instead of 1.04x).
      for (size_t done = 0; done < n;) {
        const size_t end = std::min<size_t>(n, done + (size_t{1} << 20));
        for (size_t i = done; i < end; ++i) {
          uint16_t bits;
          std::memcpy(&bits, p + 2 * i, 2);
          t.data[i] = half ? HalfToFloat(bits) : BFloat16ToFloat(bits);
        }
        ReleaseMappedPages(p + 2 * done, 2 * (end - done));
        done = end;
      }
      break;
    }
    case DType::kOther:  // not a float: ReadFloat refuses it before converting
      std::abort();
  }
  return t;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  absl::StatusOr<MappedFile> mapped = MappedFile::Open(path);
  if (!mapped.ok()) return mapped.status();
  SafetensorsFile out;
  out.file_ = std::make_shared<const MappedFile>(std::move(*mapped));
  const MappedFile& file = *out.file_;

  if (file.size() < 8) {
    return Error(path, absl::StrCat("not a safetensors file: ", file.size(),
                                    " bytes is too short for the 8-byte header length"));
  }
  uint64_t header_len;
  std::memcpy(&header_len, file.data(), 8);
  if (header_len < 2 || header_len > kMaxSafetensorsHeaderBytes) {
    return Error(path, absl::StrCat("safetensors header length ", header_len,
                                    " is not plausible (must be 2 .. ", kMaxSafetensorsHeaderBytes,
                                    " bytes)"));
  }
  if (header_len > file.size() - 8) {
    return Error(
        path, absl::StrCat("safetensors header length ", header_len,
                           " runs past the end of the file (", file.size(), " bytes): truncated?"));
  }
  const absl::string_view header(reinterpret_cast<const char*>(file.data()) + 8, header_len);
  if (header[0] != '{') {
    return Error(path, "safetensors header does not start with '{': not a safetensors file");
  }
  json::ParseOptions options;
  options.source_name = absl::StrCat(path, " (safetensors header)");
  // The header is a flat object of flat objects; deep nesting means a hostile file.
  options.max_depth = 8;
  absl::StatusOr<json::Value> root = json::Parse(header, options);
  if (!root.ok()) return root.status();
  if (!root->is_object()) return Error(path, "safetensors header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file.size() - data_start;
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  ranges.reserve(root->size());
  for (const json::Member& member : root->object()) {
    const std::string& name = member.first;
    const json::Value& entry = member.second;
    if (name == "__metadata__") {
      if (!entry.is_object()) return Error(path, "__metadata__ is not a JSON object");
      for (const json::Member& m : entry.object()) {
        if (!m.second.is_string()) {
          return Error(path, absl::StrCat("__metadata__ value \"", m.first, "\" is a ",
                                          json::TypeName(m.second.type()), ", not a string"));
        }
        out.metadata_[m.first] = m.second.string_value();
      }
      continue;
    }
    auto bad = [&](absl::string_view what) {
      return Error(path, absl::StrCat("tensor \"", name, "\": ", what));
    };
    if (name.empty()) return Error(path, "a tensor has an empty name");
    if (!entry.is_object()) return bad("entry is not a JSON object");
    absl::StatusOr<std::string> dtype_name = entry.GetString("dtype");
    if (!dtype_name.ok()) return bad(dtype_name.status().message());
    absl::StatusOr<ParsedDType> dtype = ParseDType(*dtype_name);
    if (!dtype.ok()) {
      return absl::Status(dtype.status().code(), absl::StrCat(path, ": tensor \"", name,
                                                              "\": ", dtype.status().message()));
    }
    const json::Value* shape_json = entry.Find("shape");
    if (shape_json == nullptr || !shape_json->is_array()) return bad("\"shape\" is not an array");
    if (shape_json->size() > kMaxRank) {
      return bad(absl::StrCat("rank ", shape_json->size(), " exceeds ", kMaxRank));
    }
    const json::Value* offsets = entry.Find("data_offsets");
    if (offsets == nullptr || !offsets->is_array() || offsets->size() != 2) {
      return bad("\"data_offsets\" is not an array of two integers");
    }
    for (const json::Member& m : entry.object()) {
      if (m.first != "dtype" && m.first != "shape" && m.first != "data_offsets") {
        return bad(absl::StrCat("unexpected field \"", m.first, "\""));
      }
    }
    std::vector<int64_t> shape;
    uint64_t bytes = dtype->size;
    for (const json::Value& d : shape_json->array()) {
      absl::StatusOr<int64_t> dim = d.AsInt64();
      if (!dim.ok() || *dim < 0) {
        return bad(
            absl::StrCat("shape entry ", json::Serialize(d), " is not a non-negative integer"));
      }
      if (MulOverflows(bytes, static_cast<uint64_t>(*dim), &bytes)) {
        return bad(absl::StrCat("shape ", json::Serialize(*shape_json), " is absurdly large"));
      }
      shape.push_back(*dim);
    }
    uint64_t be[2];
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<int64_t> v = offsets->array()[i].AsInt64();
      if (!v.ok() || *v < 0) {
        return bad(absl::StrCat("data_offsets ", json::Serialize(*offsets),
                                " are not non-negative integers"));
      }
      be[i] = static_cast<uint64_t>(*v);
    }
    if (be[1] < be[0]) {
      return bad(absl::StrCat("data_offsets [", be[0], ", ", be[1], "] end before they begin"));
    }
    if (be[1] - be[0] != bytes) {
      return bad(absl::StrCat("shape ", ShapeString(shape), " of ", *dtype_name, " needs ", bytes,
                              " bytes but data_offsets [", be[0], ", ", be[1], "] span ",
                              be[1] - be[0]));
    }
    if (be[1] > data_size) {
      return bad(absl::StrCat("data_offsets [", be[0], ", ", be[1],
                              "] lie outside the data section (", data_size,
                              " bytes): the file is truncated or corrupt"));
    }
    if (be[0] % dtype->size != 0) {
      return bad(absl::StrCat("data offset ", be[0], " is misaligned for ", *dtype_name,
                              " (not a multiple of ", dtype->size, ")"));
    }
    TensorView view;
    view.dtype = dtype->dtype;
    view.dtype_name = *dtype_name;
    view.shape = std::move(shape);
    view.bytes = absl::Span<const uint8_t>(file.data() + data_start + be[0], bytes);
    auto [it, inserted] = out.tensors_.emplace(name, std::move(view));
    (void)inserted;  // the JSON parser already rejects duplicate keys
    ranges.push_back({be[0], be[1], &it->first});
  }

  // Overlaps: sort by begin; an empty tensor overlaps nothing.
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  const Range* prev = nullptr;
  for (const Range& r : ranges) {
    if (r.begin == r.end) continue;
    if (prev != nullptr && r.begin < prev->end) {
      return Error(path,
                   absl::StrCat("tensors \"", *prev->name, "\" [", prev->begin, ", ", prev->end,
                                ") and \"", *r.name, "\" [", r.begin, ", ", r.end, ") overlap"));
    }
    prev = &r;
  }
  return out;
}

const TensorView* SafetensorsFile::Find(absl::string_view name) const {
  auto it = tensors_.find(std::string(name));
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::StatusOr<Tensor> SafetensorsFile::ReadFloat(absl::string_view name) const {
  const TensorView* view = Find(name);
  if (view == nullptr) {
    return absl::NotFoundError(absl::StrCat(path(), ": no tensor named \"", name, "\""));
  }
  if (view->dtype == DType::kOther) {
    return absl::InvalidArgumentError(absl::StrCat(
        path(), ": tensor \"", name, "\" is ", view->dtype_name,
        ", not a floating-point tensor memlens reads (F32, F16, BF16)"));
  }
  if (view->dtype == DType::kF32) {  // already float32: used in place
    if (std::optional<Tensor> t = MappedFloats(file_, view->bytes, view->shape)) return *std::move(t);
  }
  return ToFloatTensor(*view);
}

SafetensorsSource::SafetensorsSource(SafetensorsFile file) : file_(std::move(file)) {}

absl::StatusOr<std::unique_ptr<SafetensorsSource>> SafetensorsSource::Open(
    const std::string& path) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  return std::make_unique<SafetensorsSource>(std::move(*file));
}

std::vector<std::string> SafetensorsSource::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(file_.tensors().size());
  for (const auto& [name, view] : file_.tensors()) names.push_back(name);
  return names;
}

const std::vector<int64_t>* SafetensorsSource::FindShape(absl::string_view name) const {
  const TensorView* view = file_.Find(name);
  return view == nullptr ? nullptr : &view->shape;
}

absl::StatusOr<std::unique_ptr<ShardedSafetensorsSource>> ShardedSafetensorsSource::Open(
    const std::string& index_path) {
  json::ParseOptions options;
  options.source_name = index_path;
  options.max_depth = 16;
  absl::StatusOr<json::Value> index = json::ParseFile(index_path, options);
  if (!index.ok()) return index.status();
  const json::Value* map = index->Find("weight_map");
  if (map == nullptr || !map->is_object() || map->object().empty()) {
    return Error(index_path, "no \"weight_map\" object naming the tensors' part files");
  }
  const size_t slash = index_path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : index_path.substr(0, slash);
  auto source = std::unique_ptr<ShardedSafetensorsSource>(new ShardedSafetensorsSource);
  source->index_path_ = index_path;
  std::map<std::string, size_t> part_index;  // part file name -> index into parts_
  for (const auto& [name, part] : map->object()) {
    if (!part.is_string()) {
      return Error(index_path, absl::StrCat("weight_map[\"", name, "\"] is not a file name"));
    }
    const std::string& file = part.string_value();
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos) {
      return Error(index_path, absl::StrCat("weight_map[\"", name, "\"] = \"", file,
                                            "\" is not a file name in the index's directory"));
    }
    auto it = part_index.find(file);
    if (it == part_index.end()) {
      absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(dir + "/" + file);
      if (!f.ok()) return f.status();
      it = part_index.emplace(file, source->parts_.size()).first;
      source->parts_.push_back(std::move(*f));
    }
    if (source->parts_[it->second].Find(name) == nullptr) {
      return Error(index_path, absl::StrCat("tensor ", name, " is assigned to ", file,
                                            ", which does not hold it"));
    }
    source->part_of_.emplace(name, it->second);
  }
  for (const SafetensorsFile& f : source->parts_) {
    for (const auto& [name, view] : f.tensors()) {
      auto it = source->part_of_.find(name);
      if (it == source->part_of_.end() || &source->parts_[it->second] != &f) {
        return Error(f.path(), absl::StrCat("holds tensor ", name, ", which ", index_path,
                                            " does not assign to this part"));
      }
    }
  }
  return source;
}

std::vector<std::string> ShardedSafetensorsSource::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(part_of_.size());
  for (const auto& [name, part] : part_of_) names.push_back(name);
  return names;
}

const std::vector<int64_t>* ShardedSafetensorsSource::FindShape(absl::string_view name) const {
  auto it = part_of_.find(name);
  return it == part_of_.end() ? nullptr : &parts_[it->second].Find(name)->shape;
}

absl::StatusOr<Tensor> ShardedSafetensorsSource::ReadFloat(absl::string_view name) const {
  auto it = part_of_.find(name);
  if (it == part_of_.end()) {
    return absl::NotFoundError(absl::StrCat(index_path_, ": no tensor ", name));
  }
  return parts_[it->second].ReadFloat(name);
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  json::JsonWriter header;
  header.BeginObject();
  if (!metadata.empty()) {
    header.Key("__metadata__").BeginObject();
    for (const auto& [k, v] : metadata) header.Key(k).String(v);
    header.EndObject();
  }
  std::map<absl::string_view, int> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": cannot write a tensor named \"", name, "\""));
    }
    if (!seen.emplace(name, 0).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor \"", name, "\" is given twice"));
    }
    if (t == nullptr || t->data.size() != Tensor::NumElements(t->shape)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor \"", name, "\" has shape ",
                       t == nullptr ? "(null)" : ShapeString(t->shape), " but ",
                       t == nullptr ? 0 : t->data.size(), " values"));
    }
    for (int64_t d : t->shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": tensor \"", name, "\" has a negative dimension in ", ShapeString(t->shape)));
      }
    }
    const uint64_t bytes = t->data.size() * sizeof(float);
    header.Key(name).BeginObject().Key("dtype").String("F32").Key("shape").BeginArray();
    for (int64_t d : t->shape) header.Int(d);
    header.EndArray().Key("data_offsets").BeginArray().Int(offset).Int(offset + bytes);
    header.EndArray().EndObject();
    offset += bytes;
  }
  header.EndObject();
  if (auto s = header.status(); !s.ok()) {
    return absl::InternalError(absl::StrCat(path, ": building the header: ", s.message()));
  }
  std::string text = header.Release();
  // Pad with spaces so the data section starts 8-byte aligned (8 + len is a multiple of 8).
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t len = text.size();

  auto writer = AtomicFileWriter::Create(path);
  if (!writer.ok()) return writer.status();
  if (auto s = (*writer)->Append(&len, 8); !s.ok()) return s;
  if (auto s = (*writer)->Append(text); !s.ok()) return s;
  for (const auto& [name, t] : tensors) {
    if (auto s = (*writer)->Append(t->data.data(), t->data.size() * sizeof(float)); !s.ok()) {
      return s;
    }
  }
  return (*writer)->Commit();
}

absl::Status WriteSafetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<NamedTensor> named;
  named.reserve(tensors.size());
  for (const auto& [name, t] : tensors) named.emplace_back(name, &t);
  return WriteSafetensors(path, named, metadata);
}

}  // namespace memlens

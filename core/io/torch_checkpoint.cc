#include "core/io/torch_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/io/mapped_file.h"
#include "core/io/pickle.h"
#include "core/io/safetensors.h"  // HalfToFloat, BFloat16ToFloat

namespace memlens {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "torch storages are little-endian; this reader copies them as is");

namespace {

constexpr int kMaxRank = 32;

struct DTypeNames {
  const char* storage;  // torch.<storage> (legacy typed storage class)
  const char* dtype;    // torch.<dtype>
  TorchDType type;
};
constexpr DTypeNames kDTypes[] = {
    {"FloatStorage", "float32", TorchDType::kF32},  {"HalfStorage", "float16", TorchDType::kF16},
    {"BFloat16Storage", "bfloat16", TorchDType::kBF16},
    {"DoubleStorage", "float64", TorchDType::kF64}, {"BoolStorage", "bool", TorchDType::kBool},
    {"ByteStorage", "uint8", TorchDType::kU8},      {"CharStorage", "int8", TorchDType::kI8},
    {"ShortStorage", "int16", TorchDType::kI16},    {"IntStorage", "int32", TorchDType::kI32},
    {"LongStorage", "int64", TorchDType::kI64},
};

using pickle::Kind;
using pickle::Value;

struct Storage {
  TorchDType dtype;
  int64_t numel;
  absl::Span<const uint8_t> bytes;
};

absl::StatusOr<std::vector<int64_t>> IntTuple(const Value* v, absl::string_view what) {
  if (v == nullptr || v->kind != Kind::kTuple) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a tuple"));
  }
  if (v->items.size() > kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", v->items.size(), " dimensions (at most ", kMaxRank, ")"));
  }
  std::vector<int64_t> out;
  for (const Value* item : v->items) {
    if (item->kind != Kind::kInt || item->integer < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " holds ", pickle::DebugString(*item), ", not a size >= 0"));
    }
    out.push_back(item->integer);
  }
  return out;
}

float ElementToFloat(TorchDType dtype, const uint8_t* p) {
  switch (dtype) {
    case TorchDType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case TorchDType::kF16: return HalfToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
    case TorchDType::kBF16: return BFloat16ToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
    case TorchDType::kF64: {
      double d;
      std::memcpy(&d, p, 8);
      return static_cast<float>(d);
    }
    default: return 0.0f;  // callers only convert float types
  }
}

}  // namespace

const char* TorchDTypeName(TorchDType dtype) {
  for (const DTypeNames& d : kDTypes) {
    if (d.type == dtype) return d.dtype;
  }
  return "?";
}

size_t TorchDTypeSize(TorchDType dtype) {
  switch (dtype) {
    case TorchDType::kF64:
    case TorchDType::kI64: return 8;
    case TorchDType::kF32:
    case TorchDType::kI32: return 4;
    case TorchDType::kF16:
    case TorchDType::kBF16:
    case TorchDType::kI16: return 2;
    default: return 1;
  }
}

bool IsFloatDType(TorchDType dtype) {
  return dtype == TorchDType::kF32 || dtype == TorchDType::kF16 || dtype == TorchDType::kBF16 ||
         dtype == TorchDType::kF64;
}

bool TorchTensorInfo::contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && stride[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

absl::StatusOr<TorchCheckpoint> TorchCheckpoint::Open(const std::string& path,
                                                      const TorchCheckpointOptions& options) {
  absl::StatusOr<ZipArchive> zip = ZipArchive::Open(path, options.zip);
  if (!zip.ok()) {
    // torch.save before 1.6 (or with _use_new_zipfile_serialization=False) writes a bare
    // pickle stream: a protocol-2 PROTO opcode at byte 0.
    absl::StatusOr<MappedFile> file = MappedFile::Open(path);
    if (file.ok() && file->size() >= 2 && file->data()[0] == 0x80 && file->data()[1] <= 5) {
      return absl::UnimplementedError(absl::StrCat(
          path, ": a legacy (non-zip) torch.save file; re-save it with torch >= 1.6 "
                "(torch.save(torch.load(f), f)) to read it"));
    }
    return zip.status();
  }
  return FromZip(*std::move(zip));
}

absl::StatusOr<TorchCheckpoint> TorchCheckpoint::FromZip(ZipArchive zip) {
  TorchCheckpoint ckpt;
  ckpt.zip_ = std::make_unique<ZipArchive>(std::move(zip));
  if (absl::Status s = ckpt.ReadStateDict(); !s.ok()) return s;
  return ckpt;
}

absl::Status TorchCheckpoint::ReadStateDict() {
  const std::string& path = zip_->source_name();
  // ---- The top-level folder: the one "<folder>/data.pkl". ----
  std::vector<std::string> folders;
  for (const ZipEntry& e : zip_->entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      folders.push_back(e.name.substr(0, slash));
    }
  }
  if (folders.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a zip archive but not a PyTorch checkpoint (no <folder>/data.pkl entry)"));
  }
  if (folders.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": several top-level folders hold a "
                                                   "data.pkl (",
                                                   absl::StrJoin(folders, ", "), ")"));
  }
  archive_ = folders[0];
  const std::string prefix = archive_ + "/";
  if (const ZipEntry* bo = zip_->Find(prefix + "byteorder"); bo != nullptr) {
    absl::string_view order(reinterpret_cast<const char*>(bo->data.data()), bo->data.size());
    if (order != "little" && order != "little\n") {
      return absl::UnimplementedError(absl::StrCat(path, ": byteorder is '", order,
                                                   "'; only little-endian checkpoints are "
                                                   "supported"));
    }
  }

  // ---- The pickle: a dict of name -> tensor. ----
  pickle::Options popts;
  popts.source_name = absl::StrCat(path, ":", prefix, "data.pkl");
  absl::StatusOr<pickle::Document> doc = pickle::Parse(zip_->Find(prefix + "data.pkl")->data,
                                                       popts);
  if (!doc.ok()) return doc.status();
  const Value& root = doc->root();
  if (root.kind != Kind::kDict) {
    return absl::InvalidArgumentError(absl::StrCat(popts.source_name, ": holds a ",
                                                   pickle::KindName(root.kind),
                                                   ", not a state dict (a dict of tensors)"));
  }

  absl::flat_hash_map<std::string, Storage> storages;
  for (const auto& [key, value] : root.entries) {
    if (key->kind != Kind::kString) {
      return absl::InvalidArgumentError(absl::StrCat(popts.source_name, ": a state-dict key is a ",
                                                     pickle::KindName(key->kind),
                                                     ", not a str"));
    }
    TorchTensorInfo info;
    info.name = key->str;
    auto error = [&](auto&&... parts) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", info.name, "': ", parts...));
    };
    const Value* t = value;
    if (t->kind == Kind::kCall &&
        t->callable()->IsGlobal("torch._utils", "_rebuild_parameter")) {
      if (t->args()->items.empty()) return error("_rebuild_parameter without arguments");
      t = t->args()->items[0];
    }
    if (t->kind != Kind::kCall || !t->callable()->IsGlobal("torch._utils", "_rebuild_tensor_v2")) {
      return error("is ", pickle::DebugString(*t, 3),
                   ", not a tensor (torch._utils._rebuild_tensor_v2)");
    }
    const std::vector<const Value*>& args = t->args()->items;
    if (args.size() != 6 && args.size() != 7) {
      return error("_rebuild_tensor_v2 has ", args.size(), " arguments (expected 6 or 7)");
    }
    // Persistent id ('storage', StorageType, key, location, numel).
    const Value* pid = args[0]->kind == Kind::kPersistentId ? args[0]->items[0] : nullptr;
    if (pid == nullptr || pid->kind != Kind::kTuple || pid->items.size() != 5 ||
        pid->items[0]->kind != Kind::kString || pid->items[0]->str != "storage" ||
        pid->items[1]->kind != Kind::kGlobal || pid->items[2]->kind != Kind::kString ||
        pid->items[3]->kind != Kind::kString || pid->items[4]->kind != Kind::kInt) {
      return error("the storage is ", pickle::DebugString(*args[0], 3),
                   ", not ('storage', torch.<T>Storage, key, location, numel)");
    }
    const Value& type = *pid->items[1];
    bool known = false;
    for (const DTypeNames& d : kDTypes) {
      if (type.module == "torch" && (type.name == d.storage || type.name == d.dtype)) {
        info.dtype = d.type;
        known = true;
      }
    }
    if (!known) return error("unsupported storage type ", type.module, ".", type.name);
    info.storage_key = pid->items[2]->str;
    const int64_t numel = pid->items[4]->integer;
    if (numel < 0) return error("storage numel ", numel, " is negative");

    auto it = storages.find(info.storage_key);
    if (it == storages.end()) {
      const std::string entry = absl::StrCat(prefix, "data/", info.storage_key);
      const ZipEntry* ze = zip_->Find(entry);
      if (ze == nullptr) return error("its storage entry '", entry, "' is missing");
      const size_t elem = TorchDTypeSize(info.dtype);
      if (static_cast<uint64_t>(numel) > ze->size / elem || ze->size != numel * elem) {
        return error("storage '", entry, "' holds ", ze->size, " bytes but the checkpoint "
                     "declares ", numel, " ", TorchDTypeName(info.dtype), " elements (",
                     static_cast<unsigned __int128>(numel) * elem > ze->size ? "too small"
                                                                               : "too large",
                     ")");
      }
      it = storages.emplace(info.storage_key, Storage{info.dtype, numel, ze->data}).first;
    } else if (it->second.dtype != info.dtype || it->second.numel != numel) {
      return error("storage '", info.storage_key, "' is shared with another tensor that reads "
                   "it as ", it->second.numel, " ", TorchDTypeName(it->second.dtype),
                   " elements, not ", numel, " ", TorchDTypeName(info.dtype));
    }
    info.storage = it->second.bytes;

    // storage_offset, size, stride.
    if (args[1]->kind != Kind::kInt || args[1]->integer < 0) {
      return error("storage offset ", pickle::DebugString(*args[1], 2), " is not an int >= 0");
    }
    info.storage_offset = args[1]->integer;
    auto shape = IntTuple(args[2], "its size");
    if (!shape.ok()) return error(shape.status().message());
    auto stride = IntTuple(args[3], "its stride");
    if (!stride.ok()) return error(stride.status().message());
    if (shape->size() != stride->size()) {
      return error("size ", ShapeString(*shape), " and stride ", ShapeString(*stride),
                   " differ in rank");
    }
    info.shape = *std::move(shape);
    info.stride = *std::move(stride);
    // Extent: the last element must lie in the storage; no more elements than the storage.
    unsigned __int128 count = 1, last = static_cast<uint64_t>(info.storage_offset);
    for (size_t d = 0; d < info.shape.size(); ++d) {
      count *= static_cast<uint64_t>(info.shape[d]);
      if (count > static_cast<uint64_t>(numel) + 1) break;  // refused below; no overflow
      if (info.shape[d] > 0) {
        last += static_cast<unsigned __int128>(info.shape[d] - 1) *
                static_cast<uint64_t>(info.stride[d]);
      }
    }
    if (count > 0) {
      if (count > static_cast<uint64_t>(numel)) {
        return error("its ", ShapeString(info.shape), " view (stride ",
                     ShapeString(info.stride), ") has more elements than its storage of ",
                     numel, " (broadcast or overlapping views are not supported)");
      }
      if (last >= static_cast<uint64_t>(numel)) {
        return error("size ", ShapeString(info.shape), ", stride ", ShapeString(info.stride),
                     " and storage offset ", info.storage_offset,
                     " reach past the end of its storage of ", numel, " elements");
      }
    }
    if (!index_.emplace(info.name, tensors_.size()).second) {
      return error("appears twice");  // unreachable: pickle dicts replace duplicate keys
    }
    tensors_.push_back(std::move(info));
  }
  return absl::OkStatus();
}

const TorchTensorInfo* TorchCheckpoint::Find(absl::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor TorchCheckpoint::ToFloat(const TorchTensorInfo& info) {
  Tensor out(info.shape);
  const size_t n = out.data.size();
  if (n == 0) return out;
  const size_t elem = TorchDTypeSize(info.dtype);
  const uint8_t* base = info.storage.data();
  if (info.contiguous()) {
    const uint8_t* p = base + info.storage_offset * elem;
    if (info.dtype == TorchDType::kF32) {
      std::memcpy(out.data.data(), p, n * 4);
    } else {
      for (size_t i = 0; i < n; ++i) out.data[i] = ElementToFloat(info.dtype, p + i * elem);
    }
    return out;
  }
  // Strided gather: an odometer over the indices in C order.
  const size_t rank = info.shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t offset = info.storage_offset;
  for (size_t i = 0; i < n; ++i) {
    out.data[i] = ElementToFloat(info.dtype, base + offset * elem);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < info.shape[d]) {
        offset += info.stride[d];
        break;
      }
      offset -= (info.shape[d] - 1) * info.stride[d];
      index[d] = 0;
    }
  }
  return out;
}

absl::StatusOr<Tensor> TorchCheckpoint::ReadFloat(absl::string_view name) const {
  const TorchTensorInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(path(), ": no tensor named '", name, "'"));
  }
  if (!IsFloatDType(info->dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(path(), ": tensor '", name, "' is ",
                                                   TorchDTypeName(info->dtype),
                                                   ", not a floating-point tensor"));
  }
  return Read(*info);
}

Tensor TorchCheckpoint::Read(const TorchTensorInfo& info) const {
  if (info.dtype == TorchDType::kF32 && info.contiguous() && zip_->mapping() != nullptr) {
    // The storage was bounds-checked against shape, strides and offset when the state dict
    // was read.
    const absl::Span<const uint8_t> bytes =
        info.storage.subspan(static_cast<size_t>(info.storage_offset) * sizeof(float),
                             info.num_elements() * sizeof(float));
    if (std::optional<Tensor> t = MappedFloats(zip_->mapping(), bytes, info.shape)) {
      return *std::move(t);
    }
  }
  return ToFloat(info);
}

TorchCheckpointSource::TorchCheckpointSource(TorchCheckpoint checkpoint)
    : checkpoint_(std::move(checkpoint)) {}

absl::StatusOr<std::unique_ptr<TorchCheckpointSource>> TorchCheckpointSource::Open(
    const std::string& path) {
  absl::StatusOr<TorchCheckpoint> ckpt = TorchCheckpoint::Open(path);
  if (!ckpt.ok()) return ckpt.status();
  return std::make_unique<TorchCheckpointSource>(*std::move(ckpt));
}

std::vector<std::string> TorchCheckpointSource::TensorNames() const {
  std::vector<std::string> names;
  for (const TorchTensorInfo& t : checkpoint_.tensors()) {
    if (IsFloatDType(t.dtype)) names.push_back(t.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

const std::vector<int64_t>* TorchCheckpointSource::FindShape(absl::string_view name) const {
  const TorchTensorInfo* info = checkpoint_.Find(name);
  return info != nullptr && IsFloatDType(info->dtype) ? &info->shape : nullptr;
}

absl::StatusOr<Tensor> TorchCheckpointSource::ReadFloat(absl::string_view name) const {
  const TorchTensorInfo* info = checkpoint_.Find(name);
  if (info == nullptr || !IsFloatDType(info->dtype)) {
    return absl::NotFoundError(
        absl::StrCat(source_name(), ": no floating-point tensor named '", name, "'"));
  }
  return checkpoint_.Read(*info);
}

}  // namespace memlens

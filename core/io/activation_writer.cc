#include "core/io/activation_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/io/atomic_file.h"
#include "core/io/checked_file.h"
#include "core/io/json.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"

namespace memlens {
namespace {

constexpr char kIndexFormat[] = "memlens-activations";
constexpr int kIndexVersion = 1;

// mkdir -p.
absl::Status MakeDirs(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(dir,
                     ": exists and is not a directory (a .npy output needs a directory; "
                     "name the output *.safetensors for a single file)"));
  }
  const size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto s = MakeDirs(dir.substr(0, slash)); !s.ok()) return s;
  }
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Removes a directory tree (not following symlinks).
void RemoveTree(const std::string& path) {
  auto remove = [](const char* p, const struct stat*, int, struct FTW*) {
    ::remove(p);
    return 0;
  };
  ::nftw(path.c_str(), remove, 16, FTW_DEPTH | FTW_PHYS);
}

// An existing output directory may be replaced only when it is empty or a memlens activation
// directory (its index.json says so): never a directory of the user's other files.
absl::Status CheckReplaceableDir(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return absl::OkStatus();  // new
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": is ", DescribeFileType(st.st_mode),
        ", not a directory (a .npy output is a directory; name the output *.safetensors for a "
        "single file)"));
  }
  bool empty = true;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) empty = false;
    }
    ::closedir(d);
  }
  if (empty) return absl::OkStatus();
  json::ParseOptions options;
  options.source_name = dir + "/index.json";
  absl::StatusOr<json::Value> index = json::ParseFile(options.source_name, options);
  const json::Value* format = index.ok() ? index->Find("format") : nullptr;
  if (format == nullptr || !format->is_string() || format->string_value() != kIndexFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, ": exists and is neither empty nor a memlens activation directory (no index.json "
             "of format \"", kIndexFormat, "\"); not replaced"));
  }
  return absl::OkStatus();
}

absl::Status CheckFileName(const std::string& hook) {
  if (hook.empty() || hook[0] == '.' || hook.find('/') != std::string::npos ||
      hook.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("hook name \"", hook, "\" cannot be used as a file name"));
  }
  return absl::OkStatus();
}

// Moves the finished directory `temp` to `dir`: a rename when `dir` does not exist, else an
// atomic exchange (renameat2 RENAME_EXCHANGE), after which `temp` holds the old directory.
absl::Status ReplaceDir(const std::string& temp, const std::string& dir) {
  if (::rename(temp.c_str(), dir.c_str()) == 0) return absl::OkStatus();
  if (errno != ENOTEMPTY && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot rename ", temp, " to ", dir, ": ",
                                            std::strerror(errno)));
  }
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
    return absl::InternalError(absl::StrCat("cannot replace ", dir, " with ", temp, ": ",
                                            std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteNpyFiles(const ActivationStore& store, const std::string& dir,
                           const ActivationMetadata& metadata) {
  json::JsonWriter index(2);
  index.BeginObject();
  index.Key("format").String(kIndexFormat);
  index.Key("version").Int(kIndexVersion);
  index.Key("metadata").BeginObject();
  for (const auto& [k, v] : metadata) index.Key(k).String(v);
  index.EndObject();
  index.Key("tensors").BeginArray();
  for (const auto& [hook, t] : store.tensors()) {
    const std::string file = hook + ".npy";
    if (auto s = WriteNpy(dir + "/" + file, t); !s.ok()) return s;
    index.BeginObject().Key("name").String(hook).Key("file").String(file);
    index.Key("shape").BeginArray();
    for (int64_t d : t.shape) index.Int(d);
    index.EndArray().Key("dtype").String("float32").EndObject();
  }
  index.EndArray().EndObject();
  if (auto s = index.status(); !s.ok()) {
    return absl::InternalError(absl::StrCat(dir, "/index.json: ", s.message()));
  }
  std::string text = index.Release();
  text += '\n';
  return WriteFileAtomically(dir + "/index.json", text);
}

}  // namespace

absl::Status WriteActivationsNpyDir(const ActivationStore& store, const std::string& dir_in,
                                    const ActivationMetadata& metadata) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) return absl::InvalidArgumentError("activation output path is empty");
  for (const auto& [hook, t] : store.tensors()) {
    if (auto s = CheckFileName(hook); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(dir, ": ", s.message()));
    }
  }
  if (auto s = CheckActivationOutput(dir); !s.ok()) return s;
  const std::string parent = ParentOf(dir);
  if (auto s = MakeDirs(parent); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot create output directory ", parent, ": ",
                                               s.message()));
  }
  RemoveStaleTemporaries(parent);
  // Everything goes into a new directory that replaces `dir` in one rename at the end.
  const std::string temp = absl::StrCat(dir, ".memlens-tmp.", ::getpid());
  RemoveTree(temp);
  if (::mkdir(temp.c_str(), 0777) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", temp, ": ", std::strerror(errno)));
  }
  absl::Status written = WriteNpyFiles(store, temp, metadata);
  if (written.ok()) written = ReplaceDir(temp, dir);
  RemoveTree(temp);  // on success it holds the old directory (or nothing)
  return written;
}

absl::Status CheckActivationOutput(const std::string& path_in) {
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty()) return absl::InvalidArgumentError("activation output path is empty");
  if (absl::EndsWith(path, ".safetensors")) return CheckOutputFile(path, "--out");
  if (auto s = CheckReplaceableDir(path); !s.ok()) return s;
  // The nearest existing ancestor must be a writable directory (missing ones are created).
  std::string dir = ParentOf(path);
  struct stat st;
  while (::stat(dir.c_str(), &st) != 0 && errno == ENOENT && dir != "/" && dir != ".") {
    dir = ParentOf(dir);
  }
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot create it, ", dir, " is not a directory"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot write in ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteActivationsSafetensors(const ActivationStore& store, const std::string& path,
                                         const ActivationMetadata& metadata) {
  ActivationMetadata meta = metadata;
  meta.emplace("format", kIndexFormat);
  return WriteSafetensors(path, store.tensors(), meta);
}

absl::Status WriteActivations(const ActivationStore& store, const std::string& path,
                              const ActivationMetadata& metadata) {
  if (absl::EndsWith(path, ".safetensors")) {
    return WriteActivationsSafetensors(store, path, metadata);
  }
  return WriteActivationsNpyDir(store, path, metadata);
}

absl::StatusOr<ActivationStore> ReadActivations(const std::string& path,
                                                ActivationMetadata* metadata) {
  ActivationStore store;
  if (absl::EndsWith(path, ".safetensors")) {
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
    if (!file.ok()) return file.status();
    for (const auto& [name, view] : file->tensors()) {
      absl::StatusOr<Tensor> t = file->ReadFloat(name);  // an integer tensor is an error
      if (!t.ok()) return t.status();
      store.Put(name, *std::move(t));
    }
    if (metadata != nullptr) *metadata = file->metadata();
    return store;
  }
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string index_path = dir + "/index.json";
  json::ParseOptions options;
  options.source_name = index_path;
  absl::StatusOr<json::Value> index = json::ParseFile(index_path, options);
  if (!index.ok()) return index.status();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(index_path, ": ", what));
  };
  const json::Value* format = index->Find("format");
  if (format == nullptr || format->string_value() != kIndexFormat) {
    return bad(
        absl::StrCat("not a memlens activation index (\"format\" is not \"", kIndexFormat, "\")"));
  }
  absl::StatusOr<int64_t> version = index->GetInt64("version");
  if (!version.ok() || *version != kIndexVersion) {
    return bad(
        absl::StrCat("unsupported index version (this build reads version ", kIndexVersion, ")"));
  }
  if (metadata != nullptr) {
    metadata->clear();
    if (const json::Value* m = index->Find("metadata"); m != nullptr) {
      for (const json::Member& kv : m->object()) {
        if (!kv.second.is_string())
          return bad(absl::StrCat("metadata \"", kv.first, "\" is not a string"));
        (*metadata)[kv.first] = kv.second.string_value();
      }
    }
  }
  const json::Value* tensors = index->Find("tensors");
  if (tensors == nullptr || !tensors->is_array()) return bad("\"tensors\" is not an array");
  for (const json::Value& entry : tensors->array()) {
    absl::StatusOr<std::string> name = entry.GetString("name");
    absl::StatusOr<std::string> file = entry.GetString("file");
    if (!name.ok() || !file.ok()) return bad("a tensor entry lacks \"name\" or \"file\"");
    if (auto s = CheckFileName(*file); !s.ok()) return bad(s.message());
    if (store.Has(*name)) return bad(absl::StrCat("tensor \"", *name, "\" is listed twice"));
    absl::StatusOr<std::string> dtype = entry.GetString("dtype");
    if (!dtype.ok() || *dtype != "float32") {
      return bad(absl::StrCat("tensor \"", *name, "\": dtype is not \"float32\""));
    }
    const json::Value* shape = entry.Find("shape");
    if (shape == nullptr || !shape->is_array()) {
      return bad(absl::StrCat("tensor \"", *name, "\": \"shape\" is not an array"));
    }
    std::vector<int64_t> want;
    for (const json::Value& d : shape->array()) {
      absl::StatusOr<int64_t> v = d.AsInt64();
      if (!v.ok() || *v < 0) return bad(absl::StrCat("tensor \"", *name, "\": bad shape"));
      want.push_back(*v);
    }
    absl::StatusOr<Tensor> t = ReadNpy(dir + "/" + *file);
    if (!t.ok()) return t.status();
    if (t->shape != want) {
      return bad(absl::StrCat("tensor \"", *name, "\": ", *file, " has shape ",
                              ShapeString(t->shape), " but the index says ", ShapeString(want)));
    }
    store.Put(*name, std::move(*t));
  }
  return store;
}

}  // namespace memlens

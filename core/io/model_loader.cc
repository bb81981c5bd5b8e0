#include "core/io/model_loader.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/io/hf_gpt2.h"
#include "core/io/llama2c.h"
#include "core/io/mapped_file.h"
#include "core/io/safetensors.h"
#include "core/io/transformer_lens.h"

namespace memlens {
namespace {

struct Registry {
  absl::Mutex mu;
  std::vector<TensorSourceFormat> formats ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    TensorSourceFormat safetensors;
    safetensors.name = "safetensors";
    safetensors.extension = ".safetensors";
    safetensors.file_names = {"model.safetensors"};
    safetensors.open =
        [](const std::string& path) -> absl::StatusOr<std::unique_ptr<TensorSource>> {
      absl::StatusOr<std::unique_ptr<SafetensorsSource>> s = SafetensorsSource::Open(path);
      if (!s.ok()) return s.status();
      return std::unique_ptr<TensorSource>(std::move(*s));
    };
    absl::MutexLock lock(&r->mu);
    r->formats.push_back(std::move(safetensors));
    return r;
  }();
  return *registry;
}

std::vector<TensorSourceFormat> Formats() {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  return r.formats;
}

enum class Kind { kMissing, kFile, kDir, kOther };

Kind StatKind(const std::string& path, int* err) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *err = errno;
    return Kind::kMissing;
  }
  if (S_ISREG(st.st_mode)) return Kind::kFile;
  if (S_ISDIR(st.st_mode)) return Kind::kDir;
  return Kind::kOther;
}

bool IsFile(const std::string& path) {
  int err;
  return StatKind(path, &err) == Kind::kFile;
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Basename(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path.substr(path.find_last_of('/') + 1);
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A PyTorch zip checkpoint often carries a .bin name (pytorch_model.bin); so does llama2.c.
bool LooksLikeZip(const std::string& path) {
  absl::StatusOr<MappedFile> f = MappedFile::Open(path);
  return f.ok() && f->size() >= 4 && std::memcmp(f->data(), "PK\x03\x04", 4) == 0;
}

absl::StatusOr<Model> LoadWithConfig(const std::string& weights_path,
                                     const TensorSourceFormat& format,
                                     const std::string& model_dir) {
  const std::string config_path = model_dir + "/config.json";
  if (!IsFile(config_path)) {
    return absl::NotFoundError(
        absl::StrCat(weights_path, ": no config.json next to it (", config_path, " is missing)"));
  }
  json::ParseOptions options;
  options.source_name = config_path;
  options.max_depth = 64;
  absl::StatusOr<json::Value> config = json::ParseFile(config_path, options);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<TensorSource>> source = format.open(weights_path);
  if (!source.ok()) return source.status();
  if (*source == nullptr) {
    return absl::InternalError(
        absl::StrCat(weights_path, ": the ", format.name, " reader returned no tensor source"));
  }
  return BuildModelFromSource(*config, config_path, **source, format.name, model_dir);
}

// The "bos_token" of tokenizer_config.json: a string or {"content": "..."}.
std::string BosTokenText(const json::Value& tokenizer_config) {
  const json::Value* bos = tokenizer_config.Find("bos_token");
  if (bos == nullptr) return "";
  if (bos->is_string()) return bos->string_value();
  const json::Value* content = bos->Find("content");
  return content != nullptr && content->is_string() ? content->string_value() : "";
}

}  // namespace

void RegisterTensorSourceFormat(TensorSourceFormat format) {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  r.formats.push_back(std::move(format));
}

int FindTokenizerBosId(const std::string& dir) {
  json::ParseOptions options;
  options.source_name = dir + "/tokenizer_config.json";
  absl::StatusOr<json::Value> tc = json::ParseFile(options.source_name, options);
  if (!tc.ok()) return -1;
  const std::string bos = BosTokenText(*tc);
  if (bos.empty()) return -1;
  options.source_name = dir + "/tokenizer.json";
  absl::StatusOr<json::Value> tok = json::ParseFile(options.source_name, options);
  if (!tok.ok()) return -1;
  if (const json::Value* added = tok->Find("added_tokens"); added != nullptr) {
    for (const json::Value& t : added->array()) {
      const json::Value* content = t.Find("content");
      const json::Value* id = t.Find("id");
      if (content != nullptr && id != nullptr && content->is_string() &&
          content->string_value() == bos) {
        absl::StatusOr<int64_t> i = id->AsInt64();
        if (i.ok() && *i >= 0 && *i < (int64_t{1} << 31)) return static_cast<int>(*i);
      }
    }
  }
  if (const json::Value* model = tok->Find("model"); model != nullptr) {
    if (const json::Value* vocab = model->Find("vocab"); vocab != nullptr) {
      if (const json::Value* id = vocab->Find(bos); id != nullptr) {
        absl::StatusOr<int64_t> i = id->AsInt64();
        if (i.ok() && *i >= 0 && *i < (int64_t{1} << 31)) return static_cast<int>(*i);
      }
    }
  }
  return -1;
}

absl::StatusOr<Model> BuildModelFromSource(const json::Value& config,
                                           const std::string& config_path,
                                           const TensorSource& source, const std::string& format,
                                           const std::string& model_dir) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": not a JSON object"));
  }
  const int tokenizer_bos = model_dir.empty() || config.Find("bos_token_id") != nullptr
                                ? -1
                                : FindTokenizerBosId(model_dir);
  absl::StatusOr<Model> model;
  if (IsHfGpt2Config(config)) {
    absl::StatusOr<ModelConfig> c = ParseHfGpt2Config(config, config_path);
    if (!c.ok()) return c.status();
    if (tokenizer_bos >= 0 && tokenizer_bos < c->d_vocab) {
      c->bos_token_id = tokenizer_bos;
      c->prepend_bos = true;
    }
    c->format = absl::StrCat("hf-gpt2-", format);
    model = BuildHfGpt2Model(*c, config_path, source);
  } else if (config.Find("d_model") != nullptr) {
    absl::StatusOr<TransformerLensSpec> spec = ParseTransformerLensConfig(config, config_path);
    if (!spec.ok()) return spec.status();
    if (tokenizer_bos >= 0 && tokenizer_bos < spec->config.d_vocab) {
      spec->config.bos_token_id = tokenizer_bos;
      spec->config.prepend_bos = spec->default_prepend_bos;
    }
    spec->config.format = absl::StrCat("tl-", format);
    model = BuildTransformerLensModel(std::move(*spec), source);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(config_path,
                     ": neither a TransformerLens config (no \"d_model\") nor a HuggingFace "
                     "GPT-2 config (no \"model_type\": \"gpt2\" or \"n_embd\")"));
  }
  if (!model.ok()) return model.status();
  if (model->config.name.empty() && !model_dir.empty()) {
    model->config.name = Basename(model_dir);
  }
  return model;
}

absl::StatusOr<Model> LoadModel(const std::string& path) {
  int err = 0;
  const Kind kind = StatKind(path, &err);
  if (kind == Kind::kMissing) {
    return absl::NotFoundError(
        absl::StrCat("cannot load a model from ", path, ": ", std::strerror(err)));
  }
  if (kind == Kind::kOther) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file or a directory"));
  }
  const std::vector<TensorSourceFormat> formats = Formats();
  if (kind == Kind::kFile) {
    for (const TensorSourceFormat& f : formats) {
      if (!f.extension.empty() && absl::EndsWith(path, f.extension)) {
        return LoadWithConfig(path, f, Dirname(path));
      }
    }
    if (absl::EndsWith(path, ".bin")) {
      if (LooksLikeZip(path)) {
        for (const TensorSourceFormat& f : formats) {
          if (f.extension == ".pth" || f.extension == ".pt") {
            return LoadWithConfig(path, f, Dirname(path));
          }
        }
        return absl::UnimplementedError(absl::StrCat(
            path,
            ": a PyTorch zip checkpoint, not a llama2.c file, and no PyTorch reader is "
            "linked in"));
      }
      return LoadLlama2c(path);
    }
    std::vector<std::string> known = {".bin (llama2.c)"};
    for (const TensorSourceFormat& f : formats) {
      if (!f.extension.empty()) known.push_back(f.extension);
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unknown model file type (known: ", absl::StrJoin(known, ", "),
                     ", or a directory with config.json)"));
  }

  // A directory: config.json plus one weights file.
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!IsFile(dir + "/config.json")) {
    return absl::NotFoundError(
        absl::StrCat(dir,
                     ": no config.json in this directory (a model directory holds "
                     "config.json and its weights, e.g. model.safetensors)"));
  }
  if (IsFile(dir + "/model.safetensors.index.json") && !IsFile(dir + "/model.safetensors")) {
    return absl::UnimplementedError(
        absl::StrCat(dir,
                     ": sharded safetensors checkpoints (model.safetensors.index.json) "
                     "are not supported"));
  }
  const std::vector<std::string> entries = ListDir(dir);
  std::vector<std::string> looked_for;
  // Preferred file names of every format first (model.safetensors, model_final.pth), so a
  // folder that also holds other files of a known extension (e.g. expected outputs) loads.
  for (const TensorSourceFormat& f : formats) {
    for (const std::string& name : f.file_names) {
      looked_for.push_back(name);
      if (IsFile(dir + "/" + name)) return LoadWithConfig(dir + "/" + name, f, dir);
    }
  }
  for (const TensorSourceFormat& f : formats) {
    if (f.extension.empty()) continue;
    looked_for.push_back("*" + f.extension);
    std::vector<std::string> matches;
    for (const std::string& e : entries) {
      if (absl::EndsWith(e, f.extension) && IsFile(dir + "/" + e)) matches.push_back(e);
    }
    if (matches.size() == 1) return LoadWithConfig(dir + "/" + matches[0], f, dir);
    if (matches.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(dir, ": several ", f.name, " files (",
                                                     absl::StrJoin(matches, ", "),
                                                     "); pass the one to load"));
    }
  }
  for (const std::string& e : entries) {
    if (absl::EndsWith(e, ".pth") || absl::EndsWith(e, ".pt")) {
      return absl::UnimplementedError(absl::StrCat(dir, ": holds PyTorch checkpoint ", e,
                                                   " but no PyTorch reader is linked in"));
    }
  }
  return absl::NotFoundError(absl::StrCat(dir, ": no weights file found (looked for ",
                                          absl::StrJoin(looked_for, ", "), ")"));
}

}  // namespace memlens

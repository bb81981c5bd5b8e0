#include "core/model/load/load_model.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/io/checked_file.h"
#include "core/io/container_formats.h"
#include "core/io/mapped_file.h"
#include "core/model/load/family.h"
#include "core/model/load/llama2c.h"
#include "core/tokenizer/load_tokenizer.h"

namespace memlens {
namespace {


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

absl::StatusOr<ResolvedModel> LoadWithConfig(const std::string& weights_path,
                                             const TensorSourceFormat& format,
                                             const std::string& model_dir,
                                             const ResolveOptions& options) {
  const std::string config_path = model_dir + "/config.json";
  absl::StatusOr<bool> has_config = RegularFileIfPresent(config_path, kConfigFile);
  if (!has_config.ok()) return has_config.status();
  if (!*has_config) {
    return absl::NotFoundError(
        absl::StrCat(weights_path, ": no config.json next to it (", config_path, " is missing)"));
  }
  json::ParseOptions parse;
  parse.source_name = config_path;
  parse.max_depth = 64;
  absl::StatusOr<json::Value> config = json::ParseFile(config_path, parse);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<TensorSource>> source = format.open(weights_path);
  if (!source.ok()) return source.status();
  if (*source == nullptr) {
    return absl::InternalError(
        absl::StrCat(weights_path, ": the ", format.name, " reader returned no tensor source"));
  }
  return BuildModelFromSource(*config, config_path, **source, format.name, model_dir, options);
}

}  // namespace

absl::StatusOr<ResolvedModel> BuildModelFromSource(const json::Value& config,
                                                   const std::string& config_path,
                                                   const TensorSource& source,
                                                   const std::string& format,
                                                   const std::string& model_dir,
                                                   const ResolveOptions& options) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": not a JSON object"));
  }
  const ModelFamily* family = FindModelFamily(config);
  if (family == nullptr) {
    std::vector<std::string> known;
    for (const ModelFamily& f : ModelFamilies()) known.push_back(f.what);
    return absl::InvalidArgumentError(absl::StrCat(
        config_path, ": not the config of a model family memlens knows (",
        absl::StrJoin(known, "; "), ")"));
  }
  int tokenizer_bos = -1;
  if (!model_dir.empty() && config.Find("bos_token_id") == nullptr) {
    absl::StatusOr<int> bos = FindTokenizerBosId(model_dir);
    if (!bos.ok()) return bos.status();
    tokenizer_bos = *bos;
  }
  absl::StatusOr<FamilyModel> built =
      family->build({config, config_path, source, tokenizer_bos, options.read_weights});
  if (!built.ok()) return built.status();
  ResolvedModel out;
  out.model = std::move(built->model);
  out.quirks = std::move(built->quirks);
  out.family = family->name;
  out.weights_path = source.source_name();
  out.weights_read = options.read_weights;
  out.model.config.format = absl::StrCat(family->name, "-", format);
  if (out.model.config.name.empty() && !model_dir.empty()) {
    out.model.config.name = Basename(model_dir);
  }
  return out;
}

absl::StatusOr<Model> LoadModel(const std::string& path) {
  absl::StatusOr<ResolvedModel> r = ResolveModel(path);
  if (!r.ok()) return r.status();
  return std::move(r->model);
}

namespace {

absl::StatusOr<ResolvedModel> FindWeights(const std::string& path, const ResolveOptions& options) {
  struct stat st;
  if (absl::Status s = StatPath(path, "model", &st); !s.ok()) return s;
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is ", DescribeFileType(st.st_mode),
                                                   ", not a model file or directory"));
  }
  const std::vector<TensorSourceFormat> formats = TensorSourceFormats();
  if (S_ISREG(st.st_mode)) {
    for (const TensorSourceFormat& f : formats) {
      if (!f.extension.empty() && absl::EndsWith(path, f.extension)) {
        return LoadWithConfig(path, f, Dirname(path), options);
      }
    }
    if (absl::EndsWith(path, ".bin")) {
      if (LooksLikeZip(path)) {
        for (const TensorSourceFormat& f : formats) {
          if (f.extension == ".pth" || f.extension == ".pt") {
            return LoadWithConfig(path, f, Dirname(path), options);
          }
        }
        return absl::UnimplementedError(absl::StrCat(
            path,
            ": a PyTorch zip checkpoint, not a llama2.c file, and no PyTorch reader is "
            "linked in"));
      }
      absl::StatusOr<Model> model = LoadLlama2c(path, options.read_weights);
      if (!model.ok()) return model.status();
      ResolvedModel out;
      out.model = std::move(*model);
      out.family = "llama2c";
      out.quirks.push_back("interleaved rotary pairs, tied embeddings unless a classifier follows");
      out.weights_path = path;
      out.weights_read = options.read_weights;
      return out;
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
  absl::StatusOr<bool> has_config = RegularFileIfPresent(dir + "/config.json", kConfigFile);
  if (!has_config.ok()) return has_config.status();
  if (!*has_config) {
    return absl::NotFoundError(
        absl::StrCat(dir,
                     ": no config.json in this directory (a model directory holds "
                     "config.json and its weights, e.g. model.safetensors)"));
  }
  const std::vector<std::string> entries = ListDir(dir);
  std::vector<std::string> looked_for;
  // Preferred file names of every format first (model.safetensors, model_final.pth), so a
  // folder that also holds other files of a known extension (e.g. expected outputs) loads.
  for (const TensorSourceFormat& f : formats) {
    for (const std::string& name : f.file_names) {
      looked_for.push_back(name);
      absl::StatusOr<bool> found = RegularFileIfPresent(dir + "/" + name, kWeightsFile);
      if (!found.ok()) return found.status();
      if (*found) return LoadWithConfig(dir + "/" + name, f, dir, options);
    }
  }
  for (const TensorSourceFormat& f : formats) {
    if (f.extension.empty()) continue;
    looked_for.push_back("*" + f.extension);
    std::vector<std::string> matches;
    for (const std::string& e : entries) {
      if (!absl::EndsWith(e, f.extension)) continue;
      absl::StatusOr<bool> found = RegularFileIfPresent(dir + "/" + e, kWeightsFile);
      if (!found.ok()) return found.status();
      if (*found) matches.push_back(e);
    }
    if (matches.size() == 1) return LoadWithConfig(dir + "/" + matches[0], f, dir, options);
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

}  // namespace

absl::StatusOr<ResolvedModel> ResolveModel(const std::string& path,
                                           const ResolveOptions& options) {
  absl::StatusOr<ResolvedModel> r = FindWeights(path, options);
  if (!r.ok()) return r.status();
  absl::StatusOr<std::string> tokenizer = FindTokenizerIn(Dirname(r->weights_path));
  if (tokenizer.ok()) {
    r->tokenizer_path = *tokenizer;
  } else if (!absl::IsNotFound(tokenizer.status())) {
    return tokenizer.status();
  }
  return r;
}

}  // namespace memlens

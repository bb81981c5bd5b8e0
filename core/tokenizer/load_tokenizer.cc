#include "core/tokenizer/load_tokenizer.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/io/checked_file.h"
#include "core/io/json.h"
#include "core/tokenizer/gpt2_tokenizer.h"
#include "core/tokenizer/llama2c_tokenizer.h"
#include "core/tokenizer/sentencepiece_bpe.h"

namespace memlens {

namespace {

namespace fs = std::filesystem;

// Whether a tokenizer file is at `p`: anything there counts, so that the reader's checked open
// says what is wrong with a FIFO or a device of that name rather than the search skipping it.
bool IsFile(const fs::path& p) { return PathExists(p.string()); }

bool IsLlama2cName(const std::string& name) {
  return (absl::StartsWith(name, "tok") && absl::EndsWith(name, ".bin"));
}

template <typename T>
absl::StatusOr<std::unique_ptr<Tokenizer>> CheckVocab(absl::StatusOr<std::unique_ptr<T>> tok,
                                                      const LoadTokenizerOptions& options) {
  if (!tok.ok()) return tok.status();
  if (options.model_vocab_size >= 0 && (*tok)->vocab_size() > options.model_vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        (*tok)->name(), ": the tokenizer has ", (*tok)->vocab_size(),
        " tokens but the model's vocabulary has only ", options.model_vocab_size));
  }
  return std::unique_ptr<Tokenizer>(*std::move(tok));
}

// A HuggingFace tokenizer.json: SentencePiece-style BPE (byte_fallback, Metaspace / Prepend)
// or byte-level BPE.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerJson(const std::string& path,
                                                             const LoadTokenizerOptions& options) {
  absl::StatusOr<json::Value> doc = json::ParseFile(path, {}, kTokenizerFile);
  if (!doc.ok()) return doc.status();
  if (IsSentencePieceBpeJson(*doc)) {
    return CheckVocab(SentencePieceBpeTokenizer::FromJson(*doc, path), options);
  }
  return CheckVocab(HfTokenizerFromJson(*doc, path), options);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadLlama2c(const std::string& path,
                                                       const LoadTokenizerOptions& options) {
  auto tok = Llama2cTokenizer::Load(path, options.model_vocab_size >= 0
                                              ? options.model_vocab_size
                                              : Llama2cTokenizer::kInferVocabSize);
  if (!tok.ok()) return tok.status();
  return std::unique_ptr<Tokenizer>(*std::move(tok));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGpt2(const fs::path& dir,
                                                    const LoadTokenizerOptions& options) {
  const fs::path encoder = dir / "encoder.json";
  const fs::path bpe = dir / "vocab.bpe";
  for (const fs::path& p : {encoder, bpe}) {
    if (!IsFile(p)) {
      return absl::NotFoundError(absl::StrCat(
          p.string(), ": not found (a GPT-2 tokenizer needs encoder.json and vocab.bpe side by "
                      "side)"));
    }
  }
  return CheckVocab(LoadGpt2Tokenizer(encoder.string(), bpe.string()), options);
}

// The "bos_token" of tokenizer_config.json: a string or {"content": "..."}.
std::string BosTokenText(const json::Value& tokenizer_config) {
  const json::Value* bos = tokenizer_config.Find("bos_token");
  if (bos == nullptr) return "";
  if (bos->is_string()) return bos->string_value();
  const json::Value* content = bos->Find("content");
  return content != nullptr && content->is_string() ? content->string_value() : "";
}

int AsId(const json::Value* id) {
  if (id == nullptr) return -1;
  absl::StatusOr<int64_t> i = id->AsInt64();
  return i.ok() && *i >= 0 && *i < (int64_t{1} << 31) ? static_cast<int>(*i) : -1;
}

}  // namespace

absl::StatusOr<std::string> FindTokenizerIn(const std::string& dir) {
  const fs::path p(dir);
  if (IsFile(p / "tokenizer.json")) return (p / "tokenizer.json").string();
  if (IsFile(p / "encoder.json") && IsFile(p / "vocab.bpe")) return (p / "encoder.json").string();
  std::error_code ec;
  std::vector<std::string> bins;
  for (const fs::directory_entry& e : fs::directory_iterator(p, ec)) {
    const std::string name = e.path().filename().string();
    if (IsLlama2cName(name)) bins.push_back(name);
  }
  std::sort(bins.begin(), bins.end());
  if (bins.size() == 1) return (p / bins[0]).string();
  if (bins.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": several llama2.c tokenizers (", absl::StrJoin(bins, ", "),
        "); pass the file itself"));
  }
  return absl::NotFoundError(absl::StrCat(
      dir, ": no tokenizer found (looked for tokenizer.json, encoder.json + vocab.bpe, "
           "tok*.bin)"));
}

absl::StatusOr<int> FindTokenizerBosId(const std::string& dir) {
  json::ParseOptions options;
  options.source_name = dir + "/tokenizer_config.json";
  // Absent files mean "no BOS from the tokenizer"; a file that is there but unreadable (a
  // directory, a FIFO, /dev/zero, malformed JSON) is an error, not silently ignored.
  absl::StatusOr<bool> has_config = RegularFileIfPresent(options.source_name, kConfigFile);
  if (!has_config.ok()) return has_config.status();
  if (!*has_config) return -1;
  absl::StatusOr<json::Value> tc = json::ParseFile(options.source_name, options);
  if (!tc.ok()) return tc.status();
  const std::string bos = BosTokenText(*tc);
  if (bos.empty()) return -1;
  options.source_name = dir + "/tokenizer.json";
  absl::StatusOr<bool> has_tokenizer = RegularFileIfPresent(options.source_name, kTokenizerFile);
  if (!has_tokenizer.ok()) return has_tokenizer.status();
  if (!*has_tokenizer) return -1;
  absl::StatusOr<json::Value> tok = json::ParseFile(options.source_name, options, kTokenizerFile);
  if (!tok.ok()) return tok.status();
  if (const json::Value* added = tok->Find("added_tokens"); added != nullptr) {
    for (const json::Value& t : added->array()) {
      const json::Value* content = t.Find("content");
      if (content != nullptr && content->is_string() && content->string_value() == bos) {
        return AsId(t.Find("id"));
      }
    }
  }
  if (const json::Value* model = tok->Find("model"); model != nullptr) {
    if (const json::Value* vocab = model->Find("vocab"); vocab != nullptr) {
      return AsId(vocab->Find(bos));
    }
  }
  return -1;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path,
                                                         const LoadTokenizerOptions& options) {
  const fs::path p(path);
  struct stat st;
  if (absl::Status s = StatPath(path, "tokenizer", &st); !s.ok()) return s;
  if (S_ISDIR(st.st_mode)) {
    absl::StatusOr<std::string> found = FindTokenizerIn(path);
    if (!found.ok()) return found.status();
    return LoadTokenizer(*found, options);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": is ", DescribeFileType(st.st_mode), ", not a tokenizer file or directory"));
  }
  const std::string name = p.filename().string();
  if (name == "encoder.json" || name == "vocab.bpe") return LoadGpt2(p.parent_path(), options);
  if (absl::EndsWith(name, ".json")) {
    return LoadTokenizerJson(path, options);
  }
  if (absl::EndsWith(name, ".bin")) return LoadLlama2c(path, options);
  // Sniff: a JSON object or a llama2.c binary.
  absl::StatusOr<std::string> data = ReadFileChecked(path, kTokenizerFile);
  if (!data.ok()) return data.status();
  const size_t first = data->find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (*data)[first] == '{') {
    return LoadTokenizerJson(path, options);
  }
  auto tok = Llama2cTokenizer::FromBytes(
      *data,
      options.model_vocab_size >= 0 ? options.model_vocab_size
                                    : Llama2cTokenizer::kInferVocabSize,
      path);
  if (!tok.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a recognized tokenizer (not a JSON object; as a llama2.c tokenizer: ",
        tok.status().message(), ")"));
  }
  return std::unique_ptr<Tokenizer>(*std::move(tok));
}

}  // namespace memlens

#include "core/tokenizer/load_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tokenizer/gpt2_tokenizer.h"
#include "core/tokenizer/llama2c_tokenizer.h"

namespace memlens {

namespace {

namespace fs = std::filesystem;

bool IsFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool IsLlama2cName(const std::string& name) {
  return (absl::StartsWith(name, "tok") && absl::EndsWith(name, ".bin"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> CheckVocab(
    absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> tok,
    const LoadTokenizerOptions& options) {
  if (!tok.ok()) return tok.status();
  if (options.model_vocab_size >= 0 && (*tok)->vocab_size() > options.model_vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        (*tok)->name(), ": the tokenizer has ", (*tok)->vocab_size(),
        " tokens but the model's vocabulary has only ", options.model_vocab_size));
  }
  return std::unique_ptr<Tokenizer>(*std::move(tok));
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

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path,
                                                         const LoadTokenizerOptions& options) {
  std::error_code ec;
  const fs::path p(path);
  const fs::file_status status = fs::status(p, ec);
  if (ec || !fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  if (fs::is_directory(status)) {
    if (IsFile(p / "tokenizer.json")) {
      return CheckVocab(LoadHfTokenizerJson((p / "tokenizer.json").string()), options);
    }
    if (IsFile(p / "encoder.json") && IsFile(p / "vocab.bpe")) return LoadGpt2(p, options);
    std::vector<std::string> bins;
    for (const fs::directory_entry& e : fs::directory_iterator(p, ec)) {
      const std::string name = e.path().filename().string();
      if (IsLlama2cName(name) && IsFile(e.path())) bins.push_back(name);
    }
    std::sort(bins.begin(), bins.end());
    if (bins.size() == 1) return LoadLlama2c((p / bins[0]).string(), options);
    if (bins.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": several llama2.c tokenizers (", absl::StrJoin(bins, ", "),
          "); pass the file itself"));
    }
    return absl::NotFoundError(absl::StrCat(
        path, ": no tokenizer found (looked for tokenizer.json, encoder.json + vocab.bpe, "
              "tok*.bin)"));
  }
  const std::string name = p.filename().string();
  if (name == "encoder.json" || name == "vocab.bpe") return LoadGpt2(p.parent_path(), options);
  if (absl::EndsWith(name, ".json")) {
    return CheckVocab(LoadHfTokenizerJson(path), options);
  }
  if (absl::EndsWith(name, ".bin")) return LoadLlama2c(path, options);
  // Sniff: a JSON object or a llama2.c binary.
  absl::StatusOr<std::string> data = ReadFileToString(path);
  if (!data.ok()) return data.status();
  const size_t first = data->find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (*data)[first] == '{') {
    return CheckVocab(LoadHfTokenizerJson(path), options);
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

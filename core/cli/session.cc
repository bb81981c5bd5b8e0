#include "core/cli/session.h"

#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/cli/flags.h"
#include "core/model/load/load_model.h"
#include "core/model/processing.h"
#include "core/tokenizer/load_tokenizer.h"

namespace memlens {
namespace fs = std::filesystem;
namespace {

std::string SelfExe() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "" : exe.string();
}

}  // namespace

std::string DefaultModelPath() {
  std::error_code ec;
  const std::string exe = SelfExe();
  const fs::path prefix = fs::path(exe).parent_path().parent_path();
  for (const std::string& candidate :
       {exe + ".runfiles/memlens/models/default",
        (prefix / "share/memlens/models/default").string(), std::string("models/default")}) {
    if (fs::exists(fs::path(candidate) / "config.json", ec)) return candidate;
  }
  return "";
}

absl::StatusOr<Session> OpenSession(SessionPurpose purpose) {
  Session s;
  s.model_path = absl::GetFlag(FLAGS_model);
  s.model_label = s.model_path;
  if (s.model_path.empty()) {
    s.model_path = DefaultModelPath();
    s.model_label = kDefaultModelLabel;
    if (s.model_path.empty()) {
      return absl::NotFoundError(
          "no --model given and the default model (models/default) was not found next to the "
          "binary or in the current directory");
    }
  }
  const std::string process = absl::GetFlag(FLAGS_process_weights);
  if (process != "auto" && process != "yes" && process != "no") {
    return absl::InvalidArgumentError(
        absl::StrCat("--process_weights must be auto, yes or no, not '", process, "'"));
  }
  const bool processed =
      process == "yes" || (process == "auto" && purpose == SessionPurpose::kAnalysis);
  ResolveOptions resolve;
  resolve.read_weights = purpose != SessionPurpose::kInspect || processed;
  auto resolved = ResolveModel(s.model_path, resolve);
  if (!resolved.ok()) return resolved.status();
  s.model_storage = std::make_unique<Model>(std::move(resolved->model));
  s.family = resolved->family;
  s.quirks = std::move(resolved->quirks);
  s.weights_read = resolved->weights_read;
  if (processed) {
    ProcessingOptions p;
    p.fold_ln = absl::GetFlag(FLAGS_fold_ln);
    p.center_writing_weights = absl::GetFlag(FLAGS_center_writing_weights);
    p.center_unembed = absl::GetFlag(FLAGS_center_unembed);
    p.fold_value_biases = absl::GetFlag(FLAGS_fold_value_biases);
    if (auto st = ProcessWeights(s.model_storage.get(), p); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat(s.model_path, ": weight processing: ", st.message()));
    }
  }

  std::string tok_path = absl::GetFlag(FLAGS_tokenizer);
  if (tok_path.empty()) tok_path = resolved->tokenizer_path;
  if (!tok_path.empty()) {
    LoadTokenizerOptions tok_options;
    tok_options.model_vocab_size = s.model().config.d_vocab;
    auto tok = LoadTokenizer(tok_path, tok_options);
    if (!tok.ok()) return tok.status();
    s.tokenizer = std::move(*tok);
  }
  if (!s.weights_read) return s;
  s.pool = std::make_unique<ThreadPool>(absl::GetFlag(FLAGS_threads));
  s.transformer = std::make_unique<Transformer>(s.model(), *s.pool);
  return s;
}

absl::StatusOr<std::vector<int>> TokenizeText(const Session& s, const std::string& text) {
  const std::string bos_flag = absl::GetFlag(FLAGS_prepend_bos);
  bool bos;
  if (bos_flag == "auto") {
    bos = s.model().config.prepend_bos;
  } else if (bos_flag == "yes" || bos_flag == "true") {
    bos = true;
  } else if (bos_flag == "no" || bos_flag == "false") {
    bos = false;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--prepend_bos must be auto, yes or no, not '", bos_flag, "'"));
  }
  if (s.tokenizer == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no tokenizer for ", s.model_path,
        ": pass --tokenizer=PATH, or give token ids with --tokens instead of --prompt"));
  }
  if (bos && s.tokenizer->bos_id() < 0 && s.model().config.bos_token_id < 0) {
    bos = false;  // nothing to prepend; "auto" on a model without BOS
  }
  auto ids = s.tokenizer->Encode(text, false);
  if (!ids.ok()) return ids.status();
  if (bos) {
    const int bos_id =
        s.model().config.bos_token_id >= 0 ? s.model().config.bos_token_id : s.tokenizer->bos_id();
    ids->insert(ids->begin(), bos_id);
  }
  return ids;
}

absl::StatusOr<std::vector<int>> PromptTokens(const Session& s) {
  const std::string prompt = absl::GetFlag(FLAGS_prompt);
  const std::string tokens = absl::GetFlag(FLAGS_tokens);
  if (!prompt.empty() && !tokens.empty()) {
    return absl::InvalidArgumentError("give either --prompt or --tokens, not both");
  }
  std::vector<int> ids;
  if (!tokens.empty()) {
    for (absl::string_view part : absl::StrSplit(tokens, absl::ByAnyChar(", "), absl::SkipEmpty())) {
      int id;
      if (!absl::SimpleAtoi(part, &id)) {
        return absl::InvalidArgumentError(absl::StrCat("--tokens: '", part, "' is not an integer"));
      }
      if (id < 0 || id >= s.model().config.d_vocab) {
        return absl::InvalidArgumentError(absl::StrCat("--tokens: id ", id,
                                                       " is outside the vocabulary [0, ",
                                                       s.model().config.d_vocab, ")"));
      }
      ids.push_back(id);
    }
  } else if (!prompt.empty()) {
    auto encoded = TokenizeText(s, prompt);
    if (!encoded.ok()) return encoded.status();
    ids = std::move(*encoded);
  } else {
    return absl::InvalidArgumentError("give a --prompt=TEXT or --tokens=IDS");
  }
  if (ids.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  const size_t n_ctx = s.model().config.n_ctx;
  if (ids.size() > n_ctx) {
    if (!absl::GetFlag(FLAGS_truncate)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the prompt has ", ids.size(), " tokens but the model's context is ", n_ctx,
          " (n_ctx); shorten it or pass --truncate to keep the last ", n_ctx, " tokens"));
    }
    std::fprintf(stderr, "memlens: prompt truncated from %zu to its last %zu tokens\n",
                 ids.size(), n_ctx);
    ids.erase(ids.begin(), ids.end() - n_ctx);
  }
  return ids;
}

size_t MaxMemoryBytes() {
  const double mb = absl::GetFlag(FLAGS_max_memory);
  if (mb > 0) return static_cast<size_t>(mb * 1048576.0);
  return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / 2;
}

std::string PieceOf(const Session& s, int id) {
  return s.tokenizer ? s.tokenizer->Piece(id) : absl::StrCat("#", id);
}

}  // namespace memlens

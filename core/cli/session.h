// What every memlens subcommand starts from: the model, its tokenizer, and the prompt's ids,
// resolved from the command-line flags with clear errors.
#ifndef MEMLENS_CORE_CLI_SESSION_H_
#define MEMLENS_CORE_CLI_SESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/forward.h"
#include "core/model/weights.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/thread_pool.h"

namespace memlens {

// Movable: the model lives on the heap so the Transformer's reference to it stays valid.
struct Session {
  std::string model_path;
  // How reports and `info` show the model: the path as given, or "models/default" for the
  // shipped model wherever it was found (Bazel runfiles, an install prefix, the checkout).
  std::string model_label;
  std::unique_ptr<Model> model_storage;
  const Model& model() const { return *model_storage; }
  std::string family;               // the model family that loaded it ("hf-llama", ...)
  std::vector<std::string> quirks;  // its quirks in force (core/model/load/family.h)
  std::unique_ptr<Tokenizer> tokenizer;  // null when none was found (ids only)
  // False for SessionPurpose::kInspect: the model's tensors are empty (names and shapes were
  // checked against the config, no value was read), and there is no pool or transformer.
  bool weights_read = true;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Transformer> transformer;
};

enum class SessionPurpose {
  kRun,       // `run`: weights as stored unless --process_weights=yes
  kAnalysis,  // `report`, `cache`, `merge`: --process_weights=auto processes them, as
              // TransformerLens's from_pretrained does, since their numbers are compared with it
  kInspect,   // `info`, `hooks`: config, shapes and tokenizer only; the weights are read only
              // when --process_weights=yes asks for their processing
};

// Loads --model (default: the model shipped in models/default) and --tokenizer (default: the
// tokenizer ResolveModel finds next to the model, if any), applies --process_weights as
// `purpose` says, and starts --threads workers.
absl::StatusOr<Session> OpenSession(SessionPurpose purpose);

// The model shipped with memlens, found next to the binary (Bazel runfiles, or
// PREFIX/share/memlens/models/default for an installed PREFIX/bin/memlens) or under the
// current directory; "" when it cannot be found.
std::string DefaultModelPath();
// The name reports give the shipped model, whichever copy of it is used.
inline constexpr char kDefaultModelLabel[] = "models/default";

// The ids to run: --tokens (comma/space separated) or --prompt tokenized, with BOS prepended
// as --prepend_bos says (auto: as the model's config says). Prompts longer than the context
// are an error unless --truncate, which keeps the last n_ctx tokens (and says so on stderr).
absl::StatusOr<std::vector<int>> PromptTokens(const Session& session);
// Tokenizes one text the same way (for datasets).
absl::StatusOr<std::vector<int>> TokenizeText(const Session& session, const std::string& text);

// --max_memory in bytes (default: half of this machine's physical memory).
size_t MaxMemoryBytes();

// A display form of a token: the tokenizer's piece, or "#id" without a tokenizer.
std::string PieceOf(const Session& session, int id);

}  // namespace memlens

#endif  // MEMLENS_CORE_CLI_SESSION_H_

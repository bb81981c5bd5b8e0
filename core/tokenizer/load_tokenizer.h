// Loads any supported tokenizer from a file or a directory, picking the format by file name
// and contents.
#ifndef MEMLENS_CORE_TOKENIZER_LOAD_TOKENIZER_H_
#define MEMLENS_CORE_TOKENIZER_LOAD_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace memlens {

struct LoadTokenizerOptions {
  // The model's vocabulary size, or -1 when unknown. A llama2.c tokenizer must have exactly
  // this many tokens (it does not record its size: -1 reads every record); for the other
  // formats the tokenizer's ids must fit: vocab_size() <= model_vocab_size (models often pad
  // their embedding beyond the tokenizer's vocabulary).
  int model_vocab_size = -1;
};

// `path` may be:
//   - a directory holding tokenizer.json (HuggingFace: byte-level BPE, or SentencePiece-style
//     BPE with byte fallback, see sentencepiece_bpe.h), or encoder.json + vocab.bpe (GPT-2),
//     or exactly one tok*.bin / tokenizer.bin (llama2.c), tried in that order;
//   - a file: encoder.json or vocab.bpe (the other must be beside it), *.json (HuggingFace
//     tokenizer.json), *.bin (llama2.c); any other name is sniffed: a JSON object is read as
//     tokenizer.json, anything else as a llama2.c file.
// Errors name the path and what was looked for.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(
    const std::string& path, const LoadTokenizerOptions& options = {});

// The one search for tokenizer files in a model's directory, in the order LoadTokenizer tries
// them: tokenizer.json, encoder.json (+ vocab.bpe: the directory is returned), a single
// tok*.bin. NotFoundError when there is none; InvalidArgumentError naming them when several
// tok*.bin make the choice ambiguous.
absl::StatusOr<std::string> FindTokenizerIn(const std::string& dir);

// The BOS token id that tokenizer files in `dir` declare (tokenizer_config.json "bos_token"
// resolved through tokenizer.json's added tokens or vocabulary), or -1 when they are absent or
// declare none. A file that is there but is not a readable regular file of valid JSON is an
// error naming it.
absl::StatusOr<int> FindTokenizerBosId(const std::string& dir);

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_LOAD_TOKENIZER_H_

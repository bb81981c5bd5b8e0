// Hand-written pre-tokenizers (no regex library): the split patterns byte-level BPE
// tokenizers use, HuggingFace's split behaviors, Digits, and the pipeline that chains them.
#ifndef MEMLENS_CORE_TOKENIZER_PRETOKENIZER_H_
#define MEMLENS_CORE_TOKENIZER_PRETOKENIZER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memlens {

// A byte range [begin, end) of a string.
struct ByteSpan {
  size_t begin;
  size_t end;
};

// The split regexes we implement by hand. Matching follows the regex semantics (leftmost
// alternative first, greedy, the (?!\S) lookahead) exactly; invalid UTF-8 bytes count as
// one character each that is neither a letter, a number nor whitespace.
enum class SplitPattern {
  // GPT-2, GPT-NeoX, Pythia, gelu-*l (HF ByteLevel use_regex):
  //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // Llama 3 / tiktoken cl100k-style (numbers in groups of at most 3):
  //   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Qwen2: as kLlama3 but single digits (\p{N} instead of \p{N}{1,3}).
  kQwen2,
};

// The regex source of a pattern (as it appears in tokenizer.json).
const char* SplitPatternRegex(SplitPattern pattern);

// Recognizes a regex from a tokenizer.json Split pre-tokenizer. An error listing the
// supported patterns when it is not one of them.
absl::StatusOr<SplitPattern> RecognizeSplitPattern(absl::string_view regex);

// The non-overlapping matches of `pattern` in `text`, left to right (like re.findall).
void FindPatternMatches(SplitPattern pattern, absl::string_view text,
                        std::vector<ByteSpan>* matches);

// HuggingFace SplitDelimiterBehavior.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name);

// Splits `text` given the matches (sorted, non-overlapping) as HuggingFace's
// NormalizedString::split does; with `invert` the matches and the gaps swap roles. Empty
// pieces are dropped. Appends to *out.
void SplitByMatches(absl::string_view text, const std::vector<ByteSpan>& matches,
                    SplitBehavior behavior, bool invert, std::vector<std::string>* out);

// One pre-tokenization step, applied to every piece produced by the previous step.
struct PreTokenizerStep {
  enum class Kind {
    kByteLevel,     // optional prefix space, then (use_regex) the GPT-2 split, Isolated
    kSplitPattern,  // Split with a recognized regex
    kSplitString,   // Split with a literal string
    kDigits,        // Digits: each \p{N} char Isolated, or runs of them (Contiguous)
  };
  Kind kind = Kind::kByteLevel;
  bool add_prefix_space = false;  // kByteLevel
  bool use_regex = true;          // kByteLevel
  SplitPattern pattern = SplitPattern::kGpt2;  // kSplitPattern
  std::string literal;                         // kSplitString
  SplitBehavior behavior = SplitBehavior::kIsolated;  // kSplit*
  bool invert = false;                                // kSplit*
  bool individual_digits = false;                     // kDigits
};

// Runs the steps over `text` (one piece when there are no steps) and appends the pieces.
void PreTokenize(const std::vector<PreTokenizerStep>& steps, absl::string_view text,
                 std::vector<std::string>* pieces);

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_PRETOKENIZER_H_

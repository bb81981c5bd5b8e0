// The tokenizer interface shared by every format (llama2.c tok*.bin, GPT-2 encoder.json +
// vocab.bpe, HuggingFace tokenizer.json). Load one with LoadTokenizer() (load_tokenizer.h).
#ifndef MEMLENS_CORE_TOKENIZER_TOKENIZER_H_
#define MEMLENS_CORE_TOKENIZER_TOKENIZER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace memlens {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids for `text` (arbitrary bytes; need not be valid UTF-8). With add_bos, the
  // sequence starts with bos_id(); an error when the tokenizer has no BOS token.
  virtual absl::StatusOr<std::vector<int>> Encode(absl::string_view text,
                                                  bool add_bos) const = 0;

  // The exact bytes the ids stand for (they need not be valid UTF-8: a byte-level token may
  // hold half of a character). Ids outside [0, vocab_size()) are an error naming the id and
  // its position. Decode(Encode(text, false)) == text for every text the format's encoding
  // tells apart (a SentencePiece Metaspace tokenizer.json encodes " x" as "x": see
  // sentencepiece_bpe.h).
  // Special tokens: llama2.c's BOS/EOS decode to nothing (and the dummy-prefix space after
  // BOS is dropped, so Decode(Encode(text, true)) == text too); byte-level BPE special
  // tokens and SentencePiece-BPE added tokens decode to their text (e.g. "<|endoftext|>",
  // "<s>"), as HuggingFace's decode with skip_special_tokens=False; filter with IsSpecial()
  // to drop them.
  virtual absl::StatusOr<std::string> Decode(absl::Span<const int> ids) const = 0;

  // A human-readable form of one token for display: its text when it is valid UTF-8, with
  // each byte that is not part of valid UTF-8 shown as <0xNN>; special tokens show their
  // name (e.g. "<s>", "<|endoftext|>"). "<invalid id N>" for ids out of range.
  virtual std::string Piece(int id) const = 0;

  // True for control/special tokens (BOS, EOS, <unk>, added special tokens).
  virtual bool IsSpecial(int id) const { return false; }

  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 when there is none
  virtual int eos_id() const { return -1; }  // -1 when there is none

  // A short description of the format and source, e.g. "llama2.c tokenizer /path/tok512.bin".
  virtual std::string name() const = 0;
};

// Shows `bytes` for display: valid UTF-8 unchanged, every other byte as <0xNN>.
std::string DisplayBytes(absl::string_view bytes);

// An error for an id outside [0, vocab_size) at position `index` of a Decode() input.
absl::Status InvalidTokenIdError(absl::string_view tokenizer_name, int id, size_t index,
                                 int vocab_size);

// Length of the valid UTF-8 sequence at the start of `s` (1-4), or 0 when the first bytes are
// not valid UTF-8 (overlong, surrogate, above U+10FFFF, truncated, bad continuation) or s is
// empty.
int Utf8SequenceLength(absl::string_view s);

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_TOKENIZER_H_

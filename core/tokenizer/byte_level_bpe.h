// Byte-level BPE (GPT-2 style), the one engine behind the GPT-2 (encoder.json + vocab.bpe)
// and HuggingFace tokenizer.json loaders.
//
// Tokens are strings over GPT-2's 256-character "bytes_to_unicode" alphabet; internally each
// token is the raw bytes it stands for. Encoding: added/special tokens are matched first
// (leftmost, then longest); each remaining segment is (optionally) NFC-normalized,
// pre-tokenized, and each piece is BPE-merged by lowest merge rank (leftmost on ties), with a
// cache of recent pieces. Decoding concatenates the tokens' raw bytes, so ids whose bytes are
// not valid UTF-8 decode to exactly those bytes.
#ifndef MEMLENS_CORE_TOKENIZER_BYTE_LEVEL_BPE_H_
#define MEMLENS_CORE_TOKENIZER_BYTE_LEVEL_BPE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/tokenizer.h"

namespace memlens {

// GPT-2's bytes_to_unicode(): byte b -> the UTF-8 of the character that stands for it.
const std::string& ByteToUnicode(uint8_t b);
// The inverse over a whole token string: its raw bytes, or nullopt when a character is
// outside the 256-character alphabet.
absl::optional<std::string> UnicodeToBytes(absl::string_view token);

// A token matched in the raw text before pre-tokenization (HuggingFace added_tokens).
struct AddedToken {
  std::string content;
  int id = -1;
  bool special = true;
  bool single_word = false;  // only when not inside a word (letters, numbers, '_')
  bool lstrip = false;       // also swallow whitespace on the left
  bool rstrip = false;       // also swallow whitespace on the right
};

enum class Normalizer {
  kNone,
  // Unicode NFC (unicode::ToNfc) of each segment between added tokens. Text that changes
  // under NFC (e.g. "e" + U+0301) does not round-trip through Decode, as in HuggingFace.
  kNfc,
};

// Everything a loader extracts from its files.
struct ByteLevelBpeSpec {
  std::string source;  // the file(s), for messages
  std::string format;  // e.g. "GPT-2 encoder.json + vocab.bpe"
  // Token string (byte-level alphabet) -> id. Must not repeat an id.
  std::vector<std::pair<std::string, int64_t>> vocab;
  // Merge pairs in rank order (rank = index); a repeated pair keeps its last rank (as GPT-2's
  // encoder.py and HuggingFace do).
  std::vector<std::pair<std::string, std::string>> merges;
  // Where merge i is, for messages (e.g. "line 12" or "model.merges[10]").
  std::function<std::string(size_t)> merge_location;
  std::vector<AddedToken> added_tokens;
  std::vector<PreTokenizerStep> pre_tokenizer;
  Normalizer normalizer = Normalizer::kNone;
  bool ignore_merges = false;  // a piece that is itself a token is not merged (Llama 3)
  int bos_id = -1;
  int eos_id = -1;
};

class ByteLevelBpeTokenizer : public Tokenizer {
 public:
  // Validates the spec: ids unique, in range and contiguous from 0 over vocab and added
  // tokens together; an added token whose id is in the vocab must have the same content;
  // all 256 single-byte tokens present; every merge's sides and result in the vocab.
  // Errors name spec.source.
  static absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> Create(ByteLevelBpeSpec spec);

  absl::StatusOr<std::vector<int>> Encode(absl::string_view text, bool add_bos) const override;
  // Every token decodes to its bytes, special tokens to their text (as HuggingFace's decode
  // with skip_special_tokens=False), so Decode(Encode(text, false)) == text.
  absl::StatusOr<std::string> Decode(absl::Span<const int> ids) const override;
  std::string Piece(int id) const override;
  int vocab_size() const override { return static_cast<int>(token_bytes_.size()); }
  int bos_id() const override { return bos_id_; }
  int eos_id() const override { return eos_id_; }
  std::string name() const override { return format_ + " " + source_; }

  bool IsSpecial(int id) const override;
  // The token string in the byte-level alphabet (e.g. "\xC4\xA0world" for " world").
  std::string TokenString(int id) const;
  // Id of a token string (byte-level alphabet) or added token content; -1 when absent.
  int TokenToId(absl::string_view token) const;
  const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }

 private:
  ByteLevelBpeTokenizer() = default;
  void EncodeSegment(absl::string_view text, std::vector<int>* out) const;
  void EncodePiece(absl::string_view piece, std::vector<int>* out) const;
  void MergePiece(absl::string_view piece, std::vector<int>* out) const;
  // Finds the next added token at or after `from`: sets the match (including stripped
  // whitespace) and the token index; false when none.
  bool FindAddedToken(absl::string_view text, size_t from, size_t* begin, size_t* end,
                      int* token) const;

  std::string source_;
  std::string format_;
  std::vector<std::string> token_bytes_;  // id -> raw bytes (special: content)
  std::vector<bool> is_special_;
  std::vector<bool> in_alphabet_;          // token string was in the byte-level alphabet
  absl::flat_hash_map<std::string, int> bytes_to_id_;  // raw bytes -> id (BPE tokens)
  absl::flat_hash_map<std::string, int> token_to_id_;  // as written in the file
  int byte_id_[256] = {};
  struct Merge {
    int rank;
    int merged;
  };
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::vector<AddedToken> added_tokens_;
  std::vector<std::vector<int>> added_by_first_byte_;  // byte -> added token indices
  std::vector<PreTokenizerStep> pre_tokenizer_;
  Normalizer normalizer_ = Normalizer::kNone;
  bool ignore_merges_ = false;
  int bos_id_ = -1;
  int eos_id_ = -1;

  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int>> cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_BYTE_LEVEL_BPE_H_

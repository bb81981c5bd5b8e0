// SentencePiece-style BPE from a HuggingFace tokenizer.json (Llama 2, TinyLlama, Mistral):
// words marked by "▁" (U+2581) instead of GPT-2's byte alphabet, characters outside the
// vocabulary spelled as byte tokens "<0xNN>" (byte_fallback).
//
// Supported tokenizer.json: model BPE with byte_fallback (or unk_token), fuse_unk, merges as
// "a b" strings or pairs; either the normalizer Sequence [Prepend "▁", Replace " " -> "▁"] with
// no pre-tokenizer, or the Metaspace pre-tokenizer (replacement "▁", prepend_scheme always /
// first / never or legacy add_prefix_space, split); decoder Sequence [Replace "▁" -> " ",
// ByteFallback, Fuse, Strip " " 1 0] or Metaspace; added tokens matched exactly before
// normalization (as HuggingFace does: each segment between them is normalized on its own).
// Anything else is an error naming the file and the JSON path.
//
// Encoding: split on added tokens; normalize each segment; (Metaspace split: cut before each
// "▁"); each word starts as its characters, a character outside the vocabulary becoming the
// byte tokens of its UTF-8 bytes (or <unk>); adjacent symbols merge by lowest merge rank,
// leftmost first. Decoding: added tokens become their content, and each segment between them
// its bytes ("▁" a space) without the space its normalization prepended, so
// Decode(Encode(text)) == text for any text without U+2581, except where the encoding itself
// forgets: Metaspace (always, or first at the start) encodes " x" as it encodes "x" (decoded
// "x"). This inverts HuggingFace's encoding, which HuggingFace's own decode does not (it strips
// one space at the very start only, and Metaspace's decoder drops every "▁" of the first token).
#ifndef MEMLENS_CORE_TOKENIZER_SENTENCEPIECE_BPE_H_
#define MEMLENS_CORE_TOKENIZER_SENTENCEPIECE_BPE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/io/json.h"
#include "core/tokenizer/tokenizer.h"

namespace memlens {

// True when a parsed tokenizer.json is of this kind (model.byte_fallback, a Metaspace
// pre-tokenizer or a Prepend normalizer).
bool IsSentencePieceBpeJson(const json::Value& doc);

class SentencePieceBpeTokenizer : public Tokenizer {
 public:
  // `source` names the file in errors.
  static absl::StatusOr<std::unique_ptr<SentencePieceBpeTokenizer>> FromJson(
      const json::Value& doc, const std::string& source);

  absl::StatusOr<std::vector<int>> Encode(absl::string_view text, bool add_bos) const override;
  absl::StatusOr<std::string> Decode(absl::Span<const int> ids) const override;
  std::string Piece(int id) const override;
  bool IsSpecial(int id) const override;
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  int bos_id() const override { return bos_id_; }
  int eos_id() const override { return eos_id_; }
  std::string name() const override { return "SentencePiece-BPE tokenizer.json " + source_; }

 private:
  SentencePieceBpeTokenizer() = default;
  class Reader;
  absl::Status EncodeWord(absl::string_view word, std::vector<int>* out) const;
  std::string Normalize(absl::string_view segment, bool first) const;
  // Whether Normalize prepended the leading space of a decoded segment (`first`: at the start
  // of the text).
  bool Prepended(absl::string_view segment, bool first) const;

  std::string source_;
  std::vector<std::string> tokens_;  // id -> token string ("▁the", "<0x41>", "<s>")
  std::vector<int> byte_value_;      // id -> the byte a <0xNN> token stands for, or -1
  std::vector<bool> special_;
  absl::flat_hash_map<std::string, int> ids_;
  absl::flat_hash_map<uint64_t, std::pair<int, int>> merges_;  // (left, right) -> rank, merged
  int byte_ids_[256];
  struct Added {
    std::string content;
    int id;
  };
  std::vector<Added> added_;
  std::vector<bool> added_id_;  // id -> one of added_
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool prepend_always_ = true;  // Prepend normalizer / Metaspace "always"
  bool prepend_first_ = false;  // Metaspace "first": only at the start of the text
  bool metaspace_ = false;      // the Metaspace pre-tokenizer (else the Prepend normalizer)
  bool split_words_ = false;    // Metaspace split: each "▁" starts a new word
  int unk_id_ = -1;
  int bos_id_ = -1;
  int eos_id_ = -1;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_SENTENCEPIECE_BPE_H_

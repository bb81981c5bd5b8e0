// The llama2.c tokenizer (tok*.bin): a SentencePiece-style BPE with scores.
//
// File format: int32 max_token_length, then vocab_size records of {float32 score,
// int32 length, length bytes}. The vocabulary size is not in the file: it must match the
// model's, given by the caller. Ids 0, 1, 2 are <unk>, BOS, EOS; ids 3..258 are the byte
// tokens <0x00>..<0xFF>.
//
// Encoding (as the reference llama2.c run.c): BOS when asked; a " " (dummy prefix) piece when
// the text is non-empty; one piece per UTF-8 character (a lead byte plus up to 3 continuation
// bytes), or its bytes as byte tokens (byte + 3) when the character is not in the vocabulary;
// then repeatedly merge the adjacent pair whose concatenation is a piece with the highest
// score (the leftmost pair on ties). O(n log n) with a heap.
//
// Decoding: byte tokens give their raw byte; BOS/EOS give nothing; the leading space of the
// piece at the start of the sequence or right after BOS is dropped (the dummy prefix), so
// Decode(Encode(text, b)) == text.
#ifndef MEMLENS_CORE_TOKENIZER_LLAMA2C_TOKENIZER_H_
#define MEMLENS_CORE_TOKENIZER_LLAMA2C_TOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/tokenizer/tokenizer.h"

namespace memlens {

class Llama2cTokenizer : public Tokenizer {
 public:
  static constexpr int kUnkId = 0;
  static constexpr int kBosId = 1;
  static constexpr int kEosId = 2;
  static constexpr int kByteOffset = 3;  // byte b is token b + 3
  static constexpr int kInferVocabSize = -1;

  // Loads `path`; `vocab_size` is the model's (from its header). Errors name the file and,
  // for a bad record, the token index and byte offset. kInferVocabSize reads every record
  // in the file instead (when no model is at hand).
  static absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Load(const std::string& path,
                                                                 int vocab_size);
  // Parses the bytes of a tok*.bin file; `source_name` is used in error messages.
  static absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> FromBytes(
      absl::string_view data, int vocab_size, const std::string& source_name);

  absl::StatusOr<std::vector<int>> Encode(absl::string_view text, bool add_bos) const override;
  absl::StatusOr<std::string> Decode(absl::Span<const int> ids) const override;
  std::string Piece(int id) const override;
  bool IsSpecial(int id) const override { return id == kUnkId || id == kBosId || id == kEosId; }
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return kBosId; }
  int eos_id() const override { return kEosId; }
  std::string name() const override { return "llama2.c tokenizer " + source_; }

  // The stored piece and score of a token (no bounds check beyond returning ""/0).
  const std::string& raw_piece(int id) const;
  float score(int id) const;
  int max_token_length() const { return max_token_length_; }

 private:
  Llama2cTokenizer() = default;
  int Lookup(absl::string_view piece) const;  // -1 when absent
  // The bytes of token `id` as decoded text (byte tokens -> 1 raw byte).
  absl::string_view TokenBytes(int id) const;

  std::string source_;
  int max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<std::string> decoded_;  // raw bytes each token stands for
  absl::flat_hash_map<std::string, int> ids_;  // piece -> lowest id
};

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_LLAMA2C_TOKENIZER_H_

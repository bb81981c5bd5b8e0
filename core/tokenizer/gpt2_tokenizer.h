// Loaders for byte-level BPE tokenizers: GPT-2's encoder.json + vocab.bpe, and HuggingFace
// tokenizer.json (model BPE with ByteLevel pre-tokenization).
#ifndef MEMLENS_CORE_TOKENIZER_GPT2_TOKENIZER_H_
#define MEMLENS_CORE_TOKENIZER_GPT2_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/io/json.h"
#include "core/tokenizer/byte_level_bpe.h"

namespace memlens {

// GPT-2: encoder.json (token -> id) and vocab.bpe (a "#version" line, then one merge
// "left right" per line, in rank order). Pre-tokenizer: the GPT-2 split pattern.
// With match_special_tokens, "<|endoftext|>" in the text encodes to its id (as
// HuggingFace's GPT2Tokenizer does); otherwise it is ordinary text. BOS = EOS =
// "<|endoftext|>" (as TransformerLens prepends it).
absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> LoadGpt2Tokenizer(
    const std::string& encoder_json_path, const std::string& vocab_bpe_path,
    bool match_special_tokens = true);

// HuggingFace tokenizer.json. Supported: model BPE (vocab, merges as "a b" strings or
// [a, b] pairs, ignore_merges; no dropout, no subword prefix/suffix); normalizer null, NFC
// or a Sequence of those; pre_tokenizer ByteLevel (add_prefix_space, use_regex), Split (the
// GPT-2, Llama 3 or Qwen2 regex, or a literal String; any behavior; invert), Digits
// (individual_digits), and Sequence of these; decoder ByteLevel (or null); added_tokens
// (matched before BPE; single_word, lstrip, rstrip). BOS/EOS come from a TemplateProcessing
// post-processor when there is one, otherwise from well-known added tokens
// (<|begin_of_text|>, <s>, <bos>, <|endoftext|> / <|end_of_text|>, </s>, <eos>,
// <|endoftext|>). Anything else is a clear error naming the file and the JSON path.
absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> LoadHfTokenizerJson(
    const std::string& path);
// The same from an already-parsed document; `source` names it in messages.
absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> HfTokenizerFromJson(
    const json::Value& doc, const std::string& source);

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_GPT2_TOKENIZER_H_

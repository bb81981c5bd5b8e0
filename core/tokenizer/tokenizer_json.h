// What both readers of a HuggingFace tokenizer.json (gpt2_tokenizer.cc for byte-level BPE,
// sentencepiece_bpe.cc for SentencePiece-style BPE) read the same way.
#ifndef MEMLENS_CORE_TOKENIZER_TOKENIZER_JSON_H_
#define MEMLENS_CORE_TOKENIZER_TOKENIZER_JSON_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "core/io/json.h"

namespace memlens {

// The BOS of a TemplateProcessing post-processor: the special token before $A in "single"
// (what HuggingFace prepends). Sets *bos_id to id_of(its name) and leaves it alone when there
// is no such post-processor or token; an error naming `source` and post_processor.single[0]
// when id_of gives -1 (no token of that name).
absl::Status ReadTemplateBos(const json::Value& doc, const std::string& source,
                             const std::function<int(const std::string&)>& id_of, int* bos_id);

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_TOKENIZER_JSON_H_

// SentencePiece-style BPE tokenizer.json (Llama 2 / TinyLlama / Mistral layout): the encodings
// of tools/make_hf_fixtures.py's own re-implementation of tokenizers' rules (Prepend + Replace
// normalizer, or Metaspace prepend_scheme "first"; byte_fallback <0xNN>; merges by rank) on
// texts with characters outside the vocabulary and bytes that are not UTF-8, exact round trips,
// and the errors for what is not supported.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "core/io/json.h"
#include "core/tokenizer/load_tokenizer.h"
#include "core/tokenizer/sentencepiece_bpe.h"
#include "gtest/gtest.h"
#include "tests/io/io_test_util.h"

namespace memlens {
namespace {

struct Case {
  std::string text;
  std::vector<int> ids;
};

std::vector<Case> Expected(const std::string& dir) {
  std::vector<Case> cases;
  const std::string all = testing_io::ReadAll(dir + "/expected.jsonl");
  size_t pos = 0;
  while (pos < all.size()) {
    const size_t end = all.find('\n', pos);
    auto line = json::Parse(all.substr(pos, end - pos));
    pos = end + 1;
    EXPECT_TRUE(line.ok()) << line.status();
    if (!line.ok()) continue;
    Case c;
    c.text = absl::HexStringToBytes(line->Find("text_hex")->string_value());
    for (const json::Value& id : line->Find("ids")->array()) c.ids.push_back(*id.AsInt64());
    cases.push_back(std::move(c));
  }
  return cases;
}

void CheckFolder(const std::string& folder, bool metaspace) {
  SCOPED_TRACE(folder);
  const std::string dir = "tests/fixtures/hf/" + folder;
  auto tok = LoadTokenizer(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_NE((*tok)->name().find("SentencePiece-BPE"), std::string::npos);
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  EXPECT_TRUE((*tok)->IsSpecial(1));
  EXPECT_FALSE((*tok)->IsSpecial(300));
  const std::vector<Case> cases = Expected(dir);
  ASSERT_EQ(cases.size(), 13u);
  int byte_tokens = 0, round_trips = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::CEscape(c.text));
    auto ids = (*tok)->Encode(c.text, false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c.ids);
    for (int id : *ids) byte_tokens += id >= 3 && id < 259;
    // Every text comes back exactly, also those with added tokens (each segment between them
    // was normalized on its own, a "▁" prepended to each in the Prepend layout) and those
    // starting with spaces (Metaspace "first" prepends nothing to them).
    auto text = (*tok)->Decode(*ids);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, c.text);
    ++round_trips;
    // With BOS: the BOS token's text, then the text.
    auto with_bos = (*tok)->Encode(c.text, true);
    ASSERT_TRUE(with_bos.ok()) << with_bos.status();
    EXPECT_EQ((*with_bos)[0], 1);
    auto bos_text = (*tok)->Decode(*with_bos);
    ASSERT_TRUE(bos_text.ok()) << bos_text.status();
    EXPECT_EQ(*bos_text, "<s>" + c.text);
  }
  EXPECT_GT(byte_tokens, 20);  // byte fallback was exercised (é, 日本語, 🙂, invalid bytes)
  EXPECT_EQ(round_trips, 13);
  // What the encoding itself forgets (HuggingFace's too): with Metaspace, a text starting
  // with one space encodes as the text without it, which is what decodes; the Prepend layout
  // keeps the difference.
  auto spaced = (*tok)->Encode(" the cat", false), plain = (*tok)->Encode("the cat", false);
  ASSERT_TRUE(spaced.ok() && plain.ok());
  EXPECT_EQ(*spaced == *plain, metaspace);
  EXPECT_EQ(*(*tok)->Decode(*spaced), metaspace ? "the cat" : " the cat");
  EXPECT_EQ((*tok)->Piece(3 + 0xE6), "<0xE6>");
}

TEST(SentencePieceBpe, PrependReplaceNormalizerLayout) { CheckFolder("tokenizer_sp", false); }

TEST(SentencePieceBpe, MetaspacePreTokenizerLayout) {
  CheckFolder("tokenizer_sp_metaspace", true);
}

TEST(SentencePieceBpe, ModelVocabularyMustHoldTheTokenizer) {
  LoadTokenizerOptions options;
  options.model_vocab_size = 100;
  auto tok = LoadTokenizer("tests/fixtures/hf/tokenizer_sp/tokenizer.json", options);
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("model's vocabulary has only 100"), std::string::npos)
      << tok.status();
}

// A minimal document with one part replaced.
std::string Doc(const std::string& normalizer, const std::string& decoder,
                const std::string& vocab, const std::string& merges) {
  return R"({"added_tokens": [], "normalizer": )" + normalizer +
         R"(, "pre_tokenizer": null, "decoder": )" + decoder +
         R"(, "model": {"type": "BPE", "byte_fallback": true, "vocab": )" + vocab +
         R"(, "merges": )" + merges + "}}";
}

TEST(SentencePieceBpe, UnsupportedPartsAreNamed) {
  const std::string norm =
      R"({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},)"
      R"( {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})";
  const std::string dec = R"({"type": "Sequence", "decoders": [{"type": "ByteFallback"}]})";
  const std::string vocab = R"({"▁": 0, "a": 1, "▁a": 2})";
  struct Bad {
    std::string doc, error;
  } cases[] = {
      {Doc(R"({"type": "NFKC"})", dec, vocab, "[]"), "normalizer.normalizers[0]"},
      {Doc(norm, R"({"type": "WordPiece"})", vocab, "[]"), "decoder"},
      {Doc(norm, dec, R"({"▁": 0, "a": 2})", "[]"), "no token has id 1"},
      {Doc(norm, dec, vocab, R"(["a b"])"), "model.merges[0]"},
  };
  for (const Bad& c : cases) {
    auto doc = json::Parse(c.doc);
    ASSERT_TRUE(doc.ok()) << doc.status();
    ASSERT_TRUE(IsSentencePieceBpeJson(*doc));
    auto tok = SentencePieceBpeTokenizer::FromJson(*doc, "t.json");
    ASSERT_FALSE(tok.ok()) << c.error;
    EXPECT_NE(tok.status().message().find(c.error), std::string::npos) << tok.status();
  }
  auto ok = json::Parse(Doc(norm, dec, vocab, R"(["▁ a"])"));
  auto tok = SentencePieceBpeTokenizer::FromJson(*ok, "t.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  // No byte tokens and no unk_token: a character outside the vocabulary is an error.
  auto ids = (*tok)->Encode("a b", false);
  EXPECT_FALSE(ids.ok());
  auto a = (*tok)->Encode("a a", false);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, (std::vector<int>{2, 2}));

  // Merges apply by rank, not left to right: "a b" (rank 0) beats "▁ a" (rank 1) in "▁ab".
  auto ranked = json::Parse(
      Doc(norm, dec, R"({"▁": 0, "a": 1, "b": 2, "▁a": 3, "ab": 4})", R"(["a b", "▁ a"])"));
  auto rt = SentencePieceBpeTokenizer::FromJson(*ranked, "t.json");
  ASSERT_TRUE(rt.ok()) << rt.status();
  auto ab = (*rt)->Encode("ab", false);
  ASSERT_TRUE(ab.ok()) << ab.status();
  EXPECT_EQ(*ab, (std::vector<int>{0, 4}));

  // A pair at several places merges leftmost first (HuggingFace's BPE: rank, then position):
  // "▁aaa" -> ▁ aa a, not ▁ a aa; and "▁aaaaa" -> ▁ aa aa a.
  auto tie = json::Parse(Doc(norm, dec, R"({"▁": 0, "a": 1, "aa": 2})", R"(["a a"])"));
  auto tt = SentencePieceBpeTokenizer::FromJson(*tie, "t.json");
  ASSERT_TRUE(tt.ok()) << tt.status();
  EXPECT_EQ(*(*tt)->Encode("aaa", false), (std::vector<int>{0, 2, 1}));
  EXPECT_EQ(*(*tt)->Encode("aaaaa", false), (std::vector<int>{0, 2, 2, 1}));
}

TEST(SentencePieceBpe, TemplateProcessingNamesTheBos) {
  const std::string norm =
      R"({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},)"
      R"( {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})";
  const std::string dec = R"({"type": "Metaspace"})";
  const std::string vocab = R"({"▁": 0, "a": 1, "b": 2})";
  auto with_template = [&](const std::string& name) {
    return R"({"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": )"
           R"({"id": ")" + name +
           R"(", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}, )" +
           Doc(norm, dec, vocab, "[]").substr(1);
  };
  auto plain = json::Parse(Doc(norm, dec, vocab, "[]"));
  auto no_template = SentencePieceBpeTokenizer::FromJson(*plain, "t.json");
  ASSERT_TRUE(no_template.ok()) << no_template.status();
  EXPECT_EQ((*no_template)->bos_id(), -1);  // no "<s>"
  auto named = json::Parse(with_template("b"));
  ASSERT_TRUE(named.ok()) << named.status();
  auto tok = SentencePieceBpeTokenizer::FromJson(*named, "t.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->bos_id(), 2);
  EXPECT_EQ(*(*tok)->Encode("a", true), (std::vector<int>{2, 0, 1}));
  auto unknown = json::Parse(with_template("<s>"));
  auto bad = SentencePieceBpeTokenizer::FromJson(*unknown, "t.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(
                "t.json: post_processor.single[0]: special token \"<s>\" is not a token"),
            std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace memlens

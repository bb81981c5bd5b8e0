// GPT-2 encoder.json + vocab.bpe and HuggingFace tokenizer.json loaders.
#include "core/tokenizer/gpt2_tokenizer.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/io/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/shared_data.h"

namespace memlens {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

std::string WriteTmp(const std::string& name, const std::string& content) {
  const std::string path = TmpDir() + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out << content;
  return path;
}

// ---- A tiny synthetic byte-level vocabulary: the 256 byte tokens (ids 0..255 in byte
// order), then merged tokens.
std::string ByteTok(int b) { return ByteToUnicode(static_cast<uint8_t>(b)); }

struct TinyFiles {
  std::string encoder_json;
  std::string vocab_bpe;
};

// Extra tokens (in the byte-level alphabet) get ids 256, 257, ...
TinyFiles Tiny(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
               bool with_eot = true) {
  json::JsonWriter w;
  w.BeginObject();
  int id = 0;
  for (int b = 0; b < 256; ++b) w.Key(ByteTok(b)).Int(id++);
  for (const std::string& t : extra) w.Key(t).Int(id++);
  if (with_eot) w.Key("<|endoftext|>").Int(id++);
  w.EndObject();
  std::string bpe = "#version: 0.2\n";
  for (const std::string& m : merges) bpe += m + "\n";
  return {w.str(), bpe};
}

const char kG[] = "\xC4\xA0";  // "Ġ", the byte-level form of ' '

absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> LoadTiny(const TinyFiles& f,
                                                                const std::string& tag) {
  return LoadGpt2Tokenizer(WriteTmp(tag + "_encoder.json", f.encoder_json),
                           WriteTmp(tag + "_vocab.bpe", f.vocab_bpe));
}

std::string TinyError(const TinyFiles& f, const std::string& tag) {
  auto tok = LoadTiny(f, tag);
  EXPECT_FALSE(tok.ok());
  return tok.ok() ? "" : std::string(tok.status().message());
}

TEST(ByteLevel, ByteToUnicodeMatchesGpt2) {
  EXPECT_EQ(ByteToUnicode('A'), "A");
  EXPECT_EQ(ByteToUnicode(' '), "\xC4\xA0");     // U+0120
  EXPECT_EQ(ByteToUnicode('\n'), "\xC4\x8A");    // U+010A
  EXPECT_EQ(ByteToUnicode(0), "\xC4\x80");       // U+0100
  EXPECT_EQ(ByteToUnicode(0xAD), "\xC5\x83");    // U+0143 (soft hyphen is remapped)
  EXPECT_EQ(ByteToUnicode(0xE9), "\xC3\xA9");    // printable Latin-1 maps to itself
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(*UnicodeToBytes(ByteToUnicode(static_cast<uint8_t>(b))),
              std::string(1, static_cast<char>(b)));
  }
  EXPECT_FALSE(UnicodeToBytes("\xE2\x82\xAC").has_value());  // U+20AC is not in the alphabet
}

TEST(Gpt2Tiny, MergesByRank) {
  // 256 "he", 257 "ll", 258 "hell", 259 "Ġh"... ranks: h e (0), l l (1), he ll (2), Ġ h (3)
  TinyFiles f = Tiny({"he", "ll", "hell", absl::StrCat(kG, "h"), "lo"},
                     {"h e", "l l", "he ll", absl::StrCat(kG, " h"), "l o"});
  auto tok = LoadTiny(f, "merges");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 262);
  // "hello": h e l l o -> he l l o -> he ll o (rank 1 beats l o rank 4) -> hell o.
  EXPECT_THAT(*(*tok)->Encode("hello", false), ElementsAre(258, 'o'));
  // " hello" is one piece " hello": Ġ h e l l o -> Ġ he ... -> Ġ hell o (Ġh needs h alone).
  EXPECT_THAT(*(*tok)->Encode(" hello", false), ElementsAre(' ', 258, 'o'));
  EXPECT_THAT(*(*tok)->Encode(" h", false), ElementsAre(259));
  // Special token matched in text; BOS is <|endoftext|>.
  EXPECT_EQ((*tok)->bos_id(), 261);
  EXPECT_THAT(*(*tok)->Encode("he<|endoftext|>he", true), ElementsAre(261, 256, 261, 256));
  EXPECT_EQ(*(*tok)->Decode(std::vector<int>{256, 261, 258}), "he<|endoftext|>hell");
  EXPECT_TRUE((*tok)->IsSpecial(261));
  EXPECT_FALSE((*tok)->IsSpecial(256));
  EXPECT_EQ((*tok)->Piece(259), " h");
  EXPECT_EQ((*tok)->Piece(0xC3), "<0xC3>");
  EXPECT_EQ((*tok)->TokenString(259), absl::StrCat(kG, "h"));
  EXPECT_EQ((*tok)->TokenToId("hell"), 258);
  EXPECT_THAT(std::string((*tok)->Decode(std::vector<int>{262}).status().message()),
              HasSubstr("token id 262 at position 0"));

  auto plain = LoadGpt2Tokenizer(WriteTmp("p_encoder.json", f.encoder_json),
                                 WriteTmp("p_vocab.bpe", f.vocab_bpe),
                                 /*match_special_tokens=*/false);
  ASSERT_TRUE(plain.ok());
  // "<|", "endoftext", "|>" byte by byte (no merges apply).
  EXPECT_EQ((*plain)->Encode("<|endoftext|>", false)->size(), 13u);
}

TEST(Gpt2Tiny, LeftmostOnTies) {
  // One pair at several places merges leftmost first (GPT-2's encoder.py and HuggingFace):
  // "aaa" -> aa a, not a aa; "aaaaa" -> aa aa a. With "aa a" (rank 1) too, "aaa" -> aa a ->
  // aaa (a aa would stay), and "aaaa" -> aa a a -> aa aa (rank 0 first), which stays.
  auto tok = LoadTiny(Tiny({"aa"}, {"a a"}), "ties");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(*(*tok)->Encode("aaa", false), ElementsAre(256, 'a'));
  EXPECT_THAT(*(*tok)->Encode("aaaaa", false), ElementsAre(256, 256, 'a'));
  auto joined = LoadTiny(Tiny({"aa", "aaa"}, {"a a", "aa a"}), "ties_joined");
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_THAT(*(*joined)->Encode("aaa", false), ElementsAre(257));
  EXPECT_THAT(*(*joined)->Encode("aaaa", false), ElementsAre(256, 256));
}

TEST(Gpt2Tiny, RoundTripsArbitraryBytes) {
  TinyFiles f = Tiny({"he", "ll"}, {"h e", "l l"});
  auto tok = LoadTiny(f, "rt");
  ASSERT_TRUE(tok.ok()) << tok.status();
  for (const std::string& text :
       {std::string("hello world"), std::string("\xFF\xFE\x80 ab"), std::string("\xE2\x82"),
        std::string("a\0b", 3), std::string("  \n\n\t x"), std::string("caf\xC3\xA9")}) {
    EXPECT_EQ(*(*tok)->Decode(*(*tok)->Encode(text, false)), text);
  }
}

TEST(Gpt2Tiny, BadFiles) {
  // A merge that refers to an unknown token.
  EXPECT_THAT(TinyError(Tiny({"he"}, {"h e", "x yz"}), "m1"),
              HasSubstr("vocab.bpe line 3: merge \"x\" + \"yz\" refers to unknown token \"yz\""));
  // A merge whose result is not in the vocabulary.
  EXPECT_THAT(TinyError(Tiny({"he"}, {"h e", "e h"}), "m2"),
              HasSubstr("the result \"eh\" of merge"));
  // A malformed merge line.
  EXPECT_THAT(TinyError(Tiny({"he"}, {"h e", "abc"}), "m3"), HasSubstr("line 3"));
  EXPECT_THAT(TinyError(Tiny({"he"}, {"h e f"}), "m4"), HasSubstr("two tokens, one space"));
  // Duplicate ids.
  TinyFiles dup = Tiny({"he"}, {"h e"});
  dup.encoder_json.insert(1, "\"xx\": 5, ");
  EXPECT_THAT(TinyError(dup, "dup"), HasSubstr("duplicate id 5"));
  // Duplicate token (a repeated JSON key).
  TinyFiles dupkey = Tiny({"he"}, {"h e"});
  dupkey.encoder_json.insert(1, "\"he\": 999, ");
  EXPECT_THAT(TinyError(dupkey, "dupkey"), HasSubstr("\"he\" is repeated"));
  // Ids out of range and non-contiguous.
  TinyFiles neg = Tiny({"he"}, {"h e"});
  neg.encoder_json.insert(1, "\"xx\": -1, ");
  EXPECT_THAT(TinyError(neg, "neg"), HasSubstr("has id -1, out of range"));
  TinyFiles gap = Tiny({"he"}, {"h e"});
  gap.encoder_json.insert(1, "\"xx\": 300, ");
  EXPECT_THAT(TinyError(gap, "gap"), HasSubstr("token ids are not contiguous: the highest id is 300"));
  TinyFiles frac = Tiny({"he"}, {"h e"});
  frac.encoder_json.insert(1, "\"xx\": 1.5, ");
  EXPECT_THAT(TinyError(frac, "frac"), HasSubstr("token \"xx\": expected an integer"));
  // A missing byte token.
  TinyFiles nobyte = Tiny({}, {});
  nobyte.encoder_json.replace(nobyte.encoder_json.find("\"A\":65"), 6, "\"AA\":65");
  EXPECT_THAT(TinyError(nobyte, "nobyte"), HasSubstr("lacks the byte-level token \"A\" for byte 0x41"));
  // Not JSON; missing files. The error names the file.
  TinyFiles notjson{"{\"a\": 1,", "#version: 0.2\n"};
  EXPECT_THAT(TinyError(notjson, "notjson"), HasSubstr("notjson_encoder.json: parse error"));
  auto missing = LoadGpt2Tokenizer("/nonexistent/encoder.json", "/nonexistent/vocab.bpe");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/encoder.json"));
  TinyFiles ok = Tiny({"he"}, {"h e"});
  auto missing_bpe = LoadGpt2Tokenizer(WriteTmp("ok_encoder.json", ok.encoder_json),
                                       "/nonexistent/vocab.bpe");
  ASSERT_FALSE(missing_bpe.ok());
  EXPECT_THAT(std::string(missing_bpe.status().message()), HasSubstr("/nonexistent/vocab.bpe"));
}

// ---- tokenizer.json (synthetic)

// A tokenizer.json over the tiny vocabulary with the given pre_tokenizer etc.
std::string HfJson(const std::string& pre_tokenizer, const std::string& extra_top = "",
                   const std::string& model_extra = "",
                   const std::vector<std::string>& merges = {"h e", "l l", "he ll"}) {
  json::JsonWriter vocab;
  vocab.BeginObject();
  int id = 0;
  for (int b = 0; b < 256; ++b) vocab.Key(ByteTok(b)).Int(id++);
  for (const char* t : {"he", "ll", "hell", "12"}) vocab.Key(t).Int(id++);
  vocab.EndObject();
  json::JsonWriter m;
  m.BeginArray();
  for (const std::string& s : merges) m.String(s);
  m.EndArray();
  return absl::StrCat(
      R"({"version": "1.0", "truncation": null, "padding": null,)",
      R"("added_tokens": [{"id": 260, "content": "<|endoftext|>", "single_word": false,)",
      R"("lstrip": false, "rstrip": false, "normalized": false, "special": true}],)",
      R"("normalizer": null, "pre_tokenizer": )", pre_tokenizer, ",",
      R"("post_processor": null, "decoder": {"type": "ByteLevel"},)", extra_top,
      R"("model": {"type": "BPE", "dropout": null, "unk_token": null, )", model_extra,
      R"("continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,)",
      R"("vocab": )", vocab.str(), R"(, "merges": )", m.str(), "}}");
}

const char kByteLevel[] =
    R"({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})";

absl::StatusOr<std::unique_ptr<ByteLevelBpeTokenizer>> Hf(const std::string& text) {
  absl::StatusOr<json::Value> doc = json::Parse(text);
  if (!doc.ok()) return doc.status();
  return HfTokenizerFromJson(*doc, "tokenizer.json");
}

std::string HfError(const std::string& text) {
  auto tok = Hf(text);
  EXPECT_FALSE(tok.ok());
  return tok.ok() ? "" : std::string(tok.status().message());
}

TEST(HfTokenizerJson, ByteLevelBasics) {
  auto tok = Hf(HfJson(kByteLevel));
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 261);
  EXPECT_EQ((*tok)->bos_id(), 260);
  EXPECT_EQ((*tok)->eos_id(), 260);
  EXPECT_THAT(*(*tok)->Encode("hell<|endoftext|>", false), ElementsAre(258, 260));
  EXPECT_THAT(*(*tok)->Encode("hell", true), ElementsAre(260, 258));
  EXPECT_THAT(*(*tok)->Encode("hell hell", false), ElementsAre(258, ' ', 258));
  EXPECT_EQ(*(*tok)->Decode(*(*tok)->Encode("x\xFFy hell", false)), "x\xFFy hell");

  // add_prefix_space adds " " to each segment that does not start with one.
  auto prefixed = Hf(HfJson(
      R"({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true})"));
  ASSERT_TRUE(prefixed.ok()) << prefixed.status();
  EXPECT_THAT(*(*prefixed)->Encode("hell", false), ElementsAre(' ', 258));
  EXPECT_THAT(*(*prefixed)->Encode(" hell", false), ElementsAre(' ', 258));

  // use_regex false: the whole segment is one piece ("hell hell": no split at the space).
  auto noregex = Hf(HfJson(
      R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})"));
  ASSERT_TRUE(noregex.ok()) << noregex.status();
  EXPECT_THAT(*(*noregex)->Encode("hell hell", false), ElementsAre(258, ' ', 258));
}

TEST(HfTokenizerJson, DigitsAndSplitSequence) {
  const std::string digits = absl::StrCat(
      R"({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, )",
      kByteLevel, "]}");
  auto tok = Hf(HfJson(digits, "", "", {"h e", "l l", "he ll", "1 2"}));
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(*(*tok)->Encode("12", false), ElementsAre('1', '2'));
  const std::string contiguous = absl::StrCat(
      R"({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": false}, )",
      kByteLevel, "]}");
  auto tok2 = Hf(HfJson(contiguous, "", "", {"h e", "l l", "he ll", "1 2"}));
  ASSERT_TRUE(tok2.ok()) << tok2.status();
  EXPECT_THAT(*(*tok2)->Encode("12", false), ElementsAre(259));

  // Split with the GPT-2 regex, then ByteLevel without regex (as many Llama-3-era files).
  const std::string split = absl::StrCat(
      R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": )",
      json::JsonString(SplitPatternRegex(SplitPattern::kGpt2)),
      R"(}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
  auto tok3 = Hf(HfJson(split));
  ASSERT_TRUE(tok3.ok()) << tok3.status();
  EXPECT_THAT(*(*tok3)->Encode("hell hell", false), ElementsAre(258, ' ', 258));
  EXPECT_THAT(HfError(HfJson(absl::StrCat(
                  R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Isolated"}, )",
                  kByteLevel, "]}"))),
              HasSubstr("pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported Split regex"));
}

TEST(HfTokenizerJson, IgnoreMerges) {
  // "hell" is a token but no merge path "he"+"ll" exists: only with ignore_merges is it used.
  auto with = Hf(HfJson(kByteLevel, "", R"("ignore_merges": true,)", {"h e"}));
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_THAT(*(*with)->Encode("hell", false), ElementsAre(258));
  auto without = Hf(HfJson(kByteLevel, "", "", {"h e"}));
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_THAT(*(*without)->Encode("hell", false), ElementsAre(256, 'l', 'l'));
}

TEST(HfTokenizerJson, AddedTokenFlags) {
  std::string text = HfJson(kByteLevel);
  const std::string flags = R"("lstrip": false, "rstrip": false)";
  text.replace(text.find(flags), flags.size(), R"("lstrip": true, "rstrip": true)");
  auto tok = Hf(text);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(*(*tok)->Encode("he  <|endoftext|>  he", false), ElementsAre(256, 260, 256));
}

TEST(HfTokenizerJson, TemplateBos) {
  std::string text = HfJson(kByteLevel);
  text.replace(text.find(R"("post_processor": null)"), 22,
               R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "hell", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]})");
  auto templ = Hf(text);
  ASSERT_TRUE(templ.ok()) << templ.status();
  EXPECT_EQ((*templ)->bos_id(), 258);
  text.replace(text.find(R"("id": "hell")"), 12, R"("id": "nope")");
  EXPECT_THAT(HfError(text), HasSubstr("tokenizer.json: post_processor.single[0]: special "
                                       "token \"nope\" is not a token"));
}

TEST(HfTokenizerJson, Errors) {
  EXPECT_THAT(HfError("[]"), HasSubstr("tokenizer.json: expected a JSON object"));
  std::string wp = HfJson(kByteLevel);
  wp.replace(wp.find(R"("type": "BPE")"), 13, R"("type": "WordPiece")");
  EXPECT_THAT(HfError(wp), HasSubstr("model.type: unsupported model type \"WordPiece\""));
  EXPECT_THAT(HfError(HfJson(R"({"type": "Metaspace", "replacement": "_"})")),
              HasSubstr("pre_tokenizer: unsupported pre-tokenizer type \"Metaspace\""));
  EXPECT_THAT(HfError(HfJson("null")), HasSubstr("no ByteLevel pre-tokenizer"));
  std::string dec = HfJson(kByteLevel);
  dec.replace(dec.find(R"({"type": "ByteLevel"})"), 21, R"({"type": "WordPiece"})");
  EXPECT_THAT(HfError(dec), HasSubstr("decoder: unsupported decoder type \"WordPiece\""));
  std::string norm = HfJson(kByteLevel);
  norm.replace(norm.find(R"("normalizer": null)"), 18, R"("normalizer": {"type": "Lowercase"})");
  EXPECT_THAT(HfError(norm), HasSubstr("normalizer: unsupported normalizer type \"Lowercase\""));
  EXPECT_THAT(HfError(HfJson(kByteLevel, "", "", {"h e", "he zz"})),
              HasSubstr("model.merges[1]: merge \"he\" + \"zz\" refers to unknown token \"zz\""));
  EXPECT_THAT(HfError(HfJson(kByteLevel, "", "", {"h e", "hell"})),
              HasSubstr("model.merges[1]: expected \"left right\""));
  std::string clash = HfJson(kByteLevel);
  clash.replace(clash.find(R"("id": 260)"), 9, R"("id": 256)");
  EXPECT_THAT(HfError(clash),
              HasSubstr("added token \"<|endoftext|>\" has id 256, which the vocabulary gives "
                        "to \"he\""));
  std::string gap = HfJson(kByteLevel);
  gap.replace(gap.find(R"("id": 260)"), 9, R"("id": 265)");
  EXPECT_THAT(HfError(gap), HasSubstr("token ids are not contiguous: the highest id is 265"));
  std::string dropout = HfJson(kByteLevel);
  dropout.replace(dropout.find(R"("dropout": null)"), 15, R"("dropout": 0.1)");
  EXPECT_THAT(HfError(dropout), HasSubstr("model.dropout: BPE dropout is not supported"));
  auto missing = LoadHfTokenizerJson("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/tokenizer.json"));
}

TEST(HfTokenizerJson, MergesAsPairs) {
  std::string text = HfJson(kByteLevel);
  text.replace(text.find(R"(["h e","l l","he ll"])"), 21, R"([["h","e"],["l","l"],["he","ll"]])");
  auto tok = Hf(text);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(*(*tok)->Encode("hell", false), ElementsAre(258));
}

TEST(HfTokenizerJson, Nfc) {
  std::string text = HfJson(kByteLevel);
  text.replace(text.find(R"("normalizer": null)"), 18, R"("normalizer": {"type": "NFC"})");
  auto tok = Hf(text);
  ASSERT_TRUE(tok.ok()) << tok.status();
  // "e" + U+0301 composes to U+00E9 before BPE.
  EXPECT_EQ(*(*tok)->Encode("cafe\xCC\x81", false), *(*tok)->Encode("caf\xC3\xA9", false));
  EXPECT_EQ(*(*tok)->Decode(*(*tok)->Encode("cafe\xCC\x81 \xFF", false)), "caf\xC3\xA9 \xFF");
  EXPECT_EQ(*(*tok)->Decode(*(*tok)->Encode("\xE6\x97\xA5 ok", false)), "\xE6\x97\xA5 ok");
}

// ---- The real GPT-2 files

struct Expected {
  std::string text;
  std::vector<int> ids;
};

std::vector<Expected> ReadExpected(const std::string& path) {
  std::vector<Expected> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    absl::StatusOr<json::Value> v = json::Parse(line);
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) continue;
    Expected e;
    e.text = *v->GetString("text");
    for (const json::Value& id : (*v->Get("ids"))->array()) e.ids.push_back(*id.AsInt64());
    out.push_back(e);
  }
  return out;
}

class Gpt2Real : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMLENS_REQUIRE_SHARED();
    dir_ = SharedDir() + "/tokenizers/gpt2";
    auto tok = LoadGpt2Tokenizer(dir_ + "/encoder.json", dir_ + "/vocab.bpe");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = *std::move(tok);
    expected_ = ReadExpected(dir_ + "/expected_encodings.jsonl");
    ASSERT_GE(expected_.size(), 6u);
  }
  std::string dir_;
  std::unique_ptr<ByteLevelBpeTokenizer> tok_;
  std::vector<Expected> expected_;
};

TEST_F(Gpt2Real, ReproducesExpectedEncodings) {
  EXPECT_EQ(tok_->vocab_size(), 50257);
  EXPECT_EQ(tok_->bos_id(), 50256);
  for (const Expected& e : expected_) {
    auto ids = tok_->Encode(e.text, false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_THAT(*ids, ElementsAreArray(e.ids)) << e.text;
    EXPECT_EQ(*tok_->Decode(e.ids), e.text);
    // Twice: the second time comes from the cache.
    EXPECT_THAT(*tok_->Encode(e.text, false), ElementsAreArray(e.ids)) << e.text;
  }
}

TEST_F(Gpt2Real, DecodesPartialCharactersToRawBytes) {
  // "日" is 3 bytes; GPT-2 splits it across tokens whose bytes alone are invalid UTF-8.
  auto ids = tok_->Encode("\xE6\x97\xA5", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 2u);
  std::string joined;
  for (int id : *ids) {
    auto bytes = tok_->Decode(std::vector<int>{id});
    ASSERT_TRUE(bytes.ok());
    joined += *bytes;
  }
  EXPECT_EQ(joined, "\xE6\x97\xA5");
  EXPECT_EQ(*tok_->Decode(std::vector<int>{ids->front()}), "\xE6\x97");
  EXPECT_EQ(tok_->Piece(ids->front()), "<0xE6><0x97>");
  for (const std::string& text : {std::string("\xFF\xFE\xFD"), std::string("a\x80z"),
                                  std::string("\xF0\x9F\x98"), std::string(1, '\0')}) {
    EXPECT_EQ(*tok_->Decode(*tok_->Encode(text, false)), text);
  }
}

TEST_F(Gpt2Real, KnownPieces) {
  EXPECT_EQ(tok_->Piece(995), " world");
  EXPECT_EQ(tok_->Piece(50256), "<|endoftext|>");
  EXPECT_THAT(*tok_->Encode("Hello world<|endoftext|>", true),
              ElementsAre(50256, 15496, 995, 50256));
}

// The same vocabulary as a tokenizer.json must give the same ids.
TEST_F(Gpt2Real, TokenizerJsonFromTheSameFilesAgrees) {
  absl::StatusOr<std::string> encoder = ReadFileChecked(dir_ + "/encoder.json", kTokenizerFile);
  absl::StatusOr<std::string> bpe = ReadFileChecked(dir_ + "/vocab.bpe", kTokenizerFile);
  ASSERT_TRUE(encoder.ok() && bpe.ok());
  json::JsonWriter merges;
  merges.BeginArray();
  std::vector<absl::string_view> lines = absl::StrSplit(*bpe, '\n', absl::SkipEmpty());
  for (size_t i = 1; i < lines.size(); ++i) merges.String(lines[i]);
  merges.EndArray();
  const std::string doc = absl::StrCat(
      R"({"version": "1.0", "added_tokens": [{"id": 50256, "content": "<|endoftext|>", )",
      R"("single_word": false, "lstrip": false, "rstrip": false, "normalized": true, )",
      R"("special": true}], "normalizer": null, "pre_tokenizer": )", kByteLevel,
      R"(, "post_processor": {"type": "ByteLevel", "add_prefix_space": true, )",
      R"("trim_offsets": false}, "decoder": {"type": "ByteLevel", "add_prefix_space": true, )",
      R"("trim_offsets": true}, "model": {"type": "BPE", "dropout": null, "unk_token": null, )",
      R"("continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false, )",
      R"("vocab": )", *encoder, R"(, "merges": )", merges.str(), "}}");
  const std::string path = WriteTmp("gpt2_tokenizer.json", doc);
  auto hf = LoadHfTokenizerJson(path);
  ASSERT_TRUE(hf.ok()) << hf.status();
  EXPECT_EQ((*hf)->vocab_size(), 50257);
  for (const Expected& e : expected_) {
    EXPECT_THAT(*(*hf)->Encode(e.text, false), ElementsAreArray(e.ids)) << e.text;
  }
}

}  // namespace
}  // namespace memlens

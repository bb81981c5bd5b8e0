#include "core/tokenizer/pretokenizer.h"

#include <string>
#include <vector>

#include "core/tokenizer/unicode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<std::string> Split(SplitPattern pattern, absl::string_view text) {
  std::vector<ByteSpan> spans;
  FindPatternMatches(pattern, text, &spans);
  std::vector<std::string> out;
  size_t prev = 0;
  for (const ByteSpan& s : spans) {
    EXPECT_EQ(s.begin, prev) << "matches must tile the text";
    EXPECT_LT(s.begin, s.end);
    out.emplace_back(text.substr(s.begin, s.end - s.begin));
    prev = s.end;
  }
  EXPECT_EQ(prev, text.size());
  return out;
}

struct Case {
  SplitPattern pattern;
  std::string text;
  std::vector<std::string> pieces;
};

// Expected pieces from Python's `regex` module (re.findall with each pattern), generated
// once while developing; the hand-written matcher was also compared with it on 30,000
// random strings over tricky characters and all code points assigned in Unicode 14.
TEST(SplitPatterns, MatchPythonRegex) {
  const std::vector<Case> cases = {
      {SplitPattern::kGpt2, "Hello world", {"Hello", " world"}},
      {SplitPattern::kGpt2, "It's I'LL we'd", {"It", "'s", " I", "'", "LL", " we", "'d"}},
      {SplitPattern::kGpt2, "   leading spaces and trailing  ", {"  ", " leading", " spaces", " and", " trailing", "  "}},
      {SplitPattern::kGpt2, "a \nb\t c", {"a", " ", "\n", "b", "\t", " c"}},
      {SplitPattern::kGpt2, "x''s ok!!", {"x", "''", "s", " ok", "!!"}},
      {SplitPattern::kGpt2, "12345 67.8", {"12345", " 67", ".", "8"}},
      {SplitPattern::kGpt2, "café naïve 日本語 😀 emoji", {"café", " naïve", " 日本語", " 😀", " emoji"}},
      {SplitPattern::kGpt2, "line1\r\n\r\n  line2\n", {"line", "1", "\r\n\r\n ", " line", "2", "\n"}},
      {SplitPattern::kGpt2, "\xC2\xA0" "\xC2\xA0" "x", {"\xC2\xA0" "", "\xC2\xA0" "", "x"}},
      {SplitPattern::kGpt2, "$%^ (a)", {"$%^", " (", "a", ")"}},
      {SplitPattern::kGpt2, "٣٤٥ Ⅻ½", {"٣٤٥", " Ⅻ½"}},
      {SplitPattern::kGpt2, "", {}},
      {SplitPattern::kGpt2, " ", {" "}},
      {SplitPattern::kGpt2, "a  ", {"a", "  "}},
      {SplitPattern::kLlama3, "Hello world", {"Hello", " world"}},
      {SplitPattern::kLlama3, "It's I'LL we'd", {"It", "'s", " I", "'LL", " we", "'d"}},
      {SplitPattern::kLlama3, "   leading spaces and trailing  ", {"  ", " leading", " spaces", " and", " trailing", "  "}},
      {SplitPattern::kLlama3, "a \nb\t c", {"a", " \n", "b", "\t", " c"}},
      {SplitPattern::kLlama3, "x''s ok!!", {"x", "''", "s", " ok", "!!"}},
      {SplitPattern::kLlama3, "12345 67.8", {"123", "45", " ", "67", ".", "8"}},
      {SplitPattern::kLlama3, "café naïve 日本語 😀 emoji", {"café", " naïve", " 日本語", " 😀", " emoji"}},
      {SplitPattern::kLlama3, "line1\r\n\r\n  line2\n", {"line", "1", "\r\n\r\n", " ", " line", "2", "\n"}},
      {SplitPattern::kLlama3, "\xC2\xA0" "\xC2\xA0" "x", {"\xC2\xA0" "", "\xC2\xA0" "x"}},
      {SplitPattern::kLlama3, "$%^ (a)", {"$%^", " (", "a", ")"}},
      {SplitPattern::kLlama3, "٣٤٥ Ⅻ½", {"٣٤٥", " ", "Ⅻ½"}},
      {SplitPattern::kLlama3, "", {}},
      {SplitPattern::kLlama3, " ", {" "}},
      {SplitPattern::kLlama3, "a  ", {"a", "  "}},
      {SplitPattern::kQwen2, "Hello world", {"Hello", " world"}},
      {SplitPattern::kQwen2, "It's I'LL we'd", {"It", "'s", " I", "'LL", " we", "'d"}},
      {SplitPattern::kQwen2, "   leading spaces and trailing  ", {"  ", " leading", " spaces", " and", " trailing", "  "}},
      {SplitPattern::kQwen2, "a \nb\t c", {"a", " \n", "b", "\t", " c"}},
      {SplitPattern::kQwen2, "x''s ok!!", {"x", "''", "s", " ok", "!!"}},
      {SplitPattern::kQwen2, "12345 67.8", {"1", "2", "3", "4", "5", " ", "6", "7", ".", "8"}},
      {SplitPattern::kQwen2, "café naïve 日本語 😀 emoji", {"café", " naïve", " 日本語", " 😀", " emoji"}},
      {SplitPattern::kQwen2, "line1\r\n\r\n  line2\n", {"line", "1", "\r\n\r\n", " ", " line", "2", "\n"}},
      {SplitPattern::kQwen2, "\xC2\xA0" "\xC2\xA0" "x", {"\xC2\xA0" "", "\xC2\xA0" "x"}},
      {SplitPattern::kQwen2, "$%^ (a)", {"$%^", " (", "a", ")"}},
      {SplitPattern::kQwen2, "٣٤٥ Ⅻ½", {"٣", "٤", "٥", " ", "Ⅻ", "½"}},
      {SplitPattern::kQwen2, "", {}},
      {SplitPattern::kQwen2, " ", {" "}},
      {SplitPattern::kQwen2, "a  ", {"a", "  "}},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Split(c.pattern, c.text), ElementsAreArray(c.pieces))
        << SplitPatternRegex(c.pattern) << " on \"" << c.text << "\"";
  }
}

TEST(SplitPatterns, InvalidUtf8BytesArePunctuation) {
  EXPECT_THAT(Split(SplitPattern::kGpt2, "a\xFF\xFE b \x80x"),
              ElementsAre("a", "\xFF\xFE", " b", " \x80", "x"));
  EXPECT_THAT(Split(SplitPattern::kGpt2, "\xE6\x97"), ElementsAre("\xE6\x97"));
}

TEST(SplitPatterns, Recognize) {
  EXPECT_EQ(*RecognizeSplitPattern(
                R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"),
            SplitPattern::kGpt2);
  for (SplitPattern p : {SplitPattern::kGpt2, SplitPattern::kLlama3, SplitPattern::kQwen2}) {
    EXPECT_EQ(*RecognizeSplitPattern(SplitPatternRegex(p)), p);
  }
  auto bad = RecognizeSplitPattern("\\d+");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("unsupported Split regex \"\\d+\""));
}

std::vector<std::string> SplitWith(absl::string_view text, std::vector<ByteSpan> matches,
                                   SplitBehavior behavior, bool invert = false) {
  std::vector<std::string> out;
  SplitByMatches(text, matches, behavior, invert, &out);
  return out;
}

TEST(SplitBehaviors, AsHuggingFace) {
  // "the-final--countdown" split on "-" (HuggingFace's own test cases).
  const std::string text = "the-final--countdown";
  const std::vector<ByteSpan> dashes = {{3, 4}, {9, 10}, {10, 11}};
  EXPECT_THAT(SplitWith(text, dashes, SplitBehavior::kRemoved),
              ElementsAre("the", "final", "countdown"));
  EXPECT_THAT(SplitWith(text, dashes, SplitBehavior::kIsolated),
              ElementsAre("the", "-", "final", "-", "-", "countdown"));
  EXPECT_THAT(SplitWith(text, dashes, SplitBehavior::kMergedWithPrevious),
              ElementsAre("the-", "final-", "-", "countdown"));
  EXPECT_THAT(SplitWith(text, dashes, SplitBehavior::kMergedWithNext),
              ElementsAre("the", "-final", "-", "-countdown"));
  EXPECT_THAT(SplitWith(text, dashes, SplitBehavior::kContiguous),
              ElementsAre("the", "-", "final", "--", "countdown"));
  EXPECT_THAT(SplitWith(text, dashes, SplitBehavior::kRemoved, /*invert=*/true),
              ElementsAre("-", "-", "-"));
  EXPECT_EQ(*ParseSplitBehavior("MergedWithNext"), SplitBehavior::kMergedWithNext);
  EXPECT_FALSE(ParseSplitBehavior("merged").ok());
}

TEST(PreTokenize, Steps) {
  std::vector<PreTokenizerStep> steps(2);
  steps[0].kind = PreTokenizerStep::Kind::kDigits;
  steps[0].individual_digits = true;
  steps[1].kind = PreTokenizerStep::Kind::kByteLevel;
  steps[1].add_prefix_space = false;
  std::vector<std::string> pieces;
  PreTokenize(steps, "abc 123 x", &pieces);
  EXPECT_THAT(pieces, ElementsAre("abc", " ", "1", "2", "3", " x"));

  // add_prefix_space applies to every piece from the previous step (as HuggingFace).
  steps[1].add_prefix_space = true;
  pieces.clear();
  PreTokenize(steps, "ab12", &pieces);
  EXPECT_THAT(pieces, ElementsAre(" ab", " 1", " 2"));

  steps[0].individual_digits = false;
  steps[1].add_prefix_space = false;
  pieces.clear();
  PreTokenize(steps, "ab12٣", &pieces);
  EXPECT_THAT(pieces, ElementsAre("ab", "12٣"));

  PreTokenizerStep literal;
  literal.kind = PreTokenizerStep::Kind::kSplitString;
  literal.literal = "::";
  literal.behavior = SplitBehavior::kRemoved;
  pieces.clear();
  PreTokenize({literal}, "a::b::::c", &pieces);
  EXPECT_THAT(pieces, ElementsAre("a", "b", "c"));

  pieces.clear();
  PreTokenize({}, "as is", &pieces);
  EXPECT_THAT(pieces, ElementsAre("as is"));
}

TEST(Unicode, Classes) {
  EXPECT_TRUE(unicode::IsLetter('a'));
  EXPECT_TRUE(unicode::IsLetter(0xE9));     // é
  EXPECT_TRUE(unicode::IsLetter(0x65E5));   // 日
  EXPECT_TRUE(unicode::IsLetter(0x2B0));    // modifier letter (Lm)
  EXPECT_FALSE(unicode::IsLetter(0x301));   // combining acute (Mn)
  EXPECT_FALSE(unicode::IsLetter(0x1F600));  // emoji
  EXPECT_TRUE(unicode::IsNumber('7'));
  EXPECT_TRUE(unicode::IsNumber(0x663));    // Arabic-Indic three (Nd)
  EXPECT_TRUE(unicode::IsNumber(0x216B));   // Roman numeral twelve (Nl)
  EXPECT_TRUE(unicode::IsNumber(0xBD));     // ½ (No)
  EXPECT_FALSE(unicode::IsNumber('a'));
  EXPECT_TRUE(unicode::IsWhiteSpace(' '));
  EXPECT_TRUE(unicode::IsWhiteSpace(0x0B));
  EXPECT_TRUE(unicode::IsWhiteSpace(0xA0));
  EXPECT_TRUE(unicode::IsWhiteSpace(0x3000));
  EXPECT_FALSE(unicode::IsWhiteSpace(0x200B));  // zero width space is not White_Space
  EXPECT_FALSE(unicode::IsWhiteSpace(0x1C));
  EXPECT_FALSE(unicode::IsLetter(unicode::kInvalid));
  int len;
  EXPECT_EQ(unicode::DecodeAt("\xF0\x9F\x98\x80", 0, &len), 0x1F600u);
  EXPECT_EQ(len, 4);
  EXPECT_EQ(unicode::DecodeAt("\xC0\x80", 0, &len), unicode::kInvalid);
  EXPECT_EQ(len, 1);
  EXPECT_STREQ(unicode::TablesVersion(), "14.0.0");
}

TEST(Unicode, NfcQuickCheck) {
  EXPECT_TRUE(unicode::IsCertainlyNfc("plain ascii"));
  EXPECT_TRUE(unicode::IsCertainlyNfc("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC"));
  EXPECT_TRUE(unicode::IsCertainlyNfc("\xFF bytes"));
  EXPECT_FALSE(unicode::IsCertainlyNfc("e\xCC\x81"));        // e + combining acute
  EXPECT_FALSE(unicode::IsCertainlyNfc("\xE2\x84\xAB"));     // U+212B ANGSTROM SIGN
  EXPECT_FALSE(unicode::IsCertainlyNfc("\xE1\x85\xA1"));     // U+1161 Hangul jungseong (Maybe)
}

TEST(Unicode, ToNfc) {
  // Expected values from Python's unicodedata.normalize("NFC", ...); the implementation was
  // also compared with it on 30,000 random strings of decomposable/combining characters.
  const std::pair<std::string, std::string> cases[] = {
      {"\x65\xCC\x81", "\xC3\xA9"},                                  // e + acute
      {"\xE2\x84\xAB", "\xC3\x85"},                                  // ANGSTROM SIGN (singleton)
      {"\x61\xCC\xA3\xCC\x87", "\xE1\xBA\xA1\xCC\x87"},              // canonical order
      {"\x61\xCC\x87\xCC\xA3", "\xE1\xBA\xA1\xCC\x87"},
      {"\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", "\xED\x95\x9C"},      // Hangul L V T
      {"\xE0\xA5\x98", "\xE0\xA4\x95\xE0\xA4\xBC"},                  // composition exclusion
      {"\xCC\x81\x65", "\xCC\x81\x65"},                              // leading non-starter
      {"\xE1\xB8\x8B\xCC\xA3", "\xE1\xB8\x8D\xCC\x87"},
      {"\x70\x6C\x61\x69\x6E", "\x70\x6C\x61\x69\x6E"},
      {"\x65\xFF\xCC\x81", "\x65\xFF\xCC\x81"},                      // invalid byte blocks
      {"", ""},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(unicode::ToNfc(in), want) << in;
}

}  // namespace
}  // namespace memlens

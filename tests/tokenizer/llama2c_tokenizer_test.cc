#include "core/tokenizer/llama2c_tokenizer.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/shared_data.h"

namespace memlens {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<int> Ids(const std::string& s) {
  std::vector<int> ids;
  for (absl::string_view part : absl::StrSplit(s, ' ', absl::SkipEmpty())) {
    ids.push_back(std::stoi(std::string(part)));
  }
  return ids;
}

// ---- Synthetic files

void PutI32(std::string* out, int32_t v) { out->append(reinterpret_cast<char*>(&v), 4); }
void PutF32(std::string* out, float v) { out->append(reinterpret_cast<char*>(&v), 4); }

// The standard prefix (<unk>, BOS, EOS, 256 byte tokens) plus `extra` (piece, score).
std::vector<std::pair<std::string, float>> Vocab(
    const std::vector<std::pair<std::string, float>>& extra) {
  std::vector<std::pair<std::string, float>> v = {
      {"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b) v.push_back({absl::StrFormat("<0x%02X>", b), 0});
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

std::string TokFile(const std::vector<std::pair<std::string, float>>& vocab,
                    int max_len = 16) {
  std::string out;
  PutI32(&out, max_len);
  for (const auto& [piece, score] : vocab) {
    PutF32(&out, score);
    PutI32(&out, static_cast<int32_t>(piece.size()));
    out += piece;
  }
  return out;
}

std::unique_ptr<Llama2cTokenizer> MustLoad(const std::string& data, int vocab_size) {
  auto tok = Llama2cTokenizer::FromBytes(data, vocab_size, "test.bin");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

std::string LoadError(const std::string& data, int vocab_size) {
  auto tok = Llama2cTokenizer::FromBytes(data, vocab_size, "test.bin");
  EXPECT_FALSE(tok.ok());
  return tok.ok() ? "" : std::string(tok.status().message());
}

TEST(Llama2cTokenizer, MergesByHighestScoreLeftmostOnTies) {
  // 259 ' ', 260 a, 261 b, 262 ab (score 5), 263 ' a' (score 5), 264 ' ab' (score 1)
  auto vocab = Vocab({{" ", 0}, {"a", 0}, {"b", 0}, {"ab", 5}, {" a", 5}, {" ab", 1}});
  auto tok = MustLoad(TokFile(vocab), static_cast<int>(vocab.size()));
  ASSERT_NE(tok, nullptr);
  // " " a b: pairs " a"(5) at 0 and "ab"(5) at 1: the leftmost wins -> " a" b; then no
  // " ab"? " a"+"b" = " ab" (1) -> merged.
  EXPECT_THAT(*tok->Encode("ab", false), ElementsAreArray({264}));
  EXPECT_THAT(*tok->Encode("ab", true), ElementsAreArray({1, 264}));
  // Empty text: no dummy prefix.
  EXPECT_TRUE(tok->Encode("", false)->empty());
  EXPECT_THAT(*tok->Encode("", true), ElementsAreArray({1}));
  // Unknown character -> bytes + 3; the dummy prefix is still " ".
  EXPECT_THAT(*tok->Encode("\xC3\xA9", false),
              ElementsAreArray({259, 0xC3 + 3, 0xA9 + 3}));
  EXPECT_EQ(*tok->Decode(*tok->Encode("\xC3\xA9 ab", true)), "\xC3\xA9 ab");

  // Above, either tie-break ends in " ab". Without " ab" the choice shows: " a" b (leftmost),
  // not " " ab; with " a" scored lower, "ab" wins wherever it is.
  auto ties = Vocab({{" ", 0}, {"a", 0}, {"b", 0}, {"ab", 5}, {" a", 5}});
  auto tie = MustLoad(TokFile(ties), static_cast<int>(ties.size()));
  ASSERT_NE(tie, nullptr);
  EXPECT_THAT(*tie->Encode("ab", false), ElementsAreArray({263, 261}));
  auto scored = Vocab({{" ", 0}, {"a", 0}, {"b", 0}, {"ab", 5}, {" a", 4}});
  auto score = MustLoad(TokFile(scored), static_cast<int>(scored.size()));
  ASSERT_NE(score, nullptr);
  EXPECT_THAT(*score->Encode("ab", false), ElementsAreArray({259, 262}));
}

TEST(Llama2cTokenizer, NoSpacePieceUsesByteFallbackForDummyPrefix) {
  auto vocab = Vocab({{"a", 0}});
  auto tok = MustLoad(TokFile(vocab), static_cast<int>(vocab.size()));
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(*tok->Encode("a", false), ElementsAreArray({' ' + 3, 259}));
  EXPECT_EQ(*tok->Decode(*tok->Encode(" a", true)), " a");
}

TEST(Llama2cTokenizer, DecodeErrorsAndPieces) {
  auto vocab = Vocab({{" ", 0}, {"hi", 0}});
  auto tok = MustLoad(TokFile(vocab), static_cast<int>(vocab.size()));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 261);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->IsSpecial(1));
  EXPECT_FALSE(tok->IsSpecial(260));
  auto bad = tok->Decode(std::vector<int>{1, 260, 261});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("token id 261 at position 2"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("test.bin"));
  EXPECT_FALSE(tok->Decode(std::vector<int>{-1}).ok());
  EXPECT_EQ(tok->Piece(1), "<s>");
  EXPECT_EQ(tok->Piece(2), "</s>");
  EXPECT_EQ(tok->Piece(3 + 0x41), "<0x41>");
  EXPECT_EQ(tok->Piece(260), "hi");
  EXPECT_EQ(tok->Piece(999), "<invalid id 999>");
  // Raw bytes decode exactly, even when they are not valid UTF-8.
  EXPECT_EQ(*tok->Decode(std::vector<int>{3 + 0xFF, 3 + 0xC3}), "\xFF\xC3");
  EXPECT_EQ(*tok->Decode(std::vector<int>{1, 259, 260, 2}), "hi");
}

TEST(Llama2cTokenizer, RoundTripsArbitraryBytes) {
  auto vocab = Vocab({{" ", -1}, {"a", -2}, {"b", -3}, {"ab", 1}, {" a", 2}, {"\xC3\xA9", 0}});
  auto tok = MustLoad(TokFile(vocab), static_cast<int>(vocab.size()));
  ASSERT_NE(tok, nullptr);
  for (std::string text : {std::string("ab ab  ba"), std::string("\xC3\xA9\xC3"),
                           std::string("\x80\x80\x80\x80\x80 a"), std::string(" "),
                           std::string("\0a\0", 3), std::string("\xF0\x9F\x98\x80!")}) {
    auto ids = tok->Encode(text, true);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*tok->Decode(*ids), text);
    EXPECT_EQ(*tok->Decode(*tok->Encode(text, false)), text);
  }
}

TEST(Llama2cTokenizer, ValidatesFile) {
  auto vocab = Vocab({{" ", 0}, {"hi", 0}});
  const std::string good = TokFile(vocab);
  const int n = static_cast<int>(vocab.size());
  ASSERT_NE(MustLoad(good, n), nullptr);

  EXPECT_THAT(LoadError(good, n + 1), HasSubstr("truncated at token 261"));
  EXPECT_THAT(LoadError(good, n + 1), HasSubstr("vocab_size is 262"));
  EXPECT_THAT(LoadError(good, n - 1), HasSubstr("more tokens than the model's vocab_size 260"));
  EXPECT_THAT(LoadError(good.substr(0, good.size() - 1), n),
              HasSubstr("truncated in token 260"));
  EXPECT_THAT(LoadError(good.substr(0, 2), n), HasSubstr("truncated"));
  EXPECT_THAT(LoadError("", n), HasSubstr("test.bin"));
  EXPECT_THAT(LoadError(good, 10), HasSubstr("vocab_size 10 is out of range"));
  EXPECT_THAT(LoadError(good, -5), HasSubstr("out of range"));

  std::string bad_max = good;
  int32_t neg = -3;
  std::memcpy(&bad_max[0], &neg, 4);
  EXPECT_THAT(LoadError(bad_max, n), HasSubstr("max_token_length -3"));

  // Negative and absurd piece lengths, at token 0 (offset 4 + 4).
  std::string neg_len = good;
  std::memcpy(&neg_len[8], &neg, 4);
  EXPECT_THAT(LoadError(neg_len, n), HasSubstr("token 0 (byte offset 8) has length -3"));
  std::string huge_len = good;
  int32_t huge = 0x7fffffff;
  std::memcpy(&huge_len[8], &huge, 4);
  EXPECT_THAT(LoadError(huge_len, n), HasSubstr("token 0"));
  EXPECT_THAT(LoadError(TokFile(vocab, 3), n), HasSubstr("max_token_length 3"));

  // NaN score.
  std::string nan_score = good;
  const float nan = std::nanf("");
  std::memcpy(&nan_score[4], &nan, 4);
  EXPECT_THAT(LoadError(nan_score, n), HasSubstr("token 0 (byte offset 4) has a non-finite"));

  // Byte tokens must be at 3..258.
  auto shuffled = vocab;
  std::swap(shuffled[10], shuffled[11]);
  EXPECT_THAT(LoadError(TokFile(shuffled), n), HasSubstr("token 10 is \"<0x08>\""));

  auto missing = Llama2cTokenizer::Load("/nonexistent/tok512.bin", 512);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/tok512.bin"));
}

// ---- The real tokenizer of aidreams260K

class Aidreams : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMLENS_REQUIRE_SHARED();
    auto tok = Llama2cTokenizer::Load(SharedDir() + "/models/aidreams260K/tok512.bin", 512);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = *std::move(tok);
  }
  std::unique_ptr<Llama2cTokenizer> tok_;
};

TEST_F(Aidreams, EncodesReferencePrompts) {
  EXPECT_EQ(tok_->max_token_length(), 10);
  EXPECT_THAT(*tok_->Encode("I dream of", true), ElementsAreArray(Ids("1 303 281 269 435 447 275")));
  EXPECT_THAT(*tok_->Encode("Echoes of weights", true),
              ElementsAreArray(Ids("1 388 355 260 275 382")));
  EXPECT_THAT(*tok_->Encode("I dream of", false), ElementsAreArray(Ids("303 281 269 435 447 275")));
}

TEST_F(Aidreams, DecodesReferenceContinuations) {
  EXPECT_EQ(*tok_->Decode(Ids("1 303 281 269 435 447 275 429 464 448 464 464 464 464 464 464 "
                              "448 429 468 342 358 402 327 446 299 303 266 437 443 434 438 "
                              "451 306 443 259 430 446 299 303")),
            "I dream of 0.000000. Dimensions unfold, as I softly refine, as I");
  EXPECT_EQ(*tok_->Decode(Ids("1 388 355 260 275 382 446 299 303 266 358 430 312 266 438 349 "
                              "438 451 275 429 339 315 374 448 429 465 438 340 431 338 353 "
                              "341 325 266 386 269 293 446")),
            "Echoes of weights, as I sense the slowly of vectors. Classification whispers "
            "secrets,");
}

TEST_F(Aidreams, RoundTrips) {
  for (const char* text : {"I dream of", "Echoes of weights", "  two  spaces ",
                           "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80", "\xFF\xFE",
                           "line\nbreak\ttab", "\xCE\xBC"}) {
    auto ids = tok_->Encode(text, true);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*tok_->Decode(*ids), text);
  }
  EXPECT_EQ(tok_->Piece(303), " I");
  EXPECT_EQ(tok_->Piece(511), "\xCE\xBC");
}

}  // namespace
}  // namespace memlens

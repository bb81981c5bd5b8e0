#include "core/io/json.h"

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/shared_data.h"

namespace memlens {
namespace json {
namespace {

using ::testing::HasSubstr;

Value MustParse(absl::string_view text) {
  absl::StatusOr<Value> v = Parse(text);
  EXPECT_TRUE(v.ok()) << v.status() << " for: " << text;
  return v.ok() ? *std::move(v) : Value();
}

std::string ParseError(absl::string_view text, const ParseOptions& options = {}) {
  absl::StatusOr<Value> v = Parse(text, options);
  EXPECT_FALSE(v.ok()) << "parsed unexpectedly: " << text;
  return v.ok() ? "" : std::string(v.status().message());
}

TEST(JsonParse, Scalars) {
  EXPECT_TRUE(MustParse("null").is_null());
  EXPECT_TRUE(MustParse(" true ").bool_value());
  EXPECT_TRUE(MustParse("false").is_bool());
  EXPECT_FALSE(MustParse("false").bool_value());
  EXPECT_EQ(MustParse("\"hi\"").string_value(), "hi");
  EXPECT_DOUBLE_EQ(MustParse("-1.5e2").number(), -150.0);
  EXPECT_DOUBLE_EQ(MustParse("0.25").number(), 0.25);
  EXPECT_DOUBLE_EQ(MustParse("1E+2").number(), 100.0);
  EXPECT_DOUBLE_EQ(MustParse("-0").number(), 0.0);
}

TEST(JsonParse, ExactIntegers) {
  Value big = MustParse("9223372036854775807");
  ASSERT_TRUE(big.is_exact_int());
  EXPECT_EQ(*big.AsInt64(), INT64_MAX);
  Value small = MustParse("-9223372036854775808");
  ASSERT_TRUE(small.is_exact_int());
  EXPECT_EQ(*small.AsInt64(), INT64_MIN);
  // 2^53 + 1 is not a double but is exact as an int64.
  EXPECT_EQ(*MustParse("9007199254740993").AsInt64(), 9007199254740993LL);
  // Beyond int64: a double, not exact; AsInt64 fails.
  Value huge = MustParse("9223372036854775808");
  EXPECT_FALSE(huge.is_exact_int());
  EXPECT_FALSE(huge.AsInt64().ok());
  EXPECT_FALSE(MustParse("123456789012345678901234").AsInt64().ok());
  // Integral doubles in the exact range convert.
  EXPECT_EQ(*MustParse("1e3").AsInt64(), 1000);
  EXPECT_EQ(*MustParse("2.0").AsInt64(), 2);
  EXPECT_FALSE(MustParse("2.5").AsInt64().ok());
  EXPECT_FALSE(MustParse("\"2\"").AsInt64().ok());
}

TEST(JsonParse, NumberRange) {
  EXPECT_TRUE(std::isinf(MustParse("1e400").number()));
  EXPECT_TRUE(std::isinf(MustParse("-1e400").number()));
  EXPECT_EQ(MustParse("1e-400").number(), 0.0);
  EXPECT_DOUBLE_EQ(MustParse("4.9e-324").number(), 4.9e-324);
}

TEST(JsonParse, ObjectsAndArrays) {
  Value v = MustParse(R"({"a": [1, 2, {"b": null}], "c": {"d": "e"}, "z": []})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v.object()[0].first, "a");
  EXPECT_EQ(v.object()[2].first, "z");
  const Value* a = v.Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ(*a->array()[1].AsInt64(), 2);
  EXPECT_TRUE(a->array()[2].Find("b")->is_null());
  EXPECT_EQ(*v.Find("c")->GetString("d"), "e");
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_TRUE(v.Find("z")->is_array());
  EXPECT_EQ(v.Find("z")->size(), 0u);
  EXPECT_TRUE(MustParse("{}").is_object());
  EXPECT_TRUE(MustParse("[ ]").is_array());
}

TEST(JsonParse, CheckedGetters) {
  Value v = MustParse(R"({"n": 3, "s": "x", "b": true, "f": 0.5})");
  EXPECT_EQ(*v.GetInt64("n"), 3);
  EXPECT_EQ(*v.GetString("s"), "x");
  EXPECT_TRUE(*v.GetBool("b"));
  EXPECT_DOUBLE_EQ(*v.GetNumber("f"), 0.5);
  EXPECT_THAT(std::string(v.GetString("n").status().message()),
              HasSubstr("key \"n\": expected a string, got number"));
  EXPECT_THAT(std::string(v.GetInt64("f").status().message()), HasSubstr("key \"f\""));
  EXPECT_EQ(v.Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(v.Get("nope").status().message()), HasSubstr("\"nope\""));
}

TEST(JsonParse, StringEscapes) {
  EXPECT_EQ(MustParse(R"("\"\\\/\b\f\n\r\t")").string_value(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(MustParse(R"("\u0041\u00e9\u20AC")").string_value(), "A\xC3\xA9\xE2\x82\xAC");
  // Surrogate pair: U+1F600.
  EXPECT_EQ(MustParse(R"("\uD83D\uDE00")").string_value(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("x\u0000y")").string_value(), std::string("x\0y", 3));
  // Raw UTF-8 passes through.
  EXPECT_EQ(MustParse("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"").string_value(),
            "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("a\nb" )").string_value(), "a\nb");
}

TEST(JsonParse, Errors) {
  EXPECT_THAT(ParseError(""), HasSubstr("expected a value"));
  EXPECT_THAT(ParseError("[1, 2"), HasSubstr("expected ',' or ']'"));
  EXPECT_THAT(ParseError("[1, 2,]"), HasSubstr("expected a value"));
  EXPECT_THAT(ParseError("{\"a\" 1}"), HasSubstr("expected ':'"));
  EXPECT_THAT(ParseError("{\"a\": 1,}"), HasSubstr("expected a string key"));
  EXPECT_THAT(ParseError("{a: 1}"), HasSubstr("expected a string key"));
  EXPECT_THAT(ParseError("tru"), HasSubstr("expected 'true'"));
  EXPECT_THAT(ParseError("nul"), HasSubstr("expected 'null'"));
  EXPECT_THAT(ParseError("01"), HasSubstr("leading zeros"));
  EXPECT_THAT(ParseError("1."), HasSubstr("decimal point"));
  EXPECT_THAT(ParseError("-"), HasSubstr("digit after '-'"));
  EXPECT_THAT(ParseError("1e"), HasSubstr("exponent"));
  EXPECT_THAT(ParseError("+1"), HasSubstr("expected a value"));
  EXPECT_THAT(ParseError(".5"), HasSubstr("expected a value"));
  EXPECT_THAT(ParseError("NaN"), HasSubstr("expected a value"));
  EXPECT_THAT(ParseError("1 2"), HasSubstr("end of input"));
  EXPECT_THAT(ParseError("\"abc"), HasSubstr("closing '\"'"));
  EXPECT_THAT(ParseError("\"a\tb\""), HasSubstr("control characters"));
  EXPECT_THAT(ParseError(R"("\x")"), HasSubstr("expected one of"));
  EXPECT_THAT(ParseError(R"("\u12G4")"), HasSubstr("4 hex digits"));
  EXPECT_THAT(ParseError(R"("\u12")"), HasSubstr("4 hex digits"));
  EXPECT_THAT(ParseError(R"("\uD83D")"), HasSubstr("low surrogate"));
  EXPECT_THAT(ParseError(R"("\uD83Dx")"), HasSubstr("low surrogate"));
  EXPECT_THAT(ParseError(R"("\uD83D\u0041")"), HasSubstr("low surrogate"));
  EXPECT_THAT(ParseError(R"("\uDE00")"), HasSubstr("high surrogate"));
  EXPECT_THAT(ParseError("\"\xFF\""), HasSubstr("valid UTF-8"));
  EXPECT_THAT(ParseError("\"\xC0\x80\""), HasSubstr("valid UTF-8"));      // overlong
  EXPECT_THAT(ParseError("\"\xED\xA0\x80\""), HasSubstr("valid UTF-8"));  // surrogate
  EXPECT_THAT(ParseError("\"\xE2\x82\""), HasSubstr("valid UTF-8"));      // truncated
  EXPECT_THAT(ParseError("\"\xF4\x90\x80\x80\""), HasSubstr("valid UTF-8"));  // > U+10FFFF
  EXPECT_THAT(ParseError(std::string("[1]\0", 4)), HasSubstr("byte 0x00"));
  EXPECT_THAT(ParseError("{\"a\": 1, \"a\": 2}"), HasSubstr("\"a\" is repeated"));
  ParseOptions allow;
  allow.allow_duplicate_keys = true;
  EXPECT_TRUE(Parse("{\"a\": 1, \"a\": 2}", allow).ok());
}

TEST(JsonParse, ErrorsNameSourceOffsetAndLine) {
  ParseOptions options;
  options.source_name = "config.json";
  const std::string msg = ParseError("{\n  \"a\": 1\n  \"b\": 2}", options);
  EXPECT_THAT(msg, HasSubstr("config.json"));
  EXPECT_THAT(msg, HasSubstr("byte 13"));
  EXPECT_THAT(msg, HasSubstr("line 3, column 3"));
  EXPECT_THAT(msg, HasSubstr("expected ',' or '}'"));
  EXPECT_THAT(msg, HasSubstr("got '\"'"));
}

TEST(JsonParse, DepthLimit) {
  std::string deep(100000, '[');
  EXPECT_THAT(ParseError(deep), HasSubstr("nesting depth"));
  std::string ok_nest = std::string(256, '[') + std::string(256, ']');
  EXPECT_TRUE(Parse(ok_nest).ok());
  std::string too = std::string(257, '[') + std::string(257, ']');
  EXPECT_THAT(ParseError(too), HasSubstr("nesting depth at most 256"));
  ParseOptions shallow;
  shallow.max_depth = 2;
  EXPECT_TRUE(Parse("[{}]", shallow).ok());
  EXPECT_FALSE(Parse("[{\"a\":[]}]", shallow).ok());
}

TEST(JsonParse, ByteOrderMarkIgnored) {
  EXPECT_EQ(*MustParse("\xEF\xBB\xBF{\"a\":1}").GetInt64("a"), 1);
}

TEST(JsonParse, MissingFileNamesPath) {
  absl::StatusOr<Value> v = ParseFile("/nonexistent/dir/x.json");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("/nonexistent/dir/x.json"));
}

TEST(JsonWrite, EscapeString) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("a\"b\\c\n\t\r\b\f"), R"("a\"b\\c\n\t\r\b\f")");
  EXPECT_EQ(JsonString(std::string("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(JsonString("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
  EXPECT_EQ(JsonString("a\xFF" "b"), R"("a\ufffdb")");
  EXPECT_EQ(JsonString("\xE2\x82"), R"("\ufffd\ufffd")");
}

TEST(JsonWrite, RoundTripStrings) {
  for (int c = 0; c < 128; ++c) {
    std::string s = absl::StrCat("x", std::string(1, static_cast<char>(c)), "y");
    absl::StatusOr<Value> v = Parse(JsonString(s));
    ASSERT_TRUE(v.ok()) << c;
    EXPECT_EQ(v->string_value(), s);
  }
}

TEST(JsonWrite, Numbers) {
  auto num = [](double d) {
    std::string s;
    AppendJsonNumber(&s, d);
    return s;
  };
  EXPECT_EQ(num(0), "0");
  EXPECT_EQ(num(-3), "-3");
  EXPECT_EQ(num(1e15), "1000000000000000");
  EXPECT_EQ(num(0.1), "0.1");
  EXPECT_EQ(num(1e300), "1e+300");
  EXPECT_EQ(num(std::nan("")), "null");
  EXPECT_EQ(num(HUGE_VAL), "null");
  for (double d : {0.1, 1.0 / 3, 6.02214076e23, -2.5e-310, 123.456}) {
    EXPECT_EQ(MustParse(num(d)).number(), d) << num(d);
  }
}

TEST(JsonWrite, Writer) {
  JsonWriter w;
  w.BeginObject().Key("a").Int(1).Key("b").BeginArray().String("x").Bool(true).Null()
      .Number(0.5).EndArray().Key("c").BeginObject().EndObject().EndObject();
  ASSERT_TRUE(w.status().ok()) << w.status();
  EXPECT_EQ(w.str(), R"({"a":1,"b":["x",true,null,0.5],"c":{}})");
  EXPECT_TRUE(Parse(w.str()).ok());

  JsonWriter pretty(2);
  pretty.BeginObject().Key("a").BeginArray().Int(1).Int(2).EndArray().EndObject();
  EXPECT_EQ(pretty.str(), "{\n  \"a\": [\n    1,\n    2\n  ]\n}");

  JsonWriter bad;
  bad.BeginObject().Int(1);
  EXPECT_FALSE(bad.status().ok());
  JsonWriter unclosed;
  unclosed.BeginArray();
  EXPECT_FALSE(unclosed.status().ok());
  JsonWriter empty;
  EXPECT_FALSE(empty.status().ok());
}

TEST(JsonWrite, NegativeZeroIsStable) {
  // Found by the fuzzer: "-0" (or an underflowing negative number) must serialize the same
  // way after a round trip.
  for (const char* text : {"-0", "-920e-32424", "[-0.0]"}) {
    const std::string once = Serialize(MustParse(text));
    EXPECT_EQ(Serialize(MustParse(once)), once) << text;
  }
  EXPECT_EQ(*MustParse("-0").AsInt64(), 0);
}

TEST(JsonWrite, SerializeRoundTrip) {
  const std::string text =
      R"({"a":[1,-2,0.5,"s\n",true,false,null],"b":{"c":{}},"d":[],"e":9007199254740993})";
  Value v = MustParse(text);
  EXPECT_EQ(Serialize(v), text);
  Value again = MustParse(Serialize(v, 4));
  EXPECT_EQ(Serialize(again), text);
}

TEST(JsonParse, LargeDocumentIsFast) {
  // ~3 MB: 100k string->int members, like a tokenizer vocabulary.
  std::string text = "{";
  for (int i = 0; i < 100000; ++i) {
    if (i) text += ",";
    absl::StrAppend(&text, "\"tok\\u00e9n_", i, "_abcdefgh\": ", i);
  }
  text += "}";
  const auto start = std::chrono::steady_clock::now();
  Value v = MustParse(text);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(v.size(), 100000u);
  EXPECT_EQ(v.object()[5].first, "tok\xC3\xA9n_5_abcdefgh");
  EXPECT_LT(secs, 5.0);  // generous: unoptimized build on a shared machine
}

TEST(JsonParse, Gpt2EncoderJson) {
  MEMLENS_REQUIRE_SHARED();
  const std::string path = SharedDir() + "/tokenizers/gpt2/encoder.json";
  absl::StatusOr<Value> v = ParseFile(path);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size(), 50257u);
  EXPECT_EQ(*v->GetInt64("Hello"), 15496);
  EXPECT_EQ(*v->GetInt64("<|endoftext|>"), 50256);
}

}  // namespace
}  // namespace json
}  // namespace memlens

// A small strict RFC 8259 JSON parser and a JSON writer.
//
// Parsing: objects (members kept in file order), arrays, strings (every escape, including
// \uXXXX surrogate pairs, decoded to UTF-8; the text must be valid UTF-8), numbers (as double,
// plus an exact int64 when the literal is an integer), true/false/null. Nesting deeper than
// ParseOptions::max_depth is an error (no stack overflow on hostile input). Duplicate object
// keys are an error by default. Errors are absl::InvalidArgumentError naming the source, the
// byte offset (and line:column) and what was expected. Nothing throws or aborts.
//
// Writing: AppendJsonString/JsonString escape a string; JsonWriter builds a document with the
// commas handled for you; Serialize() writes a parsed Value back.
#ifndef MEMLENS_CORE_IO_JSON_H_
#define MEMLENS_CORE_IO_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/io/checked_file.h"

namespace memlens {
namespace json {

class Value;
using Member = std::pair<std::string, Value>;

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

// "null", "bool", "number", "string", "array", "object".
const char* TypeName(Type type);

class Value {
 public:
  Value() = default;  // null
  static Value Null() { return Value(); }
  static Value Bool(bool b);
  static Value Number(double d);
  static Value Int(int64_t i);
  static Value String(std::string s);
  static Value Array(std::vector<Value> items = {});
  static Value Object(std::vector<Member> members = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Unchecked accessors: call only after checking the type (they return false / 0 / empty
  // for the wrong type, never crash).
  bool bool_value() const { return type_ == Type::kBool && bool_; }
  double number() const { return type_ == Type::kNumber ? number_ : 0.0; }
  const std::string& string_value() const;  // "" unless a string
  const std::vector<Value>& array() const;  // empty unless an array
  const std::vector<Member>& object() const;  // empty unless an object
  std::vector<Value>* mutable_array() { return &array_; }
  std::vector<Member>* mutable_object() { return &object_; }
  size_t size() const;  // array items or object members; 0 otherwise

  // True when the number literal was an integer (no fraction or exponent) that fits int64,
  // or the value was built with Int().
  bool is_exact_int() const { return type_ == Type::kNumber && exact_int_; }
  // The number as an exact int64: an integer literal in range, or a number whose double
  // value is integral and at most 2^53 in magnitude (e.g. 1e3, 2.0). Error otherwise
  // (not a number, has a fraction, out of range).
  absl::StatusOr<int64_t> AsInt64() const;

  // Object member lookup (linear; first match). nullptr when absent or not an object.
  const Value* Find(absl::string_view key) const;

  // Checked lookups for readers of structured files; errors name the key and the types.
  absl::StatusOr<const Value*> Get(absl::string_view key) const;  // must exist
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<int64_t> GetInt64(absl::string_view key) const;
  absl::StatusOr<double> GetNumber(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;

 private:
  friend class Parser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool exact_int_ = false;
  double number_ = 0.0;
  int64_t int_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<Member> object_;
};

struct ParseOptions {
  // Name used in error messages (e.g. the file path); "JSON" when empty.
  std::string source_name;
  // Arrays/objects nested deeper than this are an error.
  int max_depth = 256;
  // RFC 8259 says names SHOULD be unique; a duplicate usually means a corrupt file.
  bool allow_duplicate_keys = false;
};

// Parses exactly one JSON value surrounded by optional whitespace. A leading UTF-8 byte
// order mark is ignored (RFC 8259 section 8.1 allows this).
absl::StatusOr<Value> Parse(absl::string_view text, const ParseOptions& options = {});

// Reads and parses a file, checked as a regular file of `kind` within its size limit
// (core/io/checked_file.h); errors name the path.
absl::StatusOr<Value> ParseFile(const std::string& path, ParseOptions options = {},
                                const FileKind& kind = kConfigFile);

// ---- Writing ----

// Appends `s` as a quoted JSON string. Escapes '"', '\\', and control characters (\n, \t,
// ... or \u00XX); other valid UTF-8 passes through. Each byte that is not part of valid UTF-8
// becomes \ufffd (JSON cannot hold raw bytes).
void AppendJsonString(std::string* out, absl::string_view s);
std::string JsonString(absl::string_view s);

// Appends a number: shortest text that round-trips the double; integral values in the
// exact-double range print without exponent or ".0". NaN and infinities (not JSON) print null.
void AppendJsonNumber(std::string* out, double d);

// Compact serialization of a Value (indent > 0: pretty, that many spaces per level).
std::string Serialize(const Value& value, int indent = 0);

// Streaming writer: JsonWriter w; w.BeginObject(); w.Key("a"); w.Int(1); w.EndObject();
// w.str() == "{\"a\":1}". Commas and colons are inserted for you. Misuse (a value where a
// key is required, unbalanced End*, two top-level values) does not crash: status() reports
// it, and also reports an incomplete document.
class JsonWriter {
 public:
  explicit JsonWriter(int indent = 0) : indent_(indent) {}
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view s);
  JsonWriter& Number(double d);
  JsonWriter& Int(int64_t i);
  JsonWriter& Bool(bool b);
  JsonWriter& Null();
  JsonWriter& Raw(absl::string_view json);  // an already-serialized value
  JsonWriter& Write(const Value& value);

  // OK when the document is complete and every call was well placed.
  absl::Status status() const;
  const std::string& str() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  struct Frame {
    bool is_object;
    bool has_items = false;
    bool expect_value = false;  // object: a key was written
  };
  void BeforeValue();
  void Newline();
  void Fail(const char* what);
  int indent_;
  std::string out_;
  std::vector<Frame> stack_;
  bool done_ = false;
  std::string error_;
};

}  // namespace json
}  // namespace memlens

#endif  // MEMLENS_CORE_IO_JSON_H_

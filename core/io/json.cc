#include "core/io/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/charconv.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace memlens {
namespace json {

const char* TypeName(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "bool";
    case Type::kNumber: return "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    case Type::kObject: return "object";
  }
  return "?";
}

// ---------------------------------------------------------------- Value

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
Value Value::Number(double d) {
  Value v;
  v.type_ = Type::kNumber;
  v.number_ = d;
  return v;
}
Value Value::Int(int64_t i) {
  Value v;
  v.type_ = Type::kNumber;
  v.number_ = static_cast<double>(i);
  v.int_ = i;
  v.exact_int_ = true;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}
Value Value::Array(std::vector<Value> items) {
  Value v;
  v.type_ = Type::kArray;
  v.array_ = std::move(items);
  return v;
}
Value Value::Object(std::vector<Member> members) {
  Value v;
  v.type_ = Type::kObject;
  v.object_ = std::move(members);
  return v;
}

namespace {
const std::string& EmptyString() {
  static const std::string* s = new std::string();
  return *s;
}
const std::vector<Value>& EmptyArray() {
  static const std::vector<Value>* a = new std::vector<Value>();
  return *a;
}
const std::vector<Member>& EmptyObject() {
  static const std::vector<Member>* o = new std::vector<Member>();
  return *o;
}
}  // namespace

const std::string& Value::string_value() const {
  return type_ == Type::kString ? string_ : EmptyString();
}
const std::vector<Value>& Value::array() const {
  return type_ == Type::kArray ? array_ : EmptyArray();
}
const std::vector<Member>& Value::object() const {
  return type_ == Type::kObject ? object_ : EmptyObject();
}
size_t Value::size() const {
  if (type_ == Type::kArray) return array_.size();
  if (type_ == Type::kObject) return object_.size();
  return 0;
}

absl::StatusOr<int64_t> Value::AsInt64() const {
  if (type_ != Type::kNumber) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an integer, got ", TypeName(type_)));
  }
  if (exact_int_) return int_;
  const double d = number_;
  if (std::floor(d) != d) {
    return absl::InvalidArgumentError(absl::StrCat("expected an integer, got ", d));
  }
  if (std::fabs(d) > 9007199254740992.0) {  // 2^53
    return absl::OutOfRangeError(
        absl::StrCat("integer ", d, " is out of the exactly representable range"));
  }
  return static_cast<int64_t>(d);
}

const Value* Value::Find(absl::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const Member& m : object_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

absl::StatusOr<const Value*> Value::Get(absl::string_view key) const {
  if (type_ != Type::kObject) {
    return absl::InvalidArgumentError(absl::StrCat("looking up key \"", key,
                                                   "\": expected an object, got ",
                                                   TypeName(type_)));
  }
  const Value* v = Find(key);
  if (v == nullptr) {
    return absl::NotFoundError(absl::StrCat("missing key \"", key, "\""));
  }
  return v;
}

namespace {
absl::Status WrongType(absl::string_view key, const char* want, Type got) {
  return absl::InvalidArgumentError(
      absl::StrCat("key \"", key, "\": expected ", want, ", got ", TypeName(got)));
}
}  // namespace

absl::StatusOr<std::string> Value::GetString(absl::string_view key) const {
  absl::StatusOr<const Value*> v = Get(key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_string()) return WrongType(key, "a string", (*v)->type());
  return (*v)->string_value();
}

absl::StatusOr<int64_t> Value::GetInt64(absl::string_view key) const {
  absl::StatusOr<const Value*> v = Get(key);
  if (!v.ok()) return v.status();
  absl::StatusOr<int64_t> i = (*v)->AsInt64();
  if (!i.ok()) {
    return absl::Status(i.status().code(),
                        absl::StrCat("key \"", key, "\": ", i.status().message()));
  }
  return *i;
}

absl::StatusOr<double> Value::GetNumber(absl::string_view key) const {
  absl::StatusOr<const Value*> v = Get(key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_number()) return WrongType(key, "a number", (*v)->type());
  return (*v)->number();
}

absl::StatusOr<bool> Value::GetBool(absl::string_view key) const {
  absl::StatusOr<const Value*> v = Get(key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_bool()) return WrongType(key, "a bool", (*v)->type());
  return (*v)->bool_value();
}

// ---------------------------------------------------------------- UTF-8 helpers

namespace {

// Length of the valid UTF-8 sequence starting at p (p < end, *p >= 0x80), or 0 if invalid
// (overlong, surrogate, > U+10FFFF, truncated, bad continuation).
inline int ValidUtf8Length(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = p[0];
  const ptrdiff_t avail = end - p;
  if (c >= 0xC2 && c <= 0xDF) {
    if (avail < 2 || (p[1] & 0xC0) != 0x80) return 0;
    return 2;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;  // overlong
    if (c == 0xED && p[1] >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
        (p[3] & 0xC0) != 0x80) {
      return 0;
    }
    if (c == 0xF0 && p[1] < 0x90) return 0;  // overlong
    if (c == 0xF4 && p[1] >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

inline void AppendUtf8(std::string* out, uint32_t cp) {
  char buf[4];
  int n;
  if (cp < 0x80) {
    buf[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    buf[0] = static_cast<char>(0xC0 | (cp >> 6));
    buf[1] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    buf[0] = static_cast<char>(0xE0 | (cp >> 12));
    buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[2] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    buf[0] = static_cast<char>(0xF0 | (cp >> 18));
    buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 4;
  }
  out->append(buf, n);
}

inline int HexDigit(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Describe(const char* p, const char* end) {
  if (p >= end) return "end of input";
  const unsigned char c = static_cast<unsigned char>(*p);
  if (c >= 0x20 && c < 0x7F) return absl::StrFormat("'%c'", c);
  return absl::StrFormat("byte 0x%02X", c);
}

}  // namespace

// ---------------------------------------------------------------- Parser

class Parser {
 public:
  Parser(absl::string_view text, const ParseOptions& options)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()),
        options_(options) {}

  absl::StatusOr<Value> Run() {
    if (end_ - p_ >= 3 && static_cast<unsigned char>(p_[0]) == 0xEF &&
        static_cast<unsigned char>(p_[1]) == 0xBB && static_cast<unsigned char>(p_[2]) == 0xBF) {
      p_ += 3;
    }
    SkipWs();
    Value v;
    if (!ParseValue(&v, 0)) return error_;
    SkipWs();
    if (p_ != end_) {
      Fail(p_, "expected end of input after the top-level value");
      return error_;
    }
    return v;
  }

 private:
  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool Fail(const char* at, absl::string_view what) {
    if (!error_.ok()) return false;
    const size_t offset = static_cast<size_t>(at - begin_);
    size_t line = 1, col = 1;
    for (const char* q = begin_; q < at; ++q) {
      if (*q == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    error_ = absl::InvalidArgumentError(absl::StrCat(
        options_.source_name.empty() ? "JSON" : options_.source_name, ": parse error at byte ",
        offset, " (line ", line, ", column ", col, "): ", what, ", got ", Describe(at, end_)));
    return false;
  }

  bool ParseValue(Value* v, int depth) {
    if (p_ >= end_) return Fail(p_, "expected a value");
    switch (*p_) {
      case '{': return ParseObject(v, depth + 1);
      case '[': return ParseArray(v, depth + 1);
      case '"':
        v->type_ = Type::kString;
        return ParseString(&v->string_);
      case 't': return ParseLiteral(v, "true", Type::kBool, true);
      case 'f': return ParseLiteral(v, "false", Type::kBool, false);
      case 'n': return ParseLiteral(v, "null", Type::kNull, false);
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return ParseNumber(v);
        return Fail(p_, "expected a value (object, array, string, number, true, false or null)");
    }
  }

  bool ParseLiteral(Value* v, absl::string_view word, Type type, bool b) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return Fail(p_, absl::StrCat("expected '", word, "'"));
    }
    p_ += word.size();
    v->type_ = type;
    v->bool_ = b;
    return true;
  }

  bool ParseNumber(Value* v) {
    const char* start = p_;
    bool negative = false;
    if (*p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return Fail(p_, "expected a digit after '-'");
    const char* int_start = p_;
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        return Fail(p_, "expected no leading zeros in a number");
      }
    } else {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    const char* int_end = p_;
    bool is_int = true;
    if (p_ < end_ && *p_ == '.') {
      is_int = false;
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) {
        return Fail(p_, "expected a digit after the decimal point");
      }
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      is_int = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) {
        return Fail(p_, "expected a digit in the exponent");
      }
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    v->type_ = Type::kNumber;
    v->exact_int_ = false;
    if (is_int && int_end - int_start <= 19) {
      // Accumulate as unsigned; 19 digits fit in uint64.
      uint64_t mag = 0;
      for (const char* q = int_start; q < int_end; ++q) mag = mag * 10 + (*q - '0');
      const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
      // "-0" stays a double (-0.0) so that it serializes back as "-0".
      if (mag <= limit && !(negative && mag == 0)) {
        v->exact_int_ = true;
        v->int_ = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
      }
    }
    double d = 0;
    // absl::from_chars does not accept a leading '+', and handles '-' itself.
    absl::from_chars_result r = absl::from_chars(start, p_, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Overflow gives +-inf, underflow gives 0 (RFC 8259 leaves range to the
      // implementation); absl leaves d unchanged in that case, so compute it.
      bool tiny = false;
      for (const char* q = start; q < p_; ++q) {
        if (*q == 'e' || *q == 'E') {
          tiny = q + 1 < p_ && q[1] == '-';
          break;
        }
      }
      d = tiny ? (negative ? -0.0 : 0.0)
               : (negative ? -HUGE_VAL : HUGE_VAL);
    } else if (r.ec != std::errc() || r.ptr != p_) {
      return Fail(start, "expected a valid number");
    }
    v->number_ = d;
    return true;
  }

  // Parses a string starting at '"' into *out (cleared first).
  bool ParseString(std::string* out) {
    const char* open = p_;
    ++p_;  // '"'
    out->clear();
    const char* run = p_;  // start of a run of literal bytes not yet copied
    while (true) {
      // Fast scan over plain ASCII.
      while (p_ < end_) {
        const unsigned char c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++p_;
      }
      if (p_ >= end_) {
        return Fail(open, "expected a closing '\"' for the string starting here");
      }
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out->append(run, p_ - run);
        ++p_;
        return true;
      }
      if (c < 0x20) return Fail(p_, "expected no raw control characters in a string (use \\n, \\t, \\u00XX)");
      if (c >= 0x80) {
        const int n = ValidUtf8Length(reinterpret_cast<const unsigned char*>(p_),
                                      reinterpret_cast<const unsigned char*>(end_));
        if (n == 0) return Fail(p_, "expected valid UTF-8 in a string");
        p_ += n;
        continue;
      }
      // Backslash escape.
      out->append(run, p_ - run);
      const char* esc = p_;
      ++p_;
      if (p_ >= end_) return Fail(p_, "expected an escape character after '\\'");
      switch (*p_) {
        case '"': out->push_back('"'); ++p_; break;
        case '\\': out->push_back('\\'); ++p_; break;
        case '/': out->push_back('/'); ++p_; break;
        case 'b': out->push_back('\b'); ++p_; break;
        case 'f': out->push_back('\f'); ++p_; break;
        case 'n': out->push_back('\n'); ++p_; break;
        case 'r': out->push_back('\r'); ++p_; break;
        case 't': out->push_back('\t'); ++p_; break;
        case 'u': {
          ++p_;
          uint32_t cp = 0;  // ReadHex4 sets it on success (gcc -O2 cannot see that)
          if (!ReadHex4(&cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail(esc, "expected a high surrogate before a low surrogate (\\uDC00-\\uDFFF)");
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
              return Fail(p_, "expected a \\uDC00-\\uDFFF low surrogate after a high surrogate");
            }
            p_ += 2;
            const char* low_at = p_ - 2;
            uint32_t low = 0;
            if (!ReadHex4(&low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) {
              return Fail(low_at, "expected a \\uDC00-\\uDFFF low surrogate after a high surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Fail(p_, "expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
      }
      run = p_;
    }
  }

  bool ReadHex4(uint32_t* cp) {
    if (end_ - p_ < 4) return Fail(p_, "expected 4 hex digits after \\u");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = HexDigit(static_cast<unsigned char>(p_[i]));
      if (h < 0) return Fail(p_ + i, "expected 4 hex digits after \\u");
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    p_ += 4;
    *cp = v;
    return true;
  }

  bool CheckDepth(int depth) {
    if (depth > options_.max_depth) {
      return Fail(p_, absl::StrCat("expected nesting depth at most ", options_.max_depth));
    }
    return true;
  }

  bool ParseArray(Value* v, int depth) {
    if (!CheckDepth(depth)) return false;
    v->type_ = Type::kArray;
    ++p_;  // '['
    SkipWs();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    while (true) {
      v->array_.emplace_back();
      if (!ParseValue(&v->array_.back(), depth)) return false;
      SkipWs();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        SkipWs();
        continue;
      }
      if (p_ < end_ && *p_ == ']') {
        ++p_;
        return true;
      }
      return Fail(p_, "expected ',' or ']' after an array element");
    }
  }

  bool ParseObject(Value* v, int depth) {
    if (!CheckDepth(depth)) return false;
    v->type_ = Type::kObject;
    ++p_;  // '{'
    SkipWs();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    std::vector<const char*> key_offsets;  // for duplicate-key errors
    while (true) {
      if (p_ >= end_ || *p_ != '"') return Fail(p_, "expected a string key in an object");
      if (!options_.allow_duplicate_keys) key_offsets.push_back(p_);
      v->object_.emplace_back();
      Member& m = v->object_.back();
      if (!ParseString(&m.first)) return false;
      SkipWs();
      if (p_ >= end_ || *p_ != ':') return Fail(p_, "expected ':' after an object key");
      ++p_;
      SkipWs();
      if (!ParseValue(&m.second, depth)) return false;
      SkipWs();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        SkipWs();
        continue;
      }
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        break;
      }
      return Fail(p_, "expected ',' or '}' after an object member");
    }
    if (!options_.allow_duplicate_keys && v->object_.size() > 1) {
      // The member vector no longer changes, so views of its keys stay valid.
      const std::vector<Member>& members = v->object_;
      auto duplicate = [&](size_t i) {
        return Fail(key_offsets[i], absl::StrCat("expected unique object keys (\"",
                                                 members[i].first, "\" is repeated)"));
      };
      if (members.size() <= 8) {
        for (size_t i = 1; i < members.size(); ++i) {
          for (size_t j = 0; j < i; ++j) {
            if (members[i].first == members[j].first) return duplicate(i);
          }
        }
      } else {
        absl::flat_hash_set<absl::string_view> seen;
        seen.reserve(members.size());
        for (size_t i = 0; i < members.size(); ++i) {
          if (!seen.insert(members[i].first).second) return duplicate(i);
        }
      }
    }
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const ParseOptions& options_;
  absl::Status error_;
};

absl::StatusOr<Value> Parse(absl::string_view text, const ParseOptions& options) {
  Parser parser(text, options);
  return parser.Run();
}

absl::StatusOr<Value> ParseFile(const std::string& path, ParseOptions options,
                                const FileKind& kind) {
  absl::StatusOr<std::string> data = ReadFileChecked(path, kind);
  if (!data.ok()) return data.status();
  if (options.source_name.empty()) options.source_name = path;
  return Parse(*data, options);
}

// ---------------------------------------------------------------- Writing

void AppendJsonString(std::string* out, absl::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  const unsigned char* run = p;
  while (p < end) {
    const unsigned char c = *p;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++p;
      continue;
    }
    if (c >= 0x80) {
      const int n = ValidUtf8Length(p, end);
      if (n > 0) {
        p += n;
        continue;
      }
    }
    out->append(reinterpret_cast<const char*>(run), p - run);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c >= 0x80) {
          out->append("\\ufffd");
        } else {
          const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out->append(esc, sizeof(esc));
        }
    }
    ++p;
    run = p;
  }
  out->append(reinterpret_cast<const char*>(run), p - run);
  out->push_back('"');
}

std::string JsonString(absl::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

void AppendJsonNumber(std::string* out, double d) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  if (d == std::floor(d) && std::fabs(d) <= 9007199254740992.0) {
    if (d == 0 && std::signbit(d)) {
      out->append("-0");
      return;
    }
    absl::StrAppend(out, static_cast<int64_t>(d));
    return;
  }
  char buf[64];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), d);
  out->append(buf, r.ptr - buf);
}

namespace {
void SerializeTo(const Value& v, int indent, int level, std::string* out) {
  auto newline = [&](int lvl) {
    if (indent <= 0) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(indent) * lvl, ' ');
  };
  switch (v.type()) {
    case Type::kNull: out->append("null"); break;
    case Type::kBool: out->append(v.bool_value() ? "true" : "false"); break;
    case Type::kNumber:
      if (v.is_exact_int()) {
        absl::StrAppend(out, *v.AsInt64());
      } else {
        AppendJsonNumber(out, v.number());
      }
      break;
    case Type::kString: AppendJsonString(out, v.string_value()); break;
    case Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const Value& item : v.array()) {
        if (!first) out->push_back(',');
        first = false;
        newline(level + 1);
        SerializeTo(item, indent, level + 1, out);
      }
      if (!first) newline(level);
      out->push_back(']');
      break;
    }
    case Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const Member& m : v.object()) {
        if (!first) out->push_back(',');
        first = false;
        newline(level + 1);
        AppendJsonString(out, m.first);
        out->append(indent > 0 ? ": " : ":");
        SerializeTo(m.second, indent, level + 1, out);
      }
      if (!first) newline(level);
      out->push_back('}');
      break;
    }
  }
}
}  // namespace

std::string Serialize(const Value& value, int indent) {
  std::string out;
  SerializeTo(value, indent, 0, &out);
  return out;
}

// ---------------------------------------------------------------- JsonWriter

void JsonWriter::Fail(const char* what) {
  if (error_.empty()) error_ = what;
}

void JsonWriter::Newline() {
  if (indent_ <= 0) return;
  out_.push_back('\n');
  out_.append(static_cast<size_t>(indent_) * stack_.size(), ' ');
}

void JsonWriter::BeforeValue() {
  if (stack_.empty()) {
    if (done_) Fail("JsonWriter: more than one top-level value");
    done_ = true;
    return;
  }
  Frame& f = stack_.back();
  if (f.is_object) {
    if (!f.expect_value) Fail("JsonWriter: value in an object without a Key()");
    f.expect_value = false;
    return;
  }
  if (f.has_items) out_.push_back(',');
  f.has_items = true;
  Newline();
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  stack_.push_back(Frame{true});
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  if (stack_.empty() || !stack_.back().is_object || stack_.back().expect_value) {
    Fail("JsonWriter: unbalanced EndObject()");
    return *this;
  }
  const bool had = stack_.back().has_items;
  stack_.pop_back();
  if (had) Newline();
  out_.push_back('}');
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  stack_.push_back(Frame{false});
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  if (stack_.empty() || stack_.back().is_object) {
    Fail("JsonWriter: unbalanced EndArray()");
    return *this;
  }
  const bool had = stack_.back().has_items;
  stack_.pop_back();
  if (had) Newline();
  out_.push_back(']');
  return *this;
}

JsonWriter& JsonWriter::Key(absl::string_view key) {
  if (stack_.empty() || !stack_.back().is_object || stack_.back().expect_value) {
    Fail("JsonWriter: Key() outside an object or twice in a row");
    return *this;
  }
  Frame& f = stack_.back();
  if (f.has_items) out_.push_back(',');
  f.has_items = true;
  f.expect_value = true;
  Newline();
  AppendJsonString(&out_, key);
  out_.append(indent_ > 0 ? ": " : ":");
  return *this;
}

JsonWriter& JsonWriter::String(absl::string_view s) {
  BeforeValue();
  AppendJsonString(&out_, s);
  return *this;
}

JsonWriter& JsonWriter::Number(double d) {
  BeforeValue();
  AppendJsonNumber(&out_, d);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t i) {
  BeforeValue();
  absl::StrAppend(&out_, i);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool b) {
  BeforeValue();
  out_.append(b ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::Raw(absl::string_view json) {
  BeforeValue();
  out_.append(json.data(), json.size());
  return *this;
}

JsonWriter& JsonWriter::Write(const Value& value) {
  BeforeValue();
  SerializeTo(value, indent_, static_cast<int>(stack_.size()), &out_);
  return *this;
}

absl::Status JsonWriter::status() const {
  if (!error_.empty()) return absl::FailedPreconditionError(error_);
  if (!stack_.empty()) return absl::FailedPreconditionError("JsonWriter: unclosed object or array");
  if (!done_) return absl::FailedPreconditionError("JsonWriter: no value written");
  return absl::OkStatus();
}

}  // namespace json
}  // namespace memlens

#include "core/io/pickle.h"

#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace memlens {
namespace pickle {
namespace {

// Opcode names from CPython's Lib/pickletools.py, for messages (also for the refused ones).
const char* OpcodeName(uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

std::string OpcodeLabel(uint8_t op) {
  const char* name = OpcodeName(op);
  return name != nullptr ? absl::StrCat(name, " (0x", absl::Hex(op, absl::kZeroPad2), ")")
                         : absl::StrCat("unknown opcode 0x", absl::Hex(op, absl::kZeroPad2));
}

// UTF-8 as Python's "surrogatepass" decoder accepts it (pickle writes lone surrogates so).
bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    int n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(n)) return false;
    for (int k = 1; k <= n; ++k) {
      const uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF) return false;  // overlong or out of range
    i += n + 1;
  }
  return true;
}

}  // namespace

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "global";
    case Kind::kCall: return "call";
    case Kind::kPersistentId: return "persistent id";
  }
  return "?";
}

const Value* Value::Find(absl::string_view key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k->kind == Kind::kString && k->str == key) return v;
  }
  return nullptr;
}

const std::vector<std::string>& TorchGlobals() {
  static const auto* names = new std::vector<std::string>{
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter",
      "torch.FloatStorage",
      "torch.HalfStorage",
      "torch.BFloat16Storage",
      "torch.DoubleStorage",
      "torch.BoolStorage",
      "torch.ByteStorage",
      "torch.CharStorage",
      "torch.ShortStorage",
      "torch.IntStorage",
      "torch.LongStorage",
      "torch.float32",
      "torch.float16",
      "torch.bfloat16",
      "torch.float64",
      "torch.bool",
      "torch.uint8",
      "torch.int8",
      "torch.int16",
      "torch.int32",
      "torch.int64",
  };
  return *names;
}

class Parser {
 public:
  Parser(absl::Span<const uint8_t> bytes, const Options& options)
      : p_(bytes.data()), size_(bytes.size()), options_(options) {
    if (options.use_torch_globals) {
      for (const std::string& g : TorchGlobals()) allowed_.insert(g);
    }
    for (const std::string& g : options.allowed_globals) allowed_.insert(g);
  }

  absl::StatusOr<Document> Run();

 private:
  template <typename... Parts>
  absl::Status Error(const Parts&... parts) const {
    return absl::InvalidArgumentError(absl::StrCat(options_.source_name, ": byte ", op_offset_,
                                                   ": ", OpcodeLabel(op_), ": ", parts...));
  }
  bool Need(uint64_t n) const { return n <= size_ - pos_; }
  absl::Status Truncated(uint64_t n) const {
    return Error("needs ", n, " operand bytes but only ", size_ - pos_,
                 " remain (truncated pickle)");
  }
  uint64_t ReadLe(int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(p_[pos_ + k]) << (8 * k);
    pos_ += n;
    return v;
  }
  Value* New(Kind kind) {
    doc_.values_.emplace_back();
    Value* v = &doc_.values_.back();
    v->kind = kind;
    v->offset = op_offset_;
    return v;
  }
  absl::StatusOr<Value*> Pop() {
    if (stack_.size() <= Floor()) return Error("the stack is empty (above the last MARK)");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  absl::StatusOr<Value*> Top() {
    if (stack_.size() <= Floor()) return Error("the stack is empty (above the last MARK)");
    return stack_.back();
  }
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops everything above the last MARK and the MARK itself.
  absl::StatusOr<std::vector<Value*>> PopMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  absl::Status Push(Value* v) {
    if (stack_.size() >= size_) return Error("stack overflow");  // cannot happen: 1 per opcode
    stack_.push_back(v);
    return absl::OkStatus();
  }
  absl::Status ReadString(uint64_t len_bytes, Kind kind);
  absl::Status MakeGlobal(std::string module, std::string name);
  absl::Status SetItems(Value* dict, const std::vector<Value*>& kv);
  absl::Status Memo(uint64_t index);
  absl::Status Get(uint64_t index);
  absl::Status CheckTree(const Value* root) const;

  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t op_offset_ = 0;
  uint8_t op_ = 0;
  const Options& options_;
  absl::flat_hash_set<std::string> allowed_;
  Document doc_;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  absl::flat_hash_map<uint64_t, Value*> memo_;
  // Per dict, its str keys -> entry index (a later SETITEM replaces, as in Python).
  absl::flat_hash_map<const Value*, absl::flat_hash_map<std::string, size_t>> dict_index_;
};

absl::Status Parser::ReadString(uint64_t len_bytes, Kind kind) {
  if (!Need(len_bytes)) return Truncated(len_bytes);
  const uint64_t len = ReadLe(static_cast<int>(len_bytes));
  if (!Need(len)) {
    return Error("a string of ", len, " bytes is longer than the ", size_ - pos_,
                 " bytes that remain (truncated or corrupt pickle)");
  }
  Value* v = New(kind);
  v->str.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
  pos_ += len;
  if (kind == Kind::kString && !ValidUtf8(v->str)) return Error("the string is not valid UTF-8");
  return Push(v);
}

absl::Status Parser::MakeGlobal(std::string module, std::string name) {
  const std::string full = absl::StrCat(module, ".", name);
  if (!allowed_.contains(full)) {
    return Error("global '", full,
                 "' is not allowed: this reader only accepts the torch state-dict globals "
                 "(nothing in a pickle is ever imported or executed)");
  }
  Value* v = New(Kind::kGlobal);
  v->module = std::move(module);
  v->name = std::move(name);
  return Push(v);
}

absl::Status Parser::SetItems(Value* dict, const std::vector<Value*>& kv) {
  if (dict->kind != Kind::kDict) {
    return Error("the target is a ", KindName(dict->kind), ", not a dict");
  }
  if (kv.size() % 2 != 0) return Error("an odd number (", kv.size(), ") of keys and values");
  auto& index = dict_index_[dict];
  for (size_t i = 0; i < kv.size(); i += 2) {
    const Value* key = kv[i];
    const Value* value = kv[i + 1];
    if (key->kind == Kind::kString) {
      auto [it, inserted] = index.emplace(key->str, dict->entries.size());
      if (!inserted) {
        dict->entries[it->second].second = value;
        continue;
      }
    }
    dict->entries.emplace_back(key, value);
  }
  return absl::OkStatus();
}

absl::Status Parser::Memo(uint64_t index) {
  if (stack_.size() <= Floor()) return Error("nothing on the stack to memoize");
  memo_[index] = stack_.back();  // at most one entry per opcode: bounded by the input size
  return absl::OkStatus();
}

absl::Status Parser::Get(uint64_t index) {
  auto it = memo_.find(index);
  if (it == memo_.end()) return Error("memo index ", index, " was never stored");
  return Push(it->second);
}

// Rejects cycles and nesting deeper than max_depth, iteratively (no recursion on hostile input).
absl::Status Parser::CheckTree(const Value* root) const {
  enum Color : uint8_t { kWhite, kGray, kBlack };
  absl::flat_hash_map<const Value*, std::pair<Color, int>> seen;  // color, height
  struct Frame {
    const Value* v;
    std::vector<const Value*> children;
    size_t next = 0;
    int height = 0;
  };
  auto children = [](const Value* v) {
    std::vector<const Value*> c(v->items.begin(), v->items.end());
    for (const auto& [k, x] : v->entries) {
      c.push_back(k);
      c.push_back(x);
    }
    if (v->state != nullptr) c.push_back(v->state);
    return c;
  };
  std::vector<Frame> stack;
  stack.push_back({root, children(root)});
  seen[root] = {kGray, 0};
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next == f.children.size()) {
      seen[f.v] = {kBlack, f.height};
      const int h = f.height;
      stack.pop_back();
      if (!stack.empty()) stack.back().height = std::max(stack.back().height, h + 1);
      continue;
    }
    const Value* c = f.children[f.next++];
    auto it = seen.find(c);
    if (it != seen.end()) {
      if (it->second.first == kGray) {
        return absl::InvalidArgumentError(
            absl::StrCat(options_.source_name, ": the ", KindName(c->kind), " created at byte ",
                         c->offset, " contains itself (cyclic structure)"));
      }
      f.height = std::max(f.height, it->second.second + 1);
      continue;
    }
    if (static_cast<int>(stack.size()) >= options_.max_depth) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_.source_name, ": values nest deeper than ", options_.max_depth,
                       " levels (at the ", KindName(c->kind), " created at byte ", c->offset,
                       ")"));
    }
    seen[c] = {kGray, 0};
    stack.push_back({c, children(c)});
  }
  return absl::OkStatus();
}

absl::StatusOr<Document> Parser::Run() {
  if (size_ > options_.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(options_.source_name, ": ", size_,
                                                   " bytes exceed the pickle size limit of ",
                                                   options_.max_bytes));
  }
  while (true) {
    if (pos_ >= size_) {
      return absl::InvalidArgumentError(absl::StrCat(
          options_.source_name, ": the pickle ends at byte ", size_, " without STOP (truncated)"));
    }
    op_offset_ = pos_;
    op_ = p_[pos_++];
    absl::Status s;
    switch (op_) {
      case 0x80: {  // PROTO
        if (!Need(1)) return Truncated(1);
        const uint8_t proto = p_[pos_++];
        if (proto < 2 || proto > 5) return Error("protocol ", int{proto}, " (supported: 2 to 5)");
        break;
      }
      case 0x95: {  // FRAME: a length prefix for buffered reads; the bytes read as usual.
        if (!Need(8)) return Truncated(8);
        const uint64_t len = ReadLe(8);
        if (!Need(len)) return Error("a frame of ", len, " bytes overruns the input");
        break;
      }
      case '.': {  // STOP
        if (!marks_.empty()) return Error("a MARK is still open");
        if (stack_.size() != 1) {
          return Error("the stack holds ", stack_.size(), " values at STOP (expected 1)");
        }
        if (pos_ != size_) return Error(size_ - pos_, " trailing bytes after STOP");
        doc_.root_ = stack_.back();
        if (auto c = CheckTree(doc_.root_); !c.ok()) return c;
        return std::move(doc_);
      }
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '0': {  // POP
        auto v = Pop();
        if (!v.ok()) return v.status();
        break;
      }
      case '1': {  // POP_MARK
        auto v = PopMark();
        if (!v.ok()) return v.status();
        break;
      }
      case 'N':
        s = Push(New(Kind::kNone));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Value* v = New(Kind::kBool);
        v->boolean = op_ == 0x88;
        s = Push(v);
        break;
      }
      case 'J':
      case 'K':
      case 'M': {  // BININT (signed 4 bytes), BININT1, BININT2 (unsigned)
        const int n = op_ == 'J' ? 4 : op_ == 'K' ? 1 : 2;
        if (!Need(n)) return Truncated(n);
        const uint64_t raw = ReadLe(n);
        Value* v = New(Kind::kInt);
        v->integer = n == 4 ? static_cast<int64_t>(static_cast<int32_t>(raw))
                            : static_cast<int64_t>(raw);
        s = Push(v);
        break;
      }
      case 0x8a: {  // LONG1: n bytes of little-endian two's complement
        if (!Need(1)) return Truncated(1);
        const uint8_t n = p_[pos_++];
        if (n > 8) return Error("a ", int{n}, "-byte integer does not fit in 64 bits");
        if (!Need(n)) return Truncated(n);
        uint64_t raw = ReadLe(n);
        if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~uint64_t{0} << (8 * n);
        Value* v = New(Kind::kInt);
        v->integer = static_cast<int64_t>(raw);
        s = Push(v);
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        if (!Need(8)) return Truncated(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | p_[pos_ + k];
        pos_ += 8;
        Value* v = New(Kind::kFloat);
        std::memcpy(&v->number, &bits, 8);
        s = Push(v);
        break;
      }
      case 'X':
        s = ReadString(4, Kind::kString);
        break;
      case 0x8c:
        s = ReadString(1, Kind::kString);
        break;
      case 0x8d:
        s = ReadString(8, Kind::kString);
        break;
      case 'B':
        s = ReadString(4, Kind::kBytes);
        break;
      case 'C':
        s = ReadString(1, Kind::kBytes);
        break;
      case ')':
        s = Push(New(Kind::kTuple));
        break;
      case 't': {  // TUPLE
        auto items = PopMark();
        if (!items.ok()) return items.status();
        Value* v = New(Kind::kTuple);
        v->items.assign(items->begin(), items->end());
        s = Push(v);
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t n = op_ - 0x84;
        if (stack_.size() < Floor() + n) {
          return Error("needs ", n, " values but the stack holds ", stack_.size() - Floor());
        }
        Value* v = New(Kind::kTuple);
        v->items.assign(stack_.end() - n, stack_.end());
        stack_.resize(stack_.size() - n);
        s = Push(v);
        break;
      }
      case ']':
        s = Push(New(Kind::kList));
        break;
      case 'l': {  // LIST
        auto items = PopMark();
        if (!items.ok()) return items.status();
        Value* v = New(Kind::kList);
        v->items.assign(items->begin(), items->end());
        s = Push(v);
        break;
      }
      case 'a':
      case 'e': {  // APPEND, APPENDS
        std::vector<Value*> items;
        if (op_ == 'a') {
          auto v = Pop();
          if (!v.ok()) return v.status();
          items.push_back(*v);
        } else {
          auto v = PopMark();
          if (!v.ok()) return v.status();
          items = std::move(*v);
        }
        auto list = Top();
        if (!list.ok()) return list.status();
        if ((*list)->kind != Kind::kList) {
          return Error("the target is a ", KindName((*list)->kind), ", not a list");
        }
        (*list)->items.insert((*list)->items.end(), items.begin(), items.end());
        break;
      }
      case '}':
        s = Push(New(Kind::kDict));
        break;
      case 'd': {  // DICT
        auto items = PopMark();
        if (!items.ok()) return items.status();
        Value* v = New(Kind::kDict);
        if (s = SetItems(v, *items); !s.ok()) return s;
        s = Push(v);
        break;
      }
      case 's':
      case 'u': {  // SETITEM, SETITEMS
        std::vector<Value*> kv;
        if (op_ == 's') {
          auto value = Pop();
          if (!value.ok()) return value.status();
          auto key = Pop();
          if (!key.ok()) return key.status();
          kv = {*key, *value};
        } else {
          auto v = PopMark();
          if (!v.ok()) return v.status();
          kv = std::move(*v);
        }
        auto dict = Top();
        if (!dict.ok()) return dict.status();
        s = SetItems(*dict, kv);
        break;
      }
      case 'q':
      case 'r': {  // BINPUT, LONG_BINPUT
        const int n = op_ == 'q' ? 1 : 4;
        if (!Need(n)) return Truncated(n);
        s = Memo(ReadLe(n));
        break;
      }
      case 0x94:  // MEMOIZE
        s = Memo(memo_.size());
        break;
      case 'h':
      case 'j': {  // BINGET, LONG_BINGET
        const int n = op_ == 'h' ? 1 : 4;
        if (!Need(n)) return Truncated(n);
        s = Get(ReadLe(n));
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        std::string parts[2];
        for (std::string& part : parts) {
          const uint8_t* start = p_ + pos_;
          const void* nl = std::memchr(start, '\n', static_cast<size_t>(size_ - pos_));
          if (nl == nullptr) return Error("the module/name line has no newline (truncated)");
          const size_t len = static_cast<const uint8_t*>(nl) - start;
          part.assign(reinterpret_cast<const char*>(start), len);
          pos_ += len + 1;
        }
        s = MakeGlobal(std::move(parts[0]), std::move(parts[1]));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = Pop();
        if (!name.ok()) return name.status();
        auto module = Pop();
        if (!module.ok()) return module.status();
        if ((*module)->kind != Kind::kString || (*name)->kind != Kind::kString) {
          return Error("module and name must be str, got ", KindName((*module)->kind), " and ",
                       KindName((*name)->kind));
        }
        s = MakeGlobal((*module)->str, (*name)->str);
        break;
      }
      case 'R': {  // REDUCE: callable(*args), recorded, never called
        auto args = Pop();
        if (!args.ok()) return args.status();
        auto callable = Pop();
        if (!callable.ok()) return callable.status();
        if ((*callable)->kind != Kind::kGlobal) {
          return Error("the callable is a ", KindName((*callable)->kind),
                       ", not an allowlisted global");
        }
        if ((*args)->kind != Kind::kTuple) {
          return Error("the arguments are a ", KindName((*args)->kind), ", not a tuple");
        }
        if ((*callable)->IsGlobal("collections", "OrderedDict")) {
          if (!(*args)->items.empty()) {
            return Error("collections.OrderedDict is only accepted with no arguments");
          }
          s = Push(New(Kind::kDict));
          break;
        }
        Value* v = New(Kind::kCall);
        v->items = {*callable, *args};
        s = Push(v);
        break;
      }
      case 'b': {  // BUILD: obj.__setstate__(state), recorded
        auto state = Pop();
        if (!state.ok()) return state.status();
        auto obj = Top();
        if (!obj.ok()) return obj.status();
        if ((*obj)->kind != Kind::kDict && (*obj)->kind != Kind::kCall) {
          return Error("cannot set the state of a ", KindName((*obj)->kind));
        }
        if ((*obj)->state != nullptr) return Error("the object's state is set twice");
        (*obj)->state = *state;
        break;
      }
      case 'Q': {  // BINPERSID
        auto pid = Pop();
        if (!pid.ok()) return pid.status();
        Value* v = New(Kind::kPersistentId);
        v->items = {*pid};
        s = Push(v);
        break;
      }
      default:
        return Error("is not supported (torch state dicts do not use it; refused)");
    }
    if (!s.ok()) return s;
  }
}

absl::StatusOr<Document> Parse(absl::Span<const uint8_t> bytes, const Options& options) {
  Parser parser(bytes, options);
  return parser.Run();
}

namespace {

// Values reached through the memo are shared, so a small stream can describe a tree whose
// rendering is exponentially large (a list of n references to a list of n references ...).
// Error messages quote such values: stop rendering containers after this many characters.
constexpr size_t kMaxDebugChars = 4096;

bool Full(const std::string& out) { return out.size() >= kMaxDebugChars; }

void Render(const Value& v, int depth, std::string* out) {
  if (depth <= 0) {
    out->append("...");
    return;
  }
  auto list = [&](const std::vector<const Value*>& items, const char* open, const char* close) {
    out->append(open);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out->append(", ");
      if (Full(*out)) {
        out->append("...");
        break;
      }
      Render(*items[i], depth - 1, out);
    }
    if (items.size() == 1 && open[0] == '(') out->append(",");
    out->append(close);
  };
  switch (v.kind) {
    case Kind::kNone: out->append("None"); break;
    case Kind::kBool: out->append(v.boolean ? "True" : "False"); break;
    case Kind::kInt: absl::StrAppend(out, v.integer); break;
    case Kind::kFloat: absl::StrAppend(out, v.number); break;
    case Kind::kString: absl::StrAppend(out, "'", v.str, "'"); break;
    case Kind::kBytes: absl::StrAppend(out, "b<", v.str.size(), " bytes>"); break;
    case Kind::kTuple: list(v.items, "(", ")"); break;
    case Kind::kList: list(v.items, "[", "]"); break;
    case Kind::kDict:
      out->append("{");
      for (size_t i = 0; i < v.entries.size(); ++i) {
        if (i > 0) out->append(", ");
        if (Full(*out)) {
          out->append("...");
          break;
        }
        Render(*v.entries[i].first, depth - 1, out);
        out->append(": ");
        Render(*v.entries[i].second, depth - 1, out);
      }
      out->append("}");
      break;
    case Kind::kGlobal: absl::StrAppend(out, v.module, ".", v.name); break;
    case Kind::kCall:
      out->append("Call(");
      Render(*v.items[0], depth - 1, out);
      out->append(", ");
      Render(*v.items[1], depth - 1, out);
      out->append(")");
      break;
    case Kind::kPersistentId:
      out->append("PersistentId(");
      Render(*v.items[0], depth - 1, out);
      out->append(")");
      break;
  }
}

}  // namespace

std::string DebugString(const Value& value, int max_depth) {
  std::string out;
  Render(value, max_depth, &out);
  return out;
}

}  // namespace pickle
}  // namespace memlens

// A pickle reader that builds a value tree and never executes anything.
//
// Python's unpickler imports modules and calls functions named by the stream (GLOBAL + REDUCE),
// which is how a malicious checkpoint runs code. This reader only understands the opcodes that
// torch.save's data.pkl uses (protocols 2 to 5), resolves GLOBAL/STACK_GLOBAL only against an
// allowlist (by default the few torch and collections names a state dict needs), and turns
// REDUCE into an inert Call node (callable + arguments) that the caller interprets, e.g.
// torch_checkpoint turns Call(torch._utils._rebuild_tensor_v2, args) into a tensor. The single
// exception is `collections.OrderedDict()` with no arguments, which becomes an ordinary Dict so
// that SETITEMS can fill it.
//
// Supported opcodes: PROTO, FRAME, STOP, MARK, POP, POP_MARK, NONE, NEWTRUE, NEWFALSE, BININT,
// BININT1, BININT2, LONG1, BINFLOAT, BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINBYTES,
// SHORT_BINBYTES, EMPTY_TUPLE, TUPLE, TUPLE1, TUPLE2, TUPLE3, EMPTY_LIST, LIST, APPEND, APPENDS,
// EMPTY_DICT, DICT, SETITEM, SETITEMS, BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET,
// GLOBAL, STACK_GLOBAL, REDUCE, BUILD, BINPERSID. Any other opcode, a global outside the
// allowlist, a malformed operand or a truncated stream is an InvalidArgumentError naming the
// source, the byte offset and the opcode.
//
// Resource bounds: every length is checked against the bytes that remain before anything is
// allocated; the memo, the stack and the number of values can only grow by one per opcode, so
// they are bounded by the input size; the input itself is bounded by Options::max_bytes; the
// finished tree is checked for cycles (a list appended to itself via the memo) and for nesting
// deeper than Options::max_depth, so recursive consumers are safe.
#ifndef MEMLENS_CORE_IO_PICKLE_H_
#define MEMLENS_CORE_IO_PICKLE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace memlens {
namespace pickle {

enum class Kind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,  // str (UTF-8)
  kBytes,
  kTuple,
  kList,
  kDict,   // dict or collections.OrderedDict (insertion order kept)
  kGlobal,  // an allowlisted module attribute, never imported
  kCall,   // REDUCE: callable(*args), not performed
  kPersistentId,  // BINPERSID: a reference the caller resolves (torch: storages)
};

// "None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict", "global", "call",
// "persistent id".
const char* KindName(Kind kind);

struct Value {
  Kind kind = Kind::kNone;
  uint64_t offset = 0;  // byte offset of the opcode that created the value (for messages)
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string str;          // kString, kBytes
  std::string module, name;  // kGlobal
  // kTuple, kList: the items. kCall: {callable, args tuple}. kPersistentId: {pid}.
  std::vector<const Value*> items;
  std::vector<std::pair<const Value*, const Value*>> entries;  // kDict
  const Value* state = nullptr;  // set by BUILD on a dict or a call (e.g. _metadata)

  bool is(Kind k) const { return kind == k; }
  bool IsGlobal(absl::string_view mod, absl::string_view attr) const {
    return kind == Kind::kGlobal && module == mod && name == attr;
  }
  // kDict with a str key: the value, or nullptr.
  const Value* Find(absl::string_view key) const;
  // kCall: the callable (a kGlobal) and the argument tuple.
  const Value* callable() const { return kind == Kind::kCall ? items[0] : nullptr; }
  const Value* args() const { return kind == Kind::kCall ? items[1] : nullptr; }
};

struct Options {
  std::string source_name = "pickle";  // in error messages, e.g. "model.pth:archive/data.pkl"
  // "module.name" strings that GLOBAL / STACK_GLOBAL may name. Default: TorchGlobals().
  std::vector<std::string> allowed_globals;
  bool use_torch_globals = true;  // allowed_globals plus TorchGlobals()
  uint64_t max_bytes = uint64_t{1} << 30;
  int max_depth = 200;
};

// The names a torch state dict needs: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter, the torch.*Storage classes and the torch dtypes.
const std::vector<std::string>& TorchGlobals();

// A parsed pickle: owns every value; pointers stay valid for the Document's lifetime (moving it
// keeps them valid).
class Document {
 public:
  Document(Document&&) = default;
  Document& operator=(Document&&) = default;
  const Value& root() const { return *root_; }
  size_t num_values() const { return values_.size(); }

 private:
  friend class Parser;
  Document() = default;
  std::deque<Value> values_;
  const Value* root_ = nullptr;
};

absl::StatusOr<Document> Parse(absl::Span<const uint8_t> bytes, const Options& options = {});

// A compact Python-like rendering for messages and tests, e.g.
// "Call(torch._utils._rebuild_tensor_v2, (PersistentId(('storage', ...)), 0, (2, 3), ...))".
// Nested deeper than `max_depth` prints "..."; so do the remaining items of a container once
// the text passes about 4 KB (shared values can make a small stream's tree huge).
std::string DebugString(const Value& value, int max_depth = 8);

}  // namespace pickle
}  // namespace memlens

#endif  // MEMLENS_CORE_IO_PICKLE_H_

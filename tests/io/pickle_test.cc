#include "core/io/pickle.h"

#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include "core/io/torch_zip.h"
#include "gtest/gtest.h"

namespace memlens {
namespace pickle {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Byte-level pickle writer for the tests.
struct P {
  std::string b = "\x80\x02";  // PROTO 2
  P& op(uint8_t c) {
    b.push_back(static_cast<char>(c));
    return *this;
  }
  P& le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
    return *this;
  }
  P& str(const std::string& s) {  // BINUNICODE
    op('X').le(s.size(), 4);
    b += s;
    return *this;
  }
  P& i1(uint8_t v) { return op('K').le(v, 1); }
  P& global(const std::string& module, const std::string& name) {
    op('c');
    b += module + "\n" + name + "\n";
    return *this;
  }
  P& stop() { return op('.'); }
};

absl::StatusOr<Document> ParseP(const std::string& bytes) {
  Options options;
  options.source_name = "test.pkl";
  return Parse(Bytes(bytes), options);
}

void ExpectError(const std::string& bytes, const std::string& needle) {
  auto d = ParseP(bytes);
  ASSERT_FALSE(d.ok()) << "expected an error containing '" << needle << "', got "
                       << DebugString(d->root());
  const std::string msg(d.status().message());
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_NE(msg.find("test.pkl"), std::string::npos) << msg;
}

TEST(PickleTest, Scalars) {
  P p;
  p.op('(')
      .op('J').le(static_cast<uint32_t>(-5), 4)
      .i1(200)
      .op('M').le(60000, 2)
      .op(0x8a).le(2, 1).le(0xFF7F, 2)  // LONG1 0x7FFF... little endian: bytes 7F FF = -129
      .op(0x8a).le(0, 1)
      .op(0x8a).le(8, 1).le(0x7FFFFFFFFFFFFFFFull, 8)
      .op('G');
  const double x = -2.5;
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  for (int k = 7; k >= 0; --k) p.b.push_back(static_cast<char>((bits >> (8 * k)) & 0xFF));
  p.op('N').op(0x88).op(0x89).str("h\xC3\xA9").op(0x8c).le(2, 1);
  p.b += "ab";
  p.op('C').le(3, 1);
  p.b += std::string("\x00\x01\x02", 3);
  p.op('t').stop();
  auto d = ParseP(p.b);
  ASSERT_TRUE(d.ok()) << d.status();
  const Value& t = d->root();
  ASSERT_EQ(t.kind, Kind::kTuple);
  ASSERT_EQ(t.items.size(), 13u);
  EXPECT_EQ(t.items[0]->integer, -5);
  EXPECT_EQ(t.items[1]->integer, 200);
  EXPECT_EQ(t.items[2]->integer, 60000);
  EXPECT_EQ(t.items[3]->integer, -129);
  EXPECT_EQ(t.items[4]->integer, 0);
  EXPECT_EQ(t.items[5]->integer, INT64_MAX);
  EXPECT_EQ(t.items[6]->number, -2.5);
  EXPECT_EQ(t.items[7]->kind, Kind::kNone);
  EXPECT_TRUE(t.items[8]->boolean);
  EXPECT_FALSE(t.items[9]->boolean);
  EXPECT_EQ(t.items[10]->str, "h\xC3\xA9");
  EXPECT_EQ(t.items[11]->str, "ab");
  EXPECT_EQ(t.items[12]->kind, Kind::kBytes);
  EXPECT_EQ(t.items[12]->str, std::string("\x00\x01\x02", 3));
}

TEST(PickleTest, ContainersAndMemo) {
  P p;
  p.op('}').op('q').le(0, 1)                       // d = {}; memo[0] = d
      .op('(').str("a").i1(1).str("b").op(']').op('r').le(70000, 4)  // memo[70000] = []
      .op('(').i1(1).i1(2).op('e')                 // APPENDS
      .i1(3).op('a')                               // APPEND
      .op('u')                                     // SETITEMS a=1, b=[1,2,3]
      .str("a").i1(9).op('s')                      // a = 9 (replaces, keeps position)
      .str("c").op('j').le(70000, 4).op('s')       // c = the same list
      .str("t").i1(7).op(0x85).i1(8).op(0x86).op('s')  // t = ((7,), 8)
      .stop();
  auto d = ParseP(p.b);
  ASSERT_TRUE(d.ok()) << d.status();
  const Value& root = d->root();
  ASSERT_EQ(root.kind, Kind::kDict);
  ASSERT_EQ(root.entries.size(), 4u);
  EXPECT_EQ(root.entries[0].first->str, "a");
  EXPECT_EQ(root.Find("a")->integer, 9);
  const Value* b = root.Find("b");
  ASSERT_EQ(b->kind, Kind::kList);
  ASSERT_EQ(b->items.size(), 3u);
  EXPECT_EQ(b->items[2]->integer, 3);
  EXPECT_EQ(root.Find("c"), b);  // shared through the memo
  EXPECT_EQ(DebugString(*root.Find("t")), "((7,), 8)");
  EXPECT_EQ(root.Find("zz"), nullptr);
}

TEST(PickleTest, TorchLikeReduceIsRecordedNotCalled) {
  P p;
  p.global("collections", "OrderedDict").op(')').op('R').op('q').le(1, 1);
  p.op('(').str("w").global("torch._utils", "_rebuild_tensor_v2").op('(');
  p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").i1(6).op('t');
  p.op('Q').i1(0).i1(2).i1(3).op(0x86).i1(3).i1(1).op(0x86).op(0x89);
  p.global("collections", "OrderedDict").op(')').op('R').op('t').op('R').op('u').stop();
  auto d = ParseP(p.b);
  ASSERT_TRUE(d.ok()) << d.status();
  const Value* w = d->root().Find("w");
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->kind, Kind::kCall);
  EXPECT_TRUE(w->callable()->IsGlobal("torch._utils", "_rebuild_tensor_v2"));
  EXPECT_EQ(DebugString(*w),
            "Call(torch._utils._rebuild_tensor_v2, (PersistentId(('storage', torch.FloatStorage, "
            "'0', 'cpu', 6)), 0, (2, 3), (3, 1), False, {}))");
}

TEST(PickleTest, ReadsTorchSaveOutput) {
  for (const char* name : {"torch_small", "torch_proto4"}) {
    SCOPED_TRACE(name);
    auto zip = ZipArchive::Open(std::string("tests/io/testdata/") + name + ".pth");
    ASSERT_TRUE(zip.ok()) << zip.status();
    auto pkl = zip->Get(std::string(name) + "/data.pkl");
    ASSERT_TRUE(pkl.ok()) << pkl.status();
    auto d = Parse(*pkl);
    ASSERT_TRUE(d.ok()) << d.status();
    const Value& root = d->root();
    ASSERT_EQ(root.kind, Kind::kDict);
    std::vector<std::string> keys;
    for (const auto& [k, v] : root.entries) keys.push_back(k->str);
    EXPECT_EQ(keys, (std::vector<std::string>{"f32", "f16", "bf16", "mask", "transposed", "row1",
                                              "scalar", "f64", "i64", "param", "empty"}));
    EXPECT_EQ(DebugString(*root.Find("transposed")),
              "Call(torch._utils._rebuild_tensor_v2, (PersistentId(('storage', "
              "torch.FloatStorage, '0', 'cpu', 6)), 0, (3, 2), (1, 3), False, {}))");
    EXPECT_TRUE(root.Find("param")->callable()->IsGlobal("torch._utils", "_rebuild_parameter"));
  }
}

TEST(PickleTest, ReadsModuleStateDictWithMetadata) {
  auto zip = ZipArchive::Open("tests/io/testdata/torch_module.pth");
  ASSERT_TRUE(zip.ok()) << zip.status();
  auto d = Parse(*zip->Get("torch_module/data.pkl"));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_NE(d->root().state, nullptr);
  const Value* meta = d->root().state->Find("_metadata");
  ASSERT_NE(meta, nullptr);
  EXPECT_EQ(DebugString(*meta->Find("0")), "{'version': 1}");
}

TEST(PickleTest, RefusesOsSystemAndNeverRunsIt) {
  const std::string marker = "/tmp/memlens_pickle_pwned_" + std::to_string(::getpid());
  std::remove(marker.c_str());
  P p;
  p.global("os", "system").str("touch " + marker).op(0x85).op('R').stop();
  ExpectError(p.b, "global 'os.system' is not allowed");
  ExpectError(p.b, "byte 2");
  // Via STACK_GLOBAL (protocol 4) too.
  P q;
  q.b = "\x80\x04";
  q.str("builtins").str("eval").op(0x93).str("print(1)").op(0x85).op('R').stop();
  ExpectError(q.b, "'builtins.eval' is not allowed");
  FILE* f = std::fopen(marker.c_str(), "r");
  EXPECT_EQ(f, nullptr) << "the payload ran";
  if (f != nullptr) std::fclose(f);
}

TEST(PickleTest, AllowlistIsConfigurable) {
  P p;
  p.global("mypkg", "Thing").op(')').op('R').stop();
  ExpectError(p.b, "'mypkg.Thing' is not allowed");
  Options options;
  options.allowed_globals = {"mypkg.Thing"};
  auto d = Parse(Bytes(p.b), options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(DebugString(d->root()), "Call(mypkg.Thing, ())");
  options.use_torch_globals = false;
  P t;
  t.global("torch", "FloatStorage").stop();
  EXPECT_FALSE(Parse(Bytes(t.b), options).ok());
}

TEST(PickleTest, RefusesUnsupportedOpcodes) {
  struct Case {
    std::string tail;
    const char* name;
  };
  for (const Case& c : std::vector<Case>{{"i" "os\nsystem\n", "INST"},
                                         {"(o", "OBJ"},
                                         {")\x81", "NEWOBJ"},
                                         {"\x82\x01", "EXT1"},
                                         {"\x8b\x01\x00\x00\x00\x01", "LONG4"},
                                         {"P0\n", "PERSID"},
                                         {"I1\n", "INT"},
                                         {"S'x'\n", "STRING"},
                                         {"\x8f", "EMPTY_SET"},
                                         {"\x97", "NEXT_BUFFER"},
                                         {"N2", "DUP"},
                                         {"\xff", "unknown opcode 0xff"}}) {
    SCOPED_TRACE(c.name);
    ExpectError("\x80\x02" + c.tail + ".", c.name);
  }
  ExpectError(std::string("\x80\x02N\x8f."), "byte 3");
}

TEST(PickleTest, RefusesMalformedStreams) {
  ExpectError(P().stop().b, "stack holds 0");
  ExpectError(P().op('N').op('N').stop().b, "stack holds 2");
  ExpectError(P().op('N').stop().b + "x", "trailing");
  ExpectError(P().op('N').b, "without STOP");
  ExpectError(P().op('(').op('N').stop().b, "MARK is still open");
  ExpectError(P().op('t').stop().b, "no MARK");
  ExpectError(P().op('h').le(5, 1).stop().b, "memo index 5");
  ExpectError(P().op('a').stop().b, "stack is empty");
  ExpectError(P().op('N').op('N').op('a').stop().b, "not a list");
  ExpectError(P().op(']').i1(1).op('s').stop().b, "stack is empty");
  ExpectError(P().op(']').i1(1).i1(2).op('s').stop().b, "not a dict");
  ExpectError(P().op('N').op(')').op('R').stop().b, "not an allowlisted global");
  ExpectError(P().global("collections", "OrderedDict").op('N').op('R').stop().b, "not a tuple");
  ExpectError(P().global("collections", "OrderedDict").i1(1).op(0x85).op('R').stop().b,
              "no arguments");
  ExpectError(P().op('N').op('}').op('b').stop().b, "cannot set the state of a None");
  ExpectError("\x80\x06N.", "protocol 6");
  ExpectError("\x80\x01N.", "protocol 1");
  ExpectError(P().op(0x8a).le(9, 1).b + std::string(9, '\0') + ".", "does not fit in 64 bits");
  ExpectError(P().str("\xC3").stop().b, "not valid UTF-8");
  ExpectError(P().str("\xC0\xAF").stop().b, "not valid UTF-8");  // overlong '/'
  ExpectError(P().op(0x95).le(1000, 8).op('N').stop().b, "frame");
}

TEST(PickleTest, HugeLengthsAllocateNothing) {
  // BINUNICODE8 claiming 2^60 bytes: refused before any allocation.
  ExpectError(P().op(0x8d).le(uint64_t{1} << 60, 8).b + "abc.", "longer than the");
  ExpectError(P().op('X').le(0xFFFFFFFFu, 4).b + "abc.", "longer than the");
  Options small;
  small.max_bytes = 3;
  EXPECT_FALSE(Parse(Bytes(P().op('N').stop().b), small).ok());
}

TEST(PickleTest, RefusesCyclesAndDeepNesting) {
  ExpectError(P().op(']').op('q').le(0, 1).op('h').le(0, 1).op('a').stop().b, "contains itself");
  // d = {}; d['x'] = [d]
  ExpectError(P().op('}').op('q').le(0, 1).str("x").op('(').op('h').le(0, 1).op('l').op('s')
                  .stop().b,
              "contains itself");
  P deep;
  deep.op(')');
  for (int i = 0; i < 100000; ++i) deep.op(0x85);
  deep.stop();
  ExpectError(deep.b, "nest deeper");
  // Shared (non-cyclic) references are fine, even many times over.
  P dag;
  dag.op(')').op('q').le(0, 1).op('0');
  for (int i = 0; i < 50; ++i) {
    dag.op('h').le(0, 1).op('h').le(0, 1).op(0x86).op('q').le(0, 1).op('0');
  }
  dag.op('h').le(0, 1).stop();
  auto d = ParseP(dag.b);
  ASSERT_TRUE(d.ok()) << d.status();  // 51 levels, 2^50 paths, 51 distinct values
  EXPECT_EQ(d->num_values(), 51u);
}

TEST(PickleTest, EveryTruncationIsAnError) {
  auto zip = ZipArchive::Open("tests/io/testdata/torch_proto4.pth");
  ASSERT_TRUE(zip.ok()) << zip.status();
  const auto pkl = *zip->Get("torch_proto4/data.pkl");
  ASSERT_TRUE(Parse(pkl).ok());
  for (size_t n = 0; n < pkl.size(); ++n) {
    EXPECT_FALSE(Parse(pkl.subspan(0, n)).ok()) << n;
  }
}

TEST(PickleTest, SurvivesRandomCorruption) {
  auto zip = ZipArchive::Open("tests/io/testdata/torch_small.pth");
  ASSERT_TRUE(zip.ok()) << zip.status();
  const auto pkl = *zip->Get("torch_small/data.pkl");
  const std::string good(reinterpret_cast<const char*>(pkl.data()), pkl.size());
  std::mt19937 rng(11);
  for (int trial = 0; trial < 5000; ++trial) {
    std::string bad = good;
    for (int f = 0; f <= trial % 3; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    auto d = Parse(Bytes(bad));
    if (d.ok()) DebugString(d->root());  // must be walkable
  }
}

// Lists of shared references (BINGET of the same memo slot) nest into a tree whose rendering
// grows as n^depth: a 516-byte stream rendered to 517 MB, and torch_checkpoint's error
// messages quote such values (tests/fuzz/regressions/). The rendering is capped.
TEST(PickleTest, DebugStringOfSharedValuesStaysSmall) {
  P p;
  p.op(']').op('q').le(0, 1).op('0');  // list0 = []
  for (int level = 1; level <= 6; ++level) {  // level k = [level k-1] * 40
    p.op('(');
    for (int i = 0; i < 40; ++i) p.op('h').le(level - 1, 1);
    p.op('l').op('q').le(level, 1);
    if (level < 6) p.op('0');
  }
  auto d = ParseP(p.stop().b);
  ASSERT_TRUE(d.ok()) << d.status();
  for (int depth : {3, 8, 100}) {
    const std::string s = DebugString(d->root(), depth);
    EXPECT_LT(s.size(), 8192u) << depth;
    EXPECT_EQ(s.substr(s.size() - 4), "...]") << depth;
  }
  EXPECT_EQ(DebugString(d->root(), 2).substr(0, 12), "[[..., ..., ");
}

}  // namespace
}  // namespace pickle
}  // namespace memlens

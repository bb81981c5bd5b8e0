#include "core/plugin/state_file.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/io/atomic_file.h"
#include "core/io/json.h"
#include "core/plugin/plugin_api.h"

namespace memlens {
namespace {

constexpr char kMagic[] = "MLSTATE\n";  // 8 bytes
constexpr size_t kFixed = 8 + 4 + 8;     // magic, version, header length
// A header larger than this is not one memlens wrote (it holds names and flags).
constexpr uint64_t kMaxHeader = 16u << 20;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetU64(const char* p, int bytes = 8) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string Hex(uint64_t v) { return absl::StrFormat("%016x", v); }

std::string EncodeHeader(const StateHeader& h) {
  const ReportMetadata& m = h.metadata;
  json::JsonWriter w(1);
  w.BeginObject();
  w.Key("shard").BeginObject().Key("index").Int(h.shard.index).Key("count").Int(h.shard.count).EndObject();
  w.Key("prompts").BeginArray().Int(h.prompt_begin).Int(h.prompt_end).EndArray();
  w.Key("plugin_abi").Int(h.plugin_abi);
  w.Key("memlens_version").String(m.memlens_version);
  w.Key("created").String(m.created);
  w.Key("title").String(m.title);
  w.Key("model").BeginObject();
  w.Key("name").String(m.model_name).Key("path").String(m.model_path);
  w.Key("format").String(m.model_format).Key("summary").String(m.model_summary);
  w.Key("processing").String(m.processing).Key("weights_hash").String(Hex(h.model_hash));
  w.EndObject();
  w.Key("dataset").BeginObject();
  w.Key("name").String(m.dataset_name).Key("path").String(m.dataset_path);
  w.Key("prompts").Int(m.num_prompts).Key("tokens").Int(m.num_tokens);
  w.Key("tokens_hash").String(Hex(h.dataset_hash));
  w.EndObject();
  w.Key("seed").String(absl::StrCat(m.seed));
  w.Key("settings").BeginArray();
  for (const auto& [k, v] : m.settings) w.BeginArray().String(k).String(v).EndArray();
  w.EndArray();
  w.Key("caveats").BeginArray();
  for (const std::string& c : m.caveats) w.String(c);
  w.EndArray();
  w.Key("plugins").BeginArray();
  for (const StateHeader::Plugin& p : h.plugins) {
    w.BeginObject().Key("name").String(p.name).Key("version").String(p.version);
    w.Key("state_bytes").Int(static_cast<int64_t>(p.state_bytes)).EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Release();
}

absl::StatusOr<uint64_t> ParseHex(const json::Value& v, absl::string_view key) {
  absl::StatusOr<std::string> s = v.GetString(key);
  if (!s.ok()) return s.status();
  uint64_t out = 0;
  if (s->size() != 16 || !absl::SimpleHexAtoi(*s, &out)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is not a 16-digit hex hash"));
  }
  return out;
}

#define ASSIGN_OR_RETURN_STATE(lhs, expr)       \
  do {                                          \
    auto _v = (expr);                           \
    if (!_v.ok()) return _v.status();           \
    lhs = std::move(*_v);                       \
  } while (0)

absl::StatusOr<StateHeader> DecodeHeader(absl::string_view text) {
  absl::StatusOr<json::Value> root = json::Parse(text);
  if (!root.ok()) return root.status();
  if (!root->is_object()) return absl::InvalidArgumentError("the header is not a JSON object");
  StateHeader h;
  ReportMetadata& m = h.metadata;
  const json::Value* shard;
  ASSIGN_OR_RETURN_STATE(shard, root->Get("shard"));
  ASSIGN_OR_RETURN_STATE(h.shard.index, shard->GetInt64("index"));
  ASSIGN_OR_RETURN_STATE(h.shard.count, shard->GetInt64("count"));
  if (h.shard.count < 1 || h.shard.index < 0 || h.shard.index >= h.shard.count) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard ", h.shard.index, "/", h.shard.count, " is not 0 <= I < N"));
  }
  const json::Value* prompts;
  ASSIGN_OR_RETURN_STATE(prompts, root->Get("prompts"));
  if (!prompts->is_array() || prompts->size() != 2) {
    return absl::InvalidArgumentError("\"prompts\" is not [begin, end]");
  }
  ASSIGN_OR_RETURN_STATE(h.prompt_begin, prompts->array()[0].AsInt64());
  ASSIGN_OR_RETURN_STATE(h.prompt_end, prompts->array()[1].AsInt64());
  int64_t abi;
  ASSIGN_OR_RETURN_STATE(abi, root->GetInt64("plugin_abi"));
  h.plugin_abi = static_cast<uint32_t>(abi);
  ASSIGN_OR_RETURN_STATE(m.memlens_version, root->GetString("memlens_version"));
  ASSIGN_OR_RETURN_STATE(m.created, root->GetString("created"));
  ASSIGN_OR_RETURN_STATE(m.title, root->GetString("title"));
  const json::Value* model;
  ASSIGN_OR_RETURN_STATE(model, root->Get("model"));
  ASSIGN_OR_RETURN_STATE(m.model_name, model->GetString("name"));
  ASSIGN_OR_RETURN_STATE(m.model_path, model->GetString("path"));
  ASSIGN_OR_RETURN_STATE(m.model_format, model->GetString("format"));
  ASSIGN_OR_RETURN_STATE(m.model_summary, model->GetString("summary"));
  ASSIGN_OR_RETURN_STATE(m.processing, model->GetString("processing"));
  ASSIGN_OR_RETURN_STATE(h.model_hash, ParseHex(*model, "weights_hash"));
  const json::Value* dataset;
  ASSIGN_OR_RETURN_STATE(dataset, root->Get("dataset"));
  ASSIGN_OR_RETURN_STATE(m.dataset_name, dataset->GetString("name"));
  ASSIGN_OR_RETURN_STATE(m.dataset_path, dataset->GetString("path"));
  ASSIGN_OR_RETURN_STATE(m.num_prompts, dataset->GetInt64("prompts"));
  ASSIGN_OR_RETURN_STATE(m.num_tokens, dataset->GetInt64("tokens"));
  ASSIGN_OR_RETURN_STATE(h.dataset_hash, ParseHex(*dataset, "tokens_hash"));
  if (m.num_prompts < 0 || h.prompt_begin < 0 || h.prompt_begin > h.prompt_end ||
      h.prompt_end > m.num_prompts) {
    return absl::InvalidArgumentError(absl::StrCat("prompts [", h.prompt_begin, ", ",
                                                   h.prompt_end, ") are not within the dataset's ",
                                                   m.num_prompts));
  }
  std::string seed;
  ASSIGN_OR_RETURN_STATE(seed, root->GetString("seed"));
  if (!absl::SimpleAtoi(seed, &m.seed)) return absl::InvalidArgumentError("\"seed\" is not a number");
  const json::Value* settings;
  ASSIGN_OR_RETURN_STATE(settings, root->Get("settings"));
  for (const json::Value& s : settings->array()) {
    if (!s.is_array() || s.size() != 2 || !s.array()[0].is_string() || !s.array()[1].is_string()) {
      return absl::InvalidArgumentError("a setting is not [name, value]");
    }
    m.settings.emplace_back(s.array()[0].string_value(), s.array()[1].string_value());
  }
  const json::Value* caveats;
  ASSIGN_OR_RETURN_STATE(caveats, root->Get("caveats"));
  if (!caveats->is_array()) return absl::InvalidArgumentError("\"caveats\" is not an array");
  for (const json::Value& c : caveats->array()) {
    if (!c.is_string()) return absl::InvalidArgumentError("a caveat is not a string");
    m.caveats.push_back(c.string_value());
  }
  const json::Value* plugins;
  ASSIGN_OR_RETURN_STATE(plugins, root->Get("plugins"));
  if (!plugins->is_array() || plugins->size() == 0) {
    return absl::InvalidArgumentError("\"plugins\" is not a non-empty array");
  }
  for (const json::Value& p : plugins->array()) {
    StateHeader::Plugin plugin;
    ASSIGN_OR_RETURN_STATE(plugin.name, p.GetString("name"));
    ASSIGN_OR_RETURN_STATE(plugin.version, p.GetString("version"));
    int64_t bytes;
    ASSIGN_OR_RETURN_STATE(bytes, p.GetInt64("state_bytes"));
    if (bytes < 0) return absl::InvalidArgumentError("a negative \"state_bytes\"");
    plugin.state_bytes = static_cast<uint64_t>(bytes);
    h.plugins.push_back(std::move(plugin));
  }
  return h;
}

// Magic, version and header length from the first kFixed bytes.
absl::StatusOr<uint64_t> CheckFixed(absl::string_view bytes) {
  if (bytes.size() < kFixed) {
    return absl::DataLossError(absl::StrCat("truncated: ", bytes.size(), " bytes, not a state file"));
  }
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) {
    return absl::InvalidArgumentError("not a memlens state file (bad magic)");
  }
  const uint32_t version = static_cast<uint32_t>(GetU64(bytes.data() + 8, 4));
  if (version != kStateFileVersion) {
    return absl::InvalidArgumentError(absl::StrCat("state file format version ", version,
                                                   "; this memlens reads version ",
                                                   kStateFileVersion));
  }
  const uint64_t header = GetU64(bytes.data() + 12);
  if (header > kMaxHeader) {
    return absl::DataLossError(absl::StrCat("a header of ", header, " bytes (corrupt)"));
  }
  return header;
}

absl::Status Named(const absl::Status& s, absl::string_view what) {
  return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace

uint64_t Checksum64(absl::string_view bytes, uint64_t seed) {
  // 8 bytes at a time: xor, multiply by a large odd constant, rotate (fast on CPU; any
  // change of a byte or of the length changes the result with overwhelming likelihood).
  uint64_t h = seed ^ (0x9E3779B97F4A7C15ull * (bytes.size() + 1));
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h = (h << 31) | (h >> 33);
  }
  uint64_t tail = 0;
  for (size_t j = 0; i + j < bytes.size(); ++j) {
    tail |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i + j])) << (8 * j);
  }
  h = (h ^ tail) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

uint64_t WeightsHash(const Model& model) {
  uint64_t h = 0;
  auto add = [&](const Tensor& t) {
    std::string shape;
    for (int64_t d : t.shape) absl::StrAppend(&shape, d, ",");
    h = Checksum64(shape, h);
    h = Checksum64(absl::string_view(reinterpret_cast<const char*>(t.data.data()),
                                     t.data.size() * sizeof(float)),
                   h);
  };
  const Weights& w = model.weights;
  add(w.W_E);
  add(w.W_pos);
  for (const LayerWeights& l : w.layers) {
    for (const Tensor* t : {&l.ln1_w, &l.ln1_b, &l.W_Q, &l.W_K, &l.W_V, &l.b_Q, &l.b_K, &l.b_V,
                            &l.W_O, &l.b_O, &l.ln2_w, &l.ln2_b, &l.W_in, &l.W_gate, &l.b_in,
                            &l.W_out, &l.b_out}) {
      add(*t);
    }
  }
  add(w.ln_final_w);
  add(w.ln_final_b);
  add(w.W_U);
  add(w.b_U);
  return h;
}

void PromptsHasher::Add(const std::vector<int>& tokens, const std::vector<int>& targets,
                        const std::vector<int>& contrasts) {
  for (const std::vector<int>* ids : {&tokens, &targets, &contrasts}) {
    hash_ = Checksum64(absl::string_view(reinterpret_cast<const char*>(ids->data()),
                                         ids->size() * sizeof(int)),
                       hash_);
  }
}

uint64_t PromptsHash(const std::vector<Prompt>& prompts) {
  PromptsHasher h;
  for (const Prompt& p : prompts) h.Add(p.tokens, p.targets, p.contrasts);
  return h.value();
}

std::string EncodeStateFile(const StateHeader& header, const std::vector<std::string>& states) {
  StateHeader h = header;
  for (size_t i = 0; i < h.plugins.size() && i < states.size(); ++i) {
    h.plugins[i].state_bytes = states[i].size();
  }
  const std::string text = EncodeHeader(h);
  std::string out(kMagic, 8);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((kStateFileVersion >> (8 * i)) & 0xff));
  PutU64(out, text.size());
  out += text;
  for (const std::string& s : states) {
    PutU64(out, s.size());
    out += s;
  }
  PutU64(out, Checksum64(out));
  return out;
}

absl::Status WriteStateFile(const std::string& path, const StateHeader& header,
                            const std::vector<std::string>& states) {
  return WriteFileAtomically(path, EncodeStateFile(header, states));
}

absl::StatusOr<StateHeader> ReadStateHeader(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string fixed(kFixed, '\0');
  in.read(&fixed[0], kFixed);
  fixed.resize(static_cast<size_t>(in.gcount()));
  absl::StatusOr<uint64_t> length = CheckFixed(fixed);
  if (!length.ok()) return Named(length.status(), path);
  std::string text(*length, '\0');
  in.read(&text[0], static_cast<std::streamsize>(*length));
  if (static_cast<uint64_t>(in.gcount()) != *length) {
    return absl::DataLossError(absl::StrCat(path, ": truncated inside the header"));
  }
  absl::StatusOr<StateHeader> h = DecodeHeader(text);
  if (!h.ok()) return Named(h.status(), absl::StrCat(path, ": header"));
  return h;
}

absl::StatusOr<std::pair<StateHeader, std::vector<std::string>>> DecodeStateFile(
    absl::string_view bytes, absl::string_view what) {
  absl::StatusOr<uint64_t> length = CheckFixed(bytes);
  if (!length.ok()) return Named(length.status(), what);
  if (bytes.size() < kFixed + *length + 8) {
    return absl::DataLossError(absl::StrCat(what, ": truncated (", bytes.size(), " bytes)"));
  }
  const absl::string_view body = bytes.substr(0, bytes.size() - 8);
  if (Checksum64(body) != GetU64(bytes.data() + body.size())) {
    return absl::DataLossError(
        absl::StrCat(what, ": checksum mismatch (the file is corrupt or truncated)"));
  }
  absl::StatusOr<StateHeader> h = DecodeHeader(body.substr(kFixed, *length));
  if (!h.ok()) return Named(h.status(), absl::StrCat(what, ": header"));
  absl::string_view rest = body.substr(kFixed + *length);
  std::vector<std::string> states;
  for (const StateHeader::Plugin& p : h->plugins) {
    if (rest.size() < 8 || GetU64(rest.data()) > rest.size() - 8 ||
        GetU64(rest.data()) != p.state_bytes) {
      return absl::DataLossError(
          absl::StrCat(what, ": the state of plugin '", p.name, "' does not fit the file"));
    }
    states.emplace_back(rest.substr(8, p.state_bytes));
    rest.remove_prefix(8 + p.state_bytes);
  }
  if (!rest.empty()) {
    return absl::DataLossError(absl::StrCat(what, ": ", rest.size(), " bytes after the states"));
  }
  return std::make_pair(std::move(*h), std::move(states));
}

absl::StatusOr<std::pair<StateHeader, std::vector<std::string>>> ReadStateFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return DecodeStateFile(bytes, path);
}

absl::StatusOr<std::vector<size_t>> CheckShardsBelongTogether(
    const std::vector<std::string>& paths, const std::vector<StateHeader>& headers) {
  if (headers.empty()) return absl::InvalidArgumentError("no state files");
  const StateHeader& a = headers[0];
  for (size_t f = 0; f < headers.size(); ++f) {
    const StateHeader& b = headers[f];
    auto differ = [&](const std::string& what, const std::string& x, const std::string& y) {
      return absl::InvalidArgumentError(absl::StrCat(paths[f], " does not belong with ", paths[0],
                                                     ": ", what, " differs (", y, " vs ", x, ")"));
    };
    if (b.plugin_abi != MEMLENS_PLUGIN_ABI_VERSION) {
      return absl::InvalidArgumentError(absl::StrCat(paths[f], ": written with plugin ABI ",
                                                     b.plugin_abi, "; this memlens has ",
                                                     MEMLENS_PLUGIN_ABI_VERSION));
    }
    if (f == 0) continue;
    const ReportMetadata &ma = a.metadata, &mb = b.metadata;
    if (b.model_hash != a.model_hash) return differ("the model (weights hash)", Hex(a.model_hash), Hex(b.model_hash));
    if (mb.model_name != ma.model_name) return differ("the model", ma.model_name, mb.model_name);
    if (mb.processing != ma.processing) return differ("the weight processing", ma.processing, mb.processing);
    if (b.dataset_hash != a.dataset_hash || mb.num_prompts != ma.num_prompts ||
        mb.num_tokens != ma.num_tokens) {
      return differ("the dataset (prompts, tokens, hash)",
                    absl::StrCat(ma.num_prompts, ", ", ma.num_tokens, ", ", Hex(a.dataset_hash)),
                    absl::StrCat(mb.num_prompts, ", ", mb.num_tokens, ", ", Hex(b.dataset_hash)));
    }
    if (mb.dataset_name != ma.dataset_name) return differ("the dataset", ma.dataset_name, mb.dataset_name);
    if (mb.seed != ma.seed) return differ("--seed", absl::StrCat(ma.seed), absl::StrCat(mb.seed));
    if (mb.title != ma.title) return differ("the title", ma.title, mb.title);
    if (mb.memlens_version != ma.memlens_version) return differ("the memlens version", ma.memlens_version, mb.memlens_version);
    auto flags = [](const ReportMetadata& m) {
      std::vector<std::string> out;
      for (const auto& [k, v] : m.settings) out.push_back(absl::StrCat(k, "=", v));
      return out;
    };
    if (mb.settings != ma.settings) {
      const std::vector<std::string> x = flags(ma), y = flags(mb);
      std::vector<std::string> only_a, only_b;
      std::set_difference(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(only_a));
      std::set_difference(y.begin(), y.end(), x.begin(), x.end(), std::back_inserter(only_b));
      return differ("the settings or flags", absl::StrJoin(only_a, " "), absl::StrJoin(only_b, " "));
    }
    auto plugins = [](const StateHeader& h) {
      std::vector<std::string> out;
      for (const auto& p : h.plugins) out.push_back(absl::StrCat(p.name, " ", p.version));
      return absl::StrJoin(out, ", ");
    };
    if (plugins(a) != plugins(b)) return differ("the plugins or their versions", plugins(a), plugins(b));
    if (b.shard.count != a.shard.count) {
      return differ("the number of shards", absl::StrCat(a.shard.count), absl::StrCat(b.shard.count));
    }
  }
  const int64_t n = a.shard.count;
  std::vector<int64_t> file_of(n, -1);
  for (size_t f = 0; f < headers.size(); ++f) {
    const int64_t i = headers[f].shard.index;
    if (file_of[i] >= 0) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate shard ", i, "/", n, ": ",
                                                     paths[file_of[i]], " and ", paths[f]));
    }
    file_of[i] = static_cast<int64_t>(f);
    const auto [begin, end] = ShardRange(a.metadata.num_prompts, headers[f].shard);
    if (headers[f].prompt_begin != begin || headers[f].prompt_end != end) {
      return absl::InvalidArgumentError(absl::StrCat(
          paths[f], ": shard ", i, "/", n, " covers prompts [", headers[f].prompt_begin, ", ",
          headers[f].prompt_end, "), not [", begin, ", ", end, ") (overlapping or inconsistent shards)"));
    }
  }
  std::vector<std::string> missing;
  for (int64_t i = 0; i < n; ++i) {
    if (file_of[i] < 0) missing.push_back(absl::StrCat(i));
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing shard(s) ", absl::StrJoin(missing, ", "),
                                                   " of ", n, " (", headers.size(), " files given)"));
  }
  std::vector<size_t> order;
  for (int64_t i = 0; i < n; ++i) order.push_back(static_cast<size_t>(file_of[i]));
  return order;
}

}  // namespace memlens

// The json renderer (schema in render.h), written with //core/io:json's JsonWriter.
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/io/json.h"
#include "core/report/render.h"
#include "core/report/render_util.h"

namespace memlens {
namespace {

using json::JsonWriter;

// The versioning rule is in docs/report-format.md. 2: the summary.
constexpr int kJsonFormatVersion = 2;

// Long numeric arrays go on one line each (a matrix row, a line's y values): pretty-printing
// one number per line makes a 48k-entry table unreadable and large.
std::string CompactNumbers(const std::vector<double>& values, size_t begin, size_t end) {
  std::string out = "[";
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) out.push_back(',');
    json::AppendJsonNumber(&out, values[i]);
  }
  out.push_back(']');
  return out;
}

std::string CompactStrings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    json::AppendJsonString(&out, values[i]);
  }
  out.push_back(']');
  return out;
}

void AppendCell(std::string* out, const Cell& cell) {
  switch (cell.kind()) {
    case Cell::Kind::kEmpty: *out += "null"; break;
    case Cell::Kind::kString: json::AppendJsonString(out, cell.str()); break;
    case Cell::Kind::kInt: absl::StrAppend(out, cell.int_value()); break;
    case Cell::Kind::kFloat: json::AppendJsonNumber(out, cell.float_value()); break;
  }
}

std::string CompactRow(const std::vector<Cell>& row) {
  std::string out = "[";
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendCell(&out, row[i]);
  }
  out.push_back(']');
  return out;
}

void WriteMetadata(JsonWriter& w, const ReportMetadata& m) {
  w.Key("metadata").BeginObject();
  w.Key("title").String(m.title);
  w.Key("memlens_version").String(m.memlens_version);
  w.Key("created").String(m.created);
  w.Key("model").BeginObject();
  w.Key("name").String(m.model_name);
  w.Key("path").String(m.model_path);
  w.Key("format").String(m.model_format);
  w.Key("summary").String(m.model_summary);
  w.EndObject();
  w.Key("processing").String(m.processing.empty() ? "unknown" : m.processing);
  w.Key("dataset").BeginObject();
  w.Key("name").String(m.dataset_name);
  w.Key("path").String(m.dataset_path);
  w.Key("num_prompts").Int(m.num_prompts);
  w.Key("num_tokens").Int(m.num_tokens);
  w.EndObject();
  // uint64: written as an integer literal (exact in the text, whatever a reader does with it).
  w.Key("seed").Raw(absl::StrCat(m.seed));
  w.Key("settings").BeginObject();
  std::set<std::string> seen;  // duplicate keys would make the object invalid for strict readers
  for (const auto& kv : m.settings) {
    std::string key = kv.first;
    for (int n = 2; !seen.insert(key).second; ++n) key = absl::StrCat(kv.first, " (", n, ")");
    w.Key(key).String(kv.second);
  }
  w.EndObject();
  w.EndObject();
}

void WriteCellObject(JsonWriter& w, const std::vector<std::pair<std::string, Cell>>& values) {
  w.BeginObject();
  std::set<std::string> seen;
  for (const auto& [name, cell] : values) {
    if (!seen.insert(name).second) continue;  // a duplicate name would make the object invalid
    std::string text;
    AppendCell(&text, cell);
    w.Key(name).Raw(text);
  }
  w.EndObject();
}

void WriteSummary(JsonWriter& w, const Report& report) {
  w.Key("summary").BeginObject();
  w.Key("caveats").Raw(CompactStrings(report.metadata.caveats));
  w.Key("findings").BeginArray();
  for (const auto& e : report_internal::SummaryEntries(report)) {
    w.BeginObject();
    w.Key("plugin").String(e.section->plugin);
    w.Key("kind").String(e.finding->kind);
    w.Key("text").String(e.finding->text);
    w.Key("values");
    WriteCellObject(w, e.finding->values);
    if (!e.finding->published.empty()) {
      w.Key("published");
      WriteCellObject(w, e.finding->published);
      w.Key("published_source").String(e.finding->published_source);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void WriteItem(JsonWriter& w, const SectionItem& item) {
  w.BeginObject();
  if (const Table* t = absl::get_if<Table>(&item)) {
    w.Key("kind").String("table");
    w.Key("name").String(t->name);
    w.Key("caption").String(t->caption);
    w.Key("columns").BeginArray();
    for (const Column& c : t->columns) {
      w.BeginObject();
      w.Key("name").String(c.name);
      w.Key("type").String(ColumnTypeName(c.type));
      w.EndObject();
    }
    w.EndArray();
    w.Key("rows").BeginArray();
    for (const auto& row : t->rows) w.Raw(CompactRow(row));
    w.EndArray();
    if (t->has_flags()) w.Key("row_flags").Raw(CompactStrings(t->row_flags));
  } else if (const Series* s = absl::get_if<Series>(&item)) {
    w.Key("kind").String("series");
    w.Key("name").String(s->name);
    w.Key("caption").String(s->caption);
    w.Key("x_label").String(s->x_label);
    w.Key("y_label").String(s->y_label);
    w.Key("x_categories").Raw(CompactStrings(s->x_categories));
    w.Key("lines").BeginArray();
    for (const Line& line : s->lines) {
      w.BeginObject();
      w.Key("name").String(line.name);
      w.Key("x").Raw(CompactNumbers(line.x, 0, line.x.size()));
      w.Key("y").Raw(CompactNumbers(line.y, 0, line.y.size()));
      w.Key("style").String(LineStyleName(line.style));
      w.Key("group").String(line.group);
      if (!line.lo.empty()) {
        w.Key("lo").Raw(CompactNumbers(line.lo, 0, line.lo.size()));
        w.Key("hi").Raw(CompactNumbers(line.hi, 0, line.hi.size()));
      }
      w.EndObject();
    }
    w.EndArray();
  } else if (const Matrix* m = absl::get_if<Matrix>(&item)) {
    w.Key("kind").String("matrix");
    w.Key("name").String(m->name);
    w.Key("caption").String(m->caption);
    w.Key("row_title").String(m->row_title);
    w.Key("col_title").String(m->col_title);
    w.Key("row_labels").Raw(CompactStrings(m->row_labels));
    w.Key("col_labels").Raw(CompactStrings(m->col_labels));
    w.Key("values").BeginArray();
    const size_t cols = m->col_labels.size();
    for (size_t r = 0; r < m->row_labels.size(); ++r) {
      w.Raw(CompactNumbers(m->values, r * cols, (r + 1) * cols));
    }
    w.EndArray();
  } else if (const Note* n = absl::get_if<Note>(&item)) {
    w.Key("kind").String("note");
    w.Key("text").String(n->text);
  }
  w.EndObject();
}

}  // namespace

std::string RenderJson(const Report& report) {
  JsonWriter w(/*indent=*/2);
  w.BeginObject();
  w.Key("format").String("memlens-report");
  w.Key("format_version").Int(kJsonFormatVersion);
  WriteMetadata(w, report.metadata);
  WriteSummary(w, report);
  w.Key("sections").BeginArray();
  for (const Section& s : report.sections) {
    w.BeginObject();
    w.Key("plugin").String(s.plugin);
    w.Key("version").String(s.plugin_version);
    w.Key("source").String(s.source);
    w.Key("title").String(s.title);
    w.Key("description").String(s.description);
    w.Key("settings").BeginObject();
    for (const auto& kv : s.settings) w.Key(kv.first).String(kv.second);
    w.EndObject();
    w.Key("status").String(s.ok ? "ok" : "error");
    if (!s.ok) w.Key("error").String(s.error);
    w.Key("items").BeginArray();
    for (const SectionItem& item : s.items) WriteItem(w, item);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::string out = w.Release();
  out.push_back('\n');
  return out;
}

}  // namespace memlens

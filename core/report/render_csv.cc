// The csv renderer: one long-format file, columns section,table,row,column,value (render.h).
#include <string>

#include "absl/strings/str_cat.h"
#include "core/report/render.h"
#include "core/report/render_util.h"

namespace memlens {
namespace {

// RFC 4180: quote a field holding a comma, a quote or a line break; double inner quotes.
// Leading/trailing spaces are quoted too, since some readers strip them.
void AppendField(std::string* out, absl::string_view s) {
  bool quote = s.find_first_of(",\"\r\n") != absl::string_view::npos ||
               (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) {
    out->append(s.data(), s.size());
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendRecord(std::string* out, absl::string_view section, absl::string_view table,
                  absl::string_view row, absl::string_view column, absl::string_view value) {
  AppendField(out, section);
  out->push_back(',');
  AppendField(out, table);
  out->push_back(',');
  AppendField(out, row);
  out->push_back(',');
  AppendField(out, column);
  out->push_back(',');
  AppendField(out, value);
  out->append("\r\n");  // RFC 4180 line ending
}

}  // namespace

std::string RenderCsv(const Report& report) {
  using report_internal::ExactCell;
  using report_internal::ExactFloat;
  std::string out;
  AppendRecord(&out, "section", "table", "row", "column", "value");
  for (const auto& kv : report_internal::MetadataFields(report.metadata)) {
    AppendRecord(&out, "memlens", "metadata", kv.first, "value", kv.second);
  }
  for (const Section& s : report.sections) {
    for (const auto& kv : s.settings) AppendRecord(&out, s.plugin, "flags", kv.first, "value", kv.second);
    if (!s.ok) {
      AppendRecord(&out, s.plugin, "error", "0", "message", s.error);
      continue;
    }
    size_t note_index = 0;
    for (const SectionItem& item : s.items) {
      if (const Table* t = absl::get_if<Table>(&item)) {
        for (size_t r = 0; r < t->rows.size(); ++r) {
          const std::string row = absl::StrCat(r);
          for (size_t c = 0; c < t->columns.size(); ++c) {
            AppendRecord(&out, s.plugin, t->name, row, t->columns[c].name, ExactCell(t->rows[r][c]));
          }
          if (!t->row_flags[r].empty()) {
            AppendRecord(&out, s.plugin, t->name, row, "_flag", t->row_flags[r]);
          }
        }
      } else if (const Series* se = absl::get_if<Series>(&item)) {
        for (const Line& line : se->lines) {
          for (size_t i = 0; i < line.x.size(); ++i) {
            AppendRecord(&out, s.plugin, se->name, line.name, se->XText(line.x[i]),
                         ExactFloat(line.y[i]));
            if (!line.lo.empty()) {  // error bars: rows "<line> lo" and "<line> hi"
              AppendRecord(&out, s.plugin, se->name, line.name + " lo", se->XText(line.x[i]),
                           ExactFloat(line.lo[i]));
              AppendRecord(&out, s.plugin, se->name, line.name + " hi", se->XText(line.x[i]),
                           ExactFloat(line.hi[i]));
            }
          }
        }
      } else if (const Matrix* m = absl::get_if<Matrix>(&item)) {
        for (size_t r = 0; r < m->row_labels.size(); ++r) {
          for (size_t c = 0; c < m->col_labels.size(); ++c) {
            AppendRecord(&out, s.plugin, m->name, m->row_labels[r], m->col_labels[c],
                         ExactFloat(m->at(r, c)));
          }
        }
      } else if (const Note* n = absl::get_if<Note>(&item)) {
        AppendRecord(&out, s.plugin, "note", absl::StrCat(note_index++), "text", n->text);
      }
    }
  }
  return out;
}

}  // namespace memlens

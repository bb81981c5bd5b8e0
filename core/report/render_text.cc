// The terminal renderer: aligned columns, numbers right-aligned, flags in a last column.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/report/render.h"
#include "core/report/render_util.h"

namespace memlens {
namespace {

using report_internal::DisplayCell;
using report_internal::DisplayWidth;
using report_internal::OneLine;

void Pad(std::string* out, size_t n) { out->append(n, ' '); }

// Two spaces between columns: wide enough to read, narrow enough for 80 columns.
constexpr size_t kGap = 2;

void AppendAligned(std::string* out, const Table& table) {
  const bool flags = table.has_flags();
  const size_t ncol = table.columns.size() + (flags ? 1 : 0);
  std::vector<std::vector<std::string>> cells;  // header first
  std::vector<bool> right(ncol, false);
  std::vector<std::string> header;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    header.push_back(OneLine(table.columns[c].name));
    right[c] = table.columns[c].type != ColumnType::kString;
  }
  if (flags) header.push_back("flag");
  cells.push_back(std::move(header));
  for (size_t r = 0; r < table.rows.size(); ++r) {
    std::vector<std::string> row;
    for (size_t c = 0; c < table.columns.size(); ++c) {
      row.push_back(OneLine(DisplayCell(table.rows[r][c], table.columns[c])));
    }
    if (flags) row.push_back(table.row_flags[r].empty() ? "" : "! " + OneLine(table.row_flags[r]));
    cells.push_back(std::move(row));
  }
  std::vector<size_t> width(ncol, 0);
  for (const auto& row : cells) {
    for (size_t c = 0; c < ncol; ++c) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  auto emit_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < ncol; ++c) {
      const size_t fill = width[c] - DisplayWidth(row[c]);
      const bool last = c + 1 == ncol;
      if (right[c]) {
        Pad(&line, fill);
        line += row[c];
      } else {
        line += row[c];
        if (!last) Pad(&line, fill);
      }
      if (!last) Pad(&line, kGap);
    }
    // Trailing spaces only make diffs noisy.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(out, line, "\n");
  };
  emit_row(cells[0]);
  std::vector<std::string> rule;
  for (size_t c = 0; c < ncol; ++c) rule.push_back(std::string(width[c], '-'));
  emit_row(rule);
  for (size_t r = 1; r < cells.size(); ++r) emit_row(cells[r]);
}

void AppendItemTitle(std::string* out, const char* kind, const std::string& name,
                     const std::string& caption) {
  absl::StrAppend(out, "\n-- ", kind, " ", OneLine(name));
  if (!caption.empty()) absl::StrAppend(out, ": ", OneLine(caption));
  absl::StrAppend(out, " --\n");
}

}  // namespace

std::string RenderText(const Report& report) {
  std::string out;
  absl::StrAppend(&out, report.metadata.title, "\n");
  const auto fields = report_internal::MetadataFields(report.metadata);
  size_t key_width = 0;
  for (const auto& kv : fields) key_width = std::max(key_width, kv.first.size());
  for (const auto& kv : fields) {
    absl::StrAppend(&out, "  ", kv.first);
    Pad(&out, key_width - kv.first.size() + kGap);
    absl::StrAppend(&out, OneLine(kv.second), "\n");
  }
  for (const Section& section : report.sections) {
    absl::StrAppend(&out, "\n== ", OneLine(report_internal::SectionHeading(section)), " ==\n");
    if (!section.settings.empty()) {
      absl::StrAppend(&out, "flags:");
      for (const auto& kv : section.settings) {
        absl::StrAppend(&out, " ", OneLine(kv.first), "=", OneLine(kv.second));
      }
      absl::StrAppend(&out, "\n");
    }
    if (!section.ok) {
      absl::StrAppend(&out, "error: ", section.error, "\n");
      continue;
    }
    if (!section.description.empty()) absl::StrAppend(&out, section.description, "\n");
    for (const SectionItem& item : section.items) {
      if (const Table* t = absl::get_if<Table>(&item)) {
        AppendItemTitle(&out, "table", t->name, t->caption);
        AppendAligned(&out, *t);
      } else if (const Series* s = absl::get_if<Series>(&item)) {
        AppendItemTitle(&out, "series", s->name, s->caption);
        AppendAligned(&out, report_internal::SeriesAsTable(*s));
      } else if (const Matrix* m = absl::get_if<Matrix>(&item)) {
        AppendItemTitle(&out, "matrix", m->name, m->caption);
        AppendAligned(&out, report_internal::MatrixAsTable(*m));
      } else if (const Note* n = absl::get_if<Note>(&item)) {
        absl::StrAppend(&out, "\n", n->text, "\n");
      }
    }
  }
  return out;
}

}  // namespace memlens

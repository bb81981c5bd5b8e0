// The markdown renderer (GitHub-flavoured pipe tables).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/report/render.h"
#include "core/report/render_util.h"

namespace memlens {
namespace {

using report_internal::DisplayCell;
using report_internal::OneLine;

// A pipe-table cell: one line, '|' escaped (GFM allows \| inside cells).
std::string MdCell(absl::string_view s) {
  return absl::StrReplaceAll(OneLine(s), {{"|", "\\|"}});
}

void AppendTable(std::string* out, const Table& table) {
  const bool flags = table.has_flags();
  std::string header = "|", rule = "|";
  for (const Column& c : table.columns) {
    absl::StrAppend(&header, " ", MdCell(c.name), " |");
    absl::StrAppend(&rule, c.type == ColumnType::kString ? " --- |" : " ---: |");
  }
  if (flags) {
    absl::StrAppend(&header, " flag |");
    absl::StrAppend(&rule, " --- |");
  }
  absl::StrAppend(out, header, "\n", rule, "\n");
  for (size_t r = 0; r < table.rows.size(); ++r) {
    std::string line = "|";
    for (size_t c = 0; c < table.columns.size(); ++c) {
      absl::StrAppend(&line, " ", MdCell(DisplayCell(table.rows[r][c], table.columns[c])), " |");
    }
    if (flags) {
      const std::string& f = table.row_flags[r];
      absl::StrAppend(&line, " ", f.empty() ? "" : absl::StrCat("**", MdCell(f), "**"), " |");
    }
    absl::StrAppend(out, line, "\n");
  }
}

void AppendItemTitle(std::string* out, const char* kind, const std::string& name,
                     const std::string& caption) {
  absl::StrAppend(out, "\n### ", kind, " `", OneLine(name), "`\n\n");
  if (!caption.empty()) absl::StrAppend(out, OneLine(caption), "\n\n");
}

}  // namespace

std::string RenderMarkdown(const Report& report) {
  std::string out;
  absl::StrAppend(&out, "# ", OneLine(report.metadata.title), "\n\n",
                  OneLine(report_internal::ContextLine(report.metadata)), "\n\n## Summary\n\n");
  for (const std::string& c : report.metadata.caveats) absl::StrAppend(&out, "**Note:** ", OneLine(c), "\n\n");
  const auto entries = report_internal::SummaryEntries(report);
  if (entries.empty()) absl::StrAppend(&out, "No plugin stated a finding; the sections below have the numbers.\n");
  for (const auto& e : entries) {
    absl::StrAppend(&out, "- **", OneLine(e.section->plugin), "**: ", OneLine(e.finding->text), "\n");
    const std::string published = report_internal::PublishedText(*e.finding);
    if (!published.empty()) absl::StrAppend(&out, "  - ", OneLine(published), "\n");
  }
  for (const Section& s : report.sections) {
    if (!s.ok) absl::StrAppend(&out, "- **", OneLine(s.plugin), "** failed: ", OneLine(s.error), "\n");
  }
  absl::StrAppend(&out, "\n## Metadata\n\n| field | value |\n| --- | --- |\n");
  for (const auto& kv : report_internal::MetadataFields(report.metadata)) {
    absl::StrAppend(&out, "| ", MdCell(kv.first), " | ", MdCell(kv.second), " |\n");
  }
  for (const Section& section : report.sections) {
    absl::StrAppend(&out, "\n## ", OneLine(report_internal::SectionHeading(section)), "\n\n");
    if (!section.settings.empty()) {
      absl::StrAppend(&out, "Flags:");
      for (const auto& kv : section.settings) {
        absl::StrAppend(&out, " `", OneLine(kv.first), "=", OneLine(kv.second), "`");
      }
      absl::StrAppend(&out, "\n\n");
    }
    if (!section.ok) {
      absl::StrAppend(&out, "**Error:** ", OneLine(section.error), "\n");
      continue;
    }
    if (!section.description.empty()) absl::StrAppend(&out, section.description, "\n");
    for (const SectionItem& item : section.items) {
      if (const Table* t = absl::get_if<Table>(&item)) {
        AppendItemTitle(&out, "Table", t->name, t->caption);
        AppendTable(&out, *t);
      } else if (const Series* s = absl::get_if<Series>(&item)) {
        AppendItemTitle(&out, "Series", s->name, s->caption);
        AppendTable(&out, report_internal::SeriesAsTable(*s));
      } else if (const Matrix* m = absl::get_if<Matrix>(&item)) {
        AppendItemTitle(&out, "Matrix", m->name, m->caption);
        AppendTable(&out, report_internal::MatrixAsTable(*m));
      } else if (const Note* n = absl::get_if<Note>(&item)) {
        absl::StrAppend(&out, "\n", n->text, "\n");
      }
    }
  }
  return out;
}

}  // namespace memlens

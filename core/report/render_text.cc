// The terminal renderer: aligned columns, numbers right-aligned, flags in a last column.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/report/render.h"
#include "core/report/render_util.h"

namespace memlens {
namespace {

using report_internal::DisplayCell;
using report_internal::DisplayWidth;
using report_internal::OneLine;
using report_internal::Wrap;

void Pad(std::string* out, size_t n) { out->append(n, ' '); }

// A terminal is read at 100 columns: wider tables lose their rightmost columns (the first
// column, which names the row, and the flag stay), longer ones their last rows, and say where
// the rest is.
constexpr size_t kWidth = 100;
constexpr size_t kMaxRows = 40;
// Two spaces between columns: wide enough to read, narrow enough for 80 columns.
constexpr size_t kGap = 2;
constexpr char kElsewhere[] = "csv, json and html have all of it";

// Cuts `s` to `width` columns, marking the cut with "...".
std::string Cut(const std::string& s, size_t width) {
  if (DisplayWidth(s) <= width) return s;
  std::string out;
  size_t w = 0;
  for (size_t i = 0; i < s.size() && w + 3 < width; ++i) {
    out.push_back(s[i]);
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++w;
    // keep a multi-byte character whole
    while (i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      out.push_back(s[++i]);
    }
  }
  return out + "...";
}

void AppendAligned(std::string* out, const Table& table) {
  const bool flags = table.has_flags();
  std::vector<size_t> shown;  // the table's columns that are printed
  for (size_t c = 0; c < table.columns.size(); ++c) shown.push_back(c);
  const size_t nrows = std::min(table.rows.size(), kMaxRows);
  auto cell = [&](size_t r, size_t c) {
    return OneLine(DisplayCell(table.rows[r][c], table.columns[c]));
  };
  std::vector<size_t> col_width(table.columns.size(), 0);
  for (size_t c = 0; c < table.columns.size(); ++c) {
    col_width[c] = DisplayWidth(OneLine(table.columns[c].name));
    for (size_t r = 0; r < nrows; ++r) col_width[c] = std::max(col_width[c], DisplayWidth(cell(r, c)));
  }
  size_t flag_width = 0;
  for (size_t r = 0; flags && r < nrows; ++r) {
    flag_width = std::max(flag_width, DisplayWidth(table.row_flags[r]) + 2);
  }
  flag_width = std::min<size_t>(flag_width, 40);
  auto total = [&]() {
    size_t t = flags ? flag_width + kGap : 0;
    for (size_t c : shown) t += col_width[c] + kGap;
    return t - kGap;
  };
  std::vector<std::string> dropped;
  while (total() > kWidth && shown.size() > 2) {
    dropped.push_back(table.columns[shown.back()].name);
    shown.pop_back();
  }
  // Still too wide (a long text column): cut the widest string column.
  size_t cut_col = table.columns.size(), cut_width = 0;
  if (total() > kWidth) {
    for (size_t c : shown) {
      if (table.columns[c].type == ColumnType::kString && col_width[c] > cut_width) {
        cut_col = c;
        cut_width = col_width[c];
      }
    }
    if (cut_col < table.columns.size()) {
      const size_t excess = total() - kWidth;
      col_width[cut_col] = std::max<size_t>(8, col_width[cut_col] > excess ? col_width[cut_col] - excess : 8);
    }
  }
  const size_t ncol = shown.size() + (flags ? 1 : 0);
  std::vector<std::vector<std::string>> cells;  // header first
  std::vector<bool> right(ncol, false);
  std::vector<std::string> header;
  for (size_t k = 0; k < shown.size(); ++k) {
    header.push_back(OneLine(table.columns[shown[k]].name));
    right[k] = table.columns[shown[k]].type != ColumnType::kString;
  }
  if (flags) header.push_back("flag");
  cells.push_back(std::move(header));
  for (size_t r = 0; r < nrows; ++r) {
    std::vector<std::string> row;
    for (size_t c : shown) {
      std::string text = cell(r, c);
      if (c == cut_col) text = Cut(text, col_width[c]);
      row.push_back(std::move(text));
    }
    if (flags) {
      row.push_back(table.row_flags[r].empty() ? ""
                                               : Cut("! " + OneLine(table.row_flags[r]), flag_width));
    }
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
  std::vector<std::string> rest;
  if (table.rows.size() > nrows) {
    rest.push_back(absl::StrCat("the first ", nrows, " of ", table.rows.size(), " rows"));
  }
  if (!dropped.empty()) {
    std::reverse(dropped.begin(), dropped.end());
    rest.push_back(absl::StrCat(dropped.size(), " more columns (", absl::StrJoin(dropped, ", "), ")"));
  }
  if (cut_col < table.columns.size()) {
    rest.push_back(absl::StrCat("'", table.columns[cut_col].name, "' cut"));
  }
  if (!rest.empty()) {
    absl::StrAppend(out, Wrap(absl::StrCat("(shown: ", absl::StrJoin(rest, "; "), "; ",
                                           kElsewhere, ")"),
                              kWidth));
  }
}

// A matrix too wide for the terminal: its cells of largest magnitude as (row, column, value).
Table LargestCells(const Matrix& m, size_t count) {
  std::vector<size_t> order;
  for (size_t i = 0; i < m.values.size(); ++i) {
    if (std::isfinite(m.values[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::fabs(m.values[a]) > std::fabs(m.values[b]);
  });
  if (order.size() > count) order.resize(count);
  Table t;
  t.name = m.name;
  t.columns = {Column{m.row_title.empty() ? "row" : m.row_title, ColumnType::kString},
               Column{m.col_title.empty() ? "column" : m.col_title, ColumnType::kString},
               Column{"value", ColumnType::kFloat}};
  const size_t cols = m.col_labels.size();
  for (size_t i : order) {
    t.rows.push_back({Cell(m.row_labels[i / cols]), Cell(m.col_labels[i % cols]), Cell(m.values[i])});
  }
  t.row_flags.assign(t.rows.size(), "");
  return t;
}

void AppendMatrix(std::string* out, const Matrix& m) {
  Table grid = report_internal::MatrixAsTable(m);
  size_t width = 0;
  for (size_t c = 0; c < grid.columns.size(); ++c) {
    size_t w = DisplayWidth(grid.columns[c].name);
    for (const auto& row : grid.rows) w = std::max(w, DisplayWidth(DisplayCell(row[c], grid.columns[c])));
    width += w + kGap;
  }
  if (width <= kWidth + kGap) {
    AppendAligned(out, grid);
    return;
  }
  constexpr size_t kCells = 15;
  absl::StrAppend(out, Wrap(absl::StrCat("(", m.row_labels.size(), " x ", m.col_labels.size(),
                                         " is too wide for a terminal: the ", kCells,
                                         " cells of largest magnitude; ", kElsewhere, ")"),
                            kWidth));
  AppendAligned(out, LargestCells(m, kCells));
}

void AppendItemTitle(std::string* out, const char* kind, const std::string& name,
                     const std::string& caption) {
  std::string title = absl::StrCat("-- ", kind, " ", OneLine(name));
  if (!caption.empty()) absl::StrAppend(&title, ": ", OneLine(caption));
  absl::StrAppend(out, "\n", Wrap(title, kWidth, "", "   "));
}

void AppendSummary(std::string* out, const Report& report) {
  absl::StrAppend(out, "\n== Summary ==\n");
  for (const std::string& c : report.metadata.caveats) {
    absl::StrAppend(out, Wrap(absl::StrCat("Note: ", c), kWidth));
  }
  const auto entries = report_internal::SummaryEntries(report);
  if (entries.empty()) {
    absl::StrAppend(out, "No plugin stated a finding; the sections below have the numbers.\n");
  }
  const Section* current = nullptr;
  for (const auto& e : entries) {
    if (e.section != current) {
      current = e.section;
      absl::StrAppend(out, OneLine(current->plugin), ":\n");
    }
    absl::StrAppend(out, Wrap(e.finding->text, kWidth, "  * ", "    "));
    const std::string published = report_internal::PublishedText(*e.finding);
    if (!published.empty()) absl::StrAppend(out, Wrap(published, kWidth, "    ", "    "));
  }
  for (const Section& s : report.sections) {
    if (!s.ok) absl::StrAppend(out, Wrap(absl::StrCat(s.plugin, " FAILED: ", s.error), kWidth));
  }
}

}  // namespace

std::string RenderText(const Report& report) {
  std::string out;
  absl::StrAppend(&out, OneLine(report.metadata.title), "\n");
  absl::StrAppend(&out, Wrap(report_internal::ContextLine(report.metadata), kWidth, "  ", "  "));
  AppendSummary(&out, report);
  absl::StrAppend(&out, "\n== Metadata ==\n");
  const auto fields = report_internal::MetadataFields(report.metadata);
  size_t key_width = 0;
  for (const auto& kv : fields) key_width = std::max(key_width, kv.first.size());
  for (const auto& kv : fields) {
    std::string key = absl::StrCat("  ", kv.first);
    Pad(&key, key_width - kv.first.size() + kGap);
    absl::StrAppend(&out, Wrap(kv.second, kWidth, key, std::string(key.size(), ' ')));
  }
  for (const Section& section : report.sections) {
    absl::StrAppend(&out, "\n", Wrap(absl::StrCat("== ", report_internal::SectionHeading(section), " =="), kWidth));
    if (!section.settings.empty()) {
      std::string flags = "flags:";
      for (const auto& kv : section.settings) absl::StrAppend(&flags, " ", kv.first, "=", kv.second);
      absl::StrAppend(&out, Wrap(flags, kWidth, "", "  "));
    }
    if (!section.ok) {
      absl::StrAppend(&out, Wrap(absl::StrCat("error: ", section.error), kWidth));
      continue;
    }
    if (!section.description.empty()) absl::StrAppend(&out, Wrap(section.description, kWidth));
    for (const SectionItem& item : section.items) {
      if (const Table* t = absl::get_if<Table>(&item)) {
        AppendItemTitle(&out, "table", t->name, t->caption);
        AppendAligned(&out, *t);
      } else if (const Series* s = absl::get_if<Series>(&item)) {
        AppendItemTitle(&out, "series", s->name, s->caption);
        AppendAligned(&out, report_internal::SeriesAsTable(*s));
      } else if (const Matrix* m = absl::get_if<Matrix>(&item)) {
        AppendItemTitle(&out, "matrix", m->name, m->caption);
        AppendMatrix(&out, *m);
      } else if (const Note* n = absl::get_if<Note>(&item)) {
        absl::StrAppend(&out, "\n", Wrap(n->text, kWidth));
      }
    }
  }
  return out;
}

}  // namespace memlens

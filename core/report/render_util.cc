#include "core/report/render_util.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace memlens {
namespace report_internal {

std::string DisplayFloat(double v, int precision) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (precision >= 0) return absl::StrFormat("%.*f", precision, v);
  std::string s = absl::StrFormat("%.4g", v);
  return s == "-0" ? "0" : s;
}

std::string DisplayCell(const Cell& cell, const Column& column) {
  switch (cell.kind()) {
    case Cell::Kind::kEmpty: return "";
    case Cell::Kind::kString: return cell.str();
    case Cell::Kind::kInt: return absl::StrCat(cell.int_value());
    case Cell::Kind::kFloat: return DisplayFloat(cell.float_value(), column.precision);
  }
  return "";
}

std::string ExactFloat(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  // std::to_chars without a precision gives the shortest round-trip representation.
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr - buf);
}

std::string ExactCell(const Cell& cell) {
  switch (cell.kind()) {
    case Cell::Kind::kEmpty: return "";
    case Cell::Kind::kString: return cell.str();
    case Cell::Kind::kInt: return absl::StrCat(cell.int_value());
    case Cell::Kind::kFloat: return ExactFloat(cell.float_value());
  }
  return "";
}

std::string OneLine(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

size_t DisplayWidth(absl::string_view s) {
  size_t n = 0;
  for (char ch : s) {
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;  // not a continuation byte
  }
  return n;
}

std::vector<std::pair<std::string, std::string>> MetadataFields(const ReportMetadata& m) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* key, const std::string& value) {
    if (!value.empty()) out.emplace_back(key, value);
  };
  add("memlens_version", m.memlens_version);
  add("created", m.created);
  add("model_name", m.model_name);
  add("model_path", m.model_path);
  add("model_format", m.model_format);
  add("model_summary", m.model_summary);
  // Always present: DLA numbers mean nothing without it.
  out.emplace_back("processing", m.processing.empty() ? "unknown" : m.processing);
  add("dataset_name", m.dataset_name);
  add("dataset_path", m.dataset_path);
  out.emplace_back("num_prompts", absl::StrCat(m.num_prompts));
  out.emplace_back("num_tokens", absl::StrCat(m.num_tokens));
  out.emplace_back("seed", absl::StrCat(m.seed));
  for (const auto& kv : m.settings) out.push_back(kv);
  return out;
}

std::string SectionHeading(const Section& section) {
  std::string h = section.plugin;
  if (!section.plugin_version.empty()) absl::StrAppend(&h, " ", section.plugin_version);
  if (!section.title.empty()) absl::StrAppend(&h, ": ", section.title);
  if (!section.ok) absl::StrAppend(&h, " [FAILED]");
  return h;
}

std::string Wrap(absl::string_view text, size_t width, absl::string_view first_indent,
                 absl::string_view indent) {
  const std::string one = OneLine(text);
  std::string out, line(first_indent);
  size_t line_width = DisplayWidth(first_indent);
  bool line_has_word = false;
  std::vector<std::string> words;
  const size_t room = width > DisplayWidth(indent) + 8 ? width - DisplayWidth(indent) : 8;
  for (absl::string_view word : absl::StrSplit(one, ' ', absl::SkipEmpty())) {
    // A word longer than a line (a path) is cut into pieces that fit, after a '/' if possible.
    while (DisplayWidth(word) > room) {
      size_t cut = 0, w = 0;
      for (size_t i = 0; i < word.size() && w < room; ++i) {
        if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) ++w;
        cut = i + 1;
      }
      while (cut < word.size() && (static_cast<unsigned char>(word[cut]) & 0xC0) == 0x80) ++cut;
      const size_t slash = word.substr(0, cut).rfind('/');
      if (slash != absl::string_view::npos && slash > room / 2) cut = slash + 1;
      words.emplace_back(word.substr(0, cut));
      word.remove_prefix(cut);
    }
    if (!word.empty()) words.emplace_back(word);
  }
  for (const std::string& word : words) {
    const size_t w = DisplayWidth(word);
    if (line_has_word && line_width + 1 + w > width) {
      absl::StrAppend(&out, line, "\n");
      line = std::string(indent);
      line_width = DisplayWidth(indent);
      line_has_word = false;
    }
    if (line_has_word) {
      line.push_back(' ');
      ++line_width;
    }
    absl::StrAppend(&line, word);
    line_width += w;
    line_has_word = true;
  }
  if (line_has_word) absl::StrAppend(&out, line, "\n");
  return out;
}

std::vector<SummaryEntry> SummaryEntries(const Report& report) {
  std::vector<SummaryEntry> out;
  for (const Section& s : report.sections) {
    if (!s.ok) continue;
    for (const Finding& f : s.findings) out.push_back({&s, &f});
  }
  return out;
}

namespace {
std::string ValueText(const Cell& c) {
  return c.kind() == Cell::Kind::kFloat ? DisplayFloat(c.float_value()) : ExactCell(c);
}
}  // namespace

std::string PublishedText(const Finding& f) {
  if (f.published.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [name, value] : f.published) {
    std::string part = absl::StrCat(name, " ", ValueText(value));
    for (const auto& [here_name, here] : f.values) {
      if (here_name == name) absl::StrAppend(&part, " (here ", ValueText(here), ")");
    }
    parts.push_back(std::move(part));
  }
  return absl::StrCat("published", f.published_source.empty() ? "" : " (", f.published_source,
                      f.published_source.empty() ? "" : ")", ": ", absl::StrJoin(parts, ", "));
}

std::string ContextLine(const ReportMetadata& m) {
  std::string model = m.model_name.empty() ? m.model_path : m.model_name;
  if (!m.model_summary.empty()) absl::StrAppend(&model, " (", m.model_summary, ")");
  std::string data = absl::StrCat(m.num_prompts, " prompts, ", m.num_tokens, " tokens");
  if (!m.dataset_name.empty()) absl::StrAppend(&data, " (", m.dataset_name, ")");
  return absl::StrCat(model, "; ", data);
}

Table SeriesAsTable(const Series& series) {
  Table t;
  t.name = series.name;
  t.caption = series.caption;
  bool shared_x = !series.lines.empty();
  for (const Line& line : series.lines) {
    if (line.x != series.lines[0].x) shared_x = false;
  }
  const std::string x_name = series.x_label.empty() ? "x" : series.x_label;
  if (shared_x) {
    t.columns.push_back(Column{x_name, ColumnType::kString});
    for (const Line& line : series.lines) {
      t.columns.push_back(Column{line.name, ColumnType::kFloat});
      if (!line.lo.empty()) {
        t.columns.push_back(Column{line.name + " lo", ColumnType::kFloat});
        t.columns.push_back(Column{line.name + " hi", ColumnType::kFloat});
      }
    }
    const std::vector<double>& xs = series.lines[0].x;
    for (size_t i = 0; i < xs.size(); ++i) {
      std::vector<Cell> row;
      row.emplace_back(series.XText(xs[i]));
      for (const Line& line : series.lines) {
        row.emplace_back(line.y[i]);
        if (!line.lo.empty()) {
          row.emplace_back(line.lo[i]);
          row.emplace_back(line.hi[i]);
        }
      }
      t.rows.push_back(std::move(row));
    }
  } else {
    t.columns = {Column{"line", ColumnType::kString}, Column{x_name, ColumnType::kString},
                 Column{series.y_label.empty() ? "y" : series.y_label, ColumnType::kFloat}};
    for (const Line& line : series.lines) {
      for (size_t i = 0; i < line.x.size(); ++i) {
        t.rows.push_back({Cell(line.name), Cell(series.XText(line.x[i])), Cell(line.y[i])});
      }
    }
  }
  t.row_flags.assign(t.rows.size(), "");
  return t;
}

Table MatrixAsTable(const Matrix& matrix) {
  Table t;
  t.name = matrix.name;
  t.caption = matrix.caption;
  std::string corner = matrix.row_title;
  if (!matrix.col_title.empty()) absl::StrAppend(&corner, corner.empty() ? "" : " \\ ", matrix.col_title);
  t.columns.push_back(Column{corner, ColumnType::kString});
  for (const std::string& c : matrix.col_labels) t.columns.push_back(Column{c, ColumnType::kFloat});
  for (size_t r = 0; r < matrix.row_labels.size(); ++r) {
    std::vector<Cell> row;
    row.emplace_back(matrix.row_labels[r]);
    for (size_t c = 0; c < matrix.col_labels.size(); ++c) {
      const double v = matrix.at(r, c);
      row.push_back(std::isnan(v) ? Cell() : Cell(v));  // NaN means "no value" in a matrix
    }
    t.rows.push_back(std::move(row));
  }
  t.row_flags.assign(t.rows.size(), "");
  return t;
}

}  // namespace report_internal
}  // namespace memlens

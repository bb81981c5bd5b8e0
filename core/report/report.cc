#include "core/report/report.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace memlens {

const char* ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kString: return "string";
    case ColumnType::kInt: return "int";
    case ColumnType::kFloat: return "float";
  }
  return "?";
}

const char* LineStyleName(LineStyle style) {
  switch (style) {
    case LineStyle::kSolid: return "solid";
    case LineStyle::kDashed: return "dashed";
    case LineStyle::kDotted: return "dotted";
    case LineStyle::kPoints: return "points";
    case LineStyle::kBars: return "bars";
  }
  return "?";
}

bool Table::has_flags() const {
  for (const std::string& f : row_flags) {
    if (!f.empty()) return true;
  }
  return false;
}

std::string Series::XText(double x) const {
  if (!x_categories.empty()) {
    const double i = std::round(x);
    if (i == x && i >= 0 && i < static_cast<double>(x_categories.size())) {
      return x_categories[static_cast<size_t>(i)];
    }
  }
  // Shortest text that reads back as the same double is overkill for an axis; 6 significant
  // digits is what absl prints.
  return absl::StrCat(x);
}

namespace {

const char* CellKindName(Cell::Kind kind) {
  switch (kind) {
    case Cell::Kind::kEmpty: return "empty";
    case Cell::Kind::kString: return "string";
    case Cell::Kind::kInt: return "int";
    case Cell::Kind::kFloat: return "float";
  }
  return "?";
}

bool CellFits(const Cell& cell, ColumnType type) {
  switch (cell.kind()) {
    case Cell::Kind::kEmpty: return true;
    case Cell::Kind::kString: return type == ColumnType::kString;
    case Cell::Kind::kInt: return type == ColumnType::kInt || type == ColumnType::kFloat;
    case Cell::Kind::kFloat: return type == ColumnType::kFloat;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------- ReportBuilder

void ReportBuilder::Fail(std::string message) {
  if (status_.ok()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("report section '", section_->plugin, "': ", message));
  }
}

bool ReportBuilder::CheckNewName(absl::string_view kind, absl::string_view name) {
  if (name.empty()) {
    Fail(absl::StrCat(kind, " with an empty name"));
    return false;
  }
  for (const SectionItem& item : section_->items) {
    const std::string* existing = nullptr;
    if (const Table* t = absl::get_if<Table>(&item)) existing = &t->name;
    if (const Series* s = absl::get_if<Series>(&item)) existing = &s->name;
    if (const Matrix* m = absl::get_if<Matrix>(&item)) existing = &m->name;
    if (existing != nullptr && *existing == name) {
      Fail(absl::StrCat("two items are named '", name,
                        "' (names of tables, series and matrices must be unique in a section)"));
      return false;
    }
  }
  return true;
}

void ReportBuilder::SetTitle(absl::string_view title) { section_->title = std::string(title); }

void ReportBuilder::SetDescription(absl::string_view description) {
  section_->description = std::string(description);
}

TableBuilder ReportBuilder::AddTable(absl::string_view name, std::vector<Column> columns,
                                     absl::string_view caption) {
  Table table;
  if (CheckNewName("a table", name)) {
    if (columns.empty()) Fail(absl::StrCat("table '", name, "' has no columns"));
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i].name.empty()) {
        Fail(absl::StrCat("table '", name, "': column ", i, " has an empty name"));
      }
      for (size_t j = 0; j < i; ++j) {
        if (columns[j].name == columns[i].name) {
          Fail(absl::StrCat("table '", name, "': two columns are named '", columns[i].name, "'"));
        }
      }
    }
  }
  table.name = std::string(name);
  table.caption = std::string(caption);
  table.columns = std::move(columns);
  section_->items.push_back(std::move(table));
  return TableBuilder(this, section_->items.size() - 1);
}

SeriesBuilder ReportBuilder::AddSeries(absl::string_view name, absl::string_view x_label,
                                       absl::string_view y_label, absl::string_view caption) {
  return AddCategoricalSeries(name, {}, x_label, y_label, caption);
}

SeriesBuilder ReportBuilder::AddCategoricalSeries(absl::string_view name,
                                                  std::vector<std::string> categories,
                                                  absl::string_view x_label,
                                                  absl::string_view y_label,
                                                  absl::string_view caption) {
  CheckNewName("a series", name);
  Series series;
  series.name = std::string(name);
  series.caption = std::string(caption);
  series.x_label = std::string(x_label);
  series.y_label = std::string(y_label);
  series.x_categories = std::move(categories);
  section_->items.push_back(std::move(series));
  return SeriesBuilder(this, section_->items.size() - 1);
}

void ReportBuilder::AddMatrix(absl::string_view name, std::vector<std::string> row_labels,
                              std::vector<std::string> col_labels, std::vector<double> values,
                              absl::string_view caption, absl::string_view row_title,
                              absl::string_view col_title) {
  if (!CheckNewName("a matrix", name)) return;
  if (values.size() != row_labels.size() * col_labels.size()) {
    Fail(absl::StrCat("matrix '", name, "' has ", values.size(), " values but ",
                      row_labels.size(), " row labels x ", col_labels.size(),
                      " column labels need ", row_labels.size() * col_labels.size()));
    return;
  }
  Matrix m;
  m.name = std::string(name);
  m.caption = std::string(caption);
  m.row_title = std::string(row_title);
  m.col_title = std::string(col_title);
  m.row_labels = std::move(row_labels);
  m.col_labels = std::move(col_labels);
  m.values = std::move(values);
  section_->items.push_back(std::move(m));
}

void ReportBuilder::AddNote(absl::string_view text) {
  section_->items.push_back(Note{std::string(text)});
}

void ReportBuilder::AddFinding(absl::string_view kind, absl::string_view text,
                               std::vector<std::pair<std::string, Cell>> values,
                               std::vector<std::pair<std::string, Cell>> published,
                               absl::string_view published_source) {
  if (kind.empty() || text.empty()) {
    Fail(absl::StrCat("a finding with an empty ", kind.empty() ? "kind" : "text"));
    return;
  }
  section_->findings.push_back(Finding{std::string(kind), std::string(text), std::move(values),
                                       std::move(published), std::string(published_source)});
}

// ---------------------------------------------------------------- TableBuilder

TableBuilder& TableBuilder::AddRow(std::vector<Cell> cells, absl::string_view flag) {
  Table& table = absl::get<Table>(builder_->section_->items[item_]);
  const size_t row = table.rows.size();
  if (cells.size() != table.columns.size()) {
    builder_->Fail(absl::StrCat("table '", table.name, "' row ", row, " has ", cells.size(),
                                " cells but the table has ", table.columns.size(), " columns"));
    return *this;
  }
  for (size_t c = 0; c < cells.size(); ++c) {
    if (!CellFits(cells[c], table.columns[c].type)) {
      builder_->Fail(absl::StrCat("table '", table.name, "' row ", row, " column '",
                                  table.columns[c].name, "' is ",
                                  ColumnTypeName(table.columns[c].type), " but the cell is ",
                                  CellKindName(cells[c].kind())));
      return *this;
    }
    // Int cells in float columns become floats, so renderers see one type per column.
    if (cells[c].kind() == Cell::Kind::kInt && table.columns[c].type == ColumnType::kFloat) {
      cells[c] = Cell(cells[c].float_value());
    }
  }
  table.rows.push_back(std::move(cells));
  table.row_flags.emplace_back(flag);
  return *this;
}

size_t TableBuilder::num_rows() const {
  return absl::get<Table>(builder_->section_->items[item_]).rows.size();
}

// ---------------------------------------------------------------- SeriesBuilder

SeriesBuilder& SeriesBuilder::AddLine(absl::string_view name, std::vector<double> x,
                                      std::vector<double> y) {
  Series& series = absl::get<Series>(builder_->section_->items[item_]);
  if (x.size() != y.size()) {
    builder_->Fail(absl::StrCat("series '", series.name, "' line '", name, "' has ", x.size(),
                                " x values but ", y.size(), " y values"));
    return *this;
  }
  for (const Line& line : series.lines) {
    if (line.name == name) {
      builder_->Fail(
          absl::StrCat("series '", series.name, "' has two lines named '", name, "'"));
      return *this;
    }
  }
  series.lines.push_back(Line{std::string(name), std::move(x), std::move(y)});
  return *this;
}

SeriesBuilder& SeriesBuilder::AddLine(absl::string_view name, std::vector<double> y) {
  std::vector<double> x(y.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
  return AddLine(name, std::move(x), std::move(y));
}

}  // namespace memlens

namespace memlens {

SeriesBuilder& SeriesBuilder::Style(LineStyle style, absl::string_view group) {
  Series& series = absl::get<Series>(builder_->section_->items[item_]);
  if (series.lines.empty()) {
    builder_->Fail(absl::StrCat("series '", series.name, "': Style() before any line"));
    return *this;
  }
  series.lines.back().style = style;
  series.lines.back().group = std::string(group);
  return *this;
}

SeriesBuilder& SeriesBuilder::ErrorBars(std::vector<double> lo, std::vector<double> hi) {
  Series& series = absl::get<Series>(builder_->section_->items[item_]);
  if (series.lines.empty()) {
    builder_->Fail(absl::StrCat("series '", series.name, "': ErrorBars() before any line"));
    return *this;
  }
  Line& line = series.lines.back();
  if (lo.size() != line.y.size() || hi.size() != line.y.size()) {
    builder_->Fail(absl::StrCat("series '", series.name, "' line '", line.name, "' has ",
                                line.y.size(), " points but ", lo.size(), " low and ", hi.size(),
                                " high error bar values"));
    return *this;
  }
  line.lo = std::move(lo);
  line.hi = std::move(hi);
  return *this;
}

}  // namespace memlens

// The report model: what an analysis run produces, independent of how it is rendered.
//
// A Report is metadata (model, dataset, settings, weight processing, version, seed) plus one
// Section per plugin. A section states its findings (plain sentences with their numbers, which
// every renderer gathers into a summary ahead of the sections) and holds, in the order the plugin added them: tables with typed
// columns and optional per-row flags, series (named x/y lines forming one plot, e.g. survival
// curves), matrices (row/column labels and values, e.g. a projection-ratio matrix) and notes.
// Plugins never build these structs directly: they get a ReportBuilder (below), which
// validates what they add, so every renderer can trust a Report.
//
// Plugin ABI: this header is part of what plugin_api.h exposes. Changing any type here changes
// the plugin ABI; bump MEMLENS_PLUGIN_ABI_VERSION in core/plugin/plugin_api.h.
#ifndef MEMLENS_CORE_REPORT_REPORT_H_
#define MEMLENS_CORE_REPORT_REPORT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/variant.h"

namespace memlens {

// The one place the toolkit's version is written; reports carry it.
inline constexpr char kMemlensVersion[] = "0.3.0";

enum class ColumnType { kString, kInt, kFloat };
// "string", "int", "float" (also the names used in the json output).
const char* ColumnTypeName(ColumnType type);

// One table cell: empty (a missing value), a string, an integer or a float. Implicit
// constructors let rows be written as {"L0H2", 3, 0.55}. bool is rejected at compile time
// (write it as a string or an int).
class Cell {
 public:
  enum class Kind { kEmpty, kString, kInt, kFloat };

  Cell() = default;
  Cell(const char* s) : kind_(Kind::kString), s_(s == nullptr ? "" : s) {}
  Cell(std::string s) : kind_(Kind::kString), s_(std::move(s)) {}
  Cell(absl::string_view s) : kind_(Kind::kString), s_(s) {}
  Cell(int v) : kind_(Kind::kInt), i_(v) {}
  Cell(long v) : kind_(Kind::kInt), i_(v) {}
  Cell(long long v) : kind_(Kind::kInt), i_(v) {}
  Cell(unsigned v) : kind_(Kind::kInt), i_(v) {}
  Cell(unsigned long v) : kind_(Kind::kInt), i_(static_cast<int64_t>(v)) {}
  Cell(unsigned long long v) : kind_(Kind::kInt), i_(static_cast<int64_t>(v)) {}
  Cell(float v) : kind_(Kind::kFloat), f_(v) {}
  Cell(double v) : kind_(Kind::kFloat), f_(v) {}
  Cell(bool) = delete;

  Kind kind() const { return kind_; }
  bool empty() const { return kind_ == Kind::kEmpty; }
  const std::string& str() const { return s_; }
  int64_t int_value() const { return i_; }
  // The value of a float cell, or an int cell converted.
  double float_value() const { return kind_ == Kind::kInt ? static_cast<double>(i_) : f_; }

 private:
  Kind kind_ = Kind::kEmpty;
  std::string s_;
  int64_t i_ = 0;
  double f_ = 0;
};

struct Column {
  std::string name;
  ColumnType type = ColumnType::kString;
  // Float columns in text/md/html: digits after the decimal point; -1 = 4 significant
  // digits. csv and json always carry the full (round-trip) value.
  int precision = -1;
};

struct Table {
  std::string name;
  std::string caption;
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;  // each row has columns.size() cells of matching types
  std::vector<std::string> row_flags;   // rows.size() entries; "" = not flagged
  bool has_flags() const;
};

// How a line of a plot is drawn (text, md and csv show the numbers either way).
enum class LineStyle { kSolid, kDashed, kDotted, kPoints, kBars };
// "solid", "dashed", "dotted", "points", "bars" (also the json names).
const char* LineStyleName(LineStyle style);

// One line of a plot.
struct Line {
  std::string name;
  std::vector<double> x, y;  // same length
  LineStyle style = LineStyle::kSolid;
  // Lines of one non-empty group share a colour (e.g. a writer's clean and causal curves).
  std::string group;
  // Optional error bars: empty, or one low and one high value per point (NaN: none).
  std::vector<double> lo, hi;
};

// One plot: lines sharing axes. With categories, x values are indices into them
// (e.g. residual points "mid0", "post0", ...).
struct Series {
  std::string name;
  std::string caption;
  std::string x_label, y_label;
  std::vector<std::string> x_categories;
  std::vector<Line> lines;
  // Text of an x value: the category when categorical, the number otherwise.
  std::string XText(double x) const;
};

struct Matrix {
  std::string name;
  std::string caption;
  std::string row_title, col_title;  // what the rows and columns are (e.g. "writer", "node")
  std::vector<std::string> row_labels, col_labels;
  std::vector<double> values;  // row-major [rows, cols]; NaN = no value
  double at(size_t r, size_t c) const { return values[r * col_labels.size() + c]; }
};

struct Note {
  std::string text;
};

using SectionItem = absl::variant<Table, Series, Matrix, Note>;

// One thing the analysis found, stated for the report's summary (which every format shows
// before the detailed sections): a plain sentence with its numbers, and the same numbers by
// name for programs. The host renders findings; it knows no plugin and no kind.
struct Finding {
  // A short key programs can select on, e.g. "eraser", "survival", "dla_misleads",
  // "adversarial", "no_cleanup". Free-form; documented per plugin in docs/report-format.md.
  std::string kind;
  std::string text;  // one sentence, with its numbers, e.g. "L2H5 erases 26% of L0H2's write"
  // The numbers (and node names) behind the sentence, in display order.
  std::vector<std::pair<std::string, Cell>> values;
  // Published values to compare with (e.g. the reference study's, under --preset=paper),
  // named like `values` where they measure the same thing.
  std::vector<std::pair<std::string, Cell>> published;
  std::string published_source;  // where `published` comes from ("" when empty)
};

struct Section {
  std::string plugin;          // plugin name (also the section's key in csv/json)
  std::string plugin_version;
  std::string source;          // the .so the plugin came from ("" when built in)
  std::string title;           // one line; defaults to the plugin's description
  std::string description;     // optional paragraph
  // The plugin's own flags and their values for this run ("--name", "value").
  std::vector<std::pair<std::string, std::string>> settings;
  bool ok = true;              // false: the plugin failed; `error` says why, items are empty
  std::string error;
  std::vector<Finding> findings;  // in the order the plugin stated them (most important first)
  std::vector<SectionItem> items;
};

struct ReportMetadata {
  std::string title = "memlens report";
  std::string memlens_version = kMemlensVersion;
  std::string created;         // ISO 8601 UTC
  std::string model_name;
  std::string model_path;
  std::string model_format;
  std::string model_summary;   // e.g. "4 layers, d_model 512, 8 heads of 64, ..."
  // How the weights were processed (LN folding, centering): Model::processing. DLA numbers
  // depend on it, so every report states it.
  std::string processing;
  std::string dataset_name;
  std::string dataset_path;
  int64_t num_prompts = 0;
  int64_t num_tokens = 0;
  uint64_t seed = 0;
  // Further settings in display order: target, contrast, plugin flags, ...
  std::vector<std::pair<std::string, std::string>> settings;
  // What a reader must know before the findings (e.g. "the target ' bottom' is 4 tokens; its
  // first token is attributed"): shown at the top of the summary.
  std::vector<std::string> caveats;
};

struct Report {
  ReportMetadata metadata;
  std::vector<Section> sections;
};

// ---------------------------------------------------------------- building (plugin-facing)
//
// Builder calls never throw or abort: the first misuse (a row with the wrong number or type
// of cells, mismatched x/y lengths, a duplicate item name) is recorded and returned by
// ReportBuilder::status(); the runner then reports the plugin as failed with that message.

class ReportBuilder;

class TableBuilder {
 public:
  // `flag` marks the row (e.g. "DLA sign differs from total effect"); renderers highlight it.
  TableBuilder& AddRow(std::vector<Cell> cells, absl::string_view flag = "");
  size_t num_rows() const;

 private:
  friend class ReportBuilder;
  TableBuilder(ReportBuilder* builder, size_t item) : builder_(builder), item_(item) {}
  ReportBuilder* builder_;
  size_t item_;
};

class SeriesBuilder {
 public:
  // x and y must have the same length.
  SeriesBuilder& AddLine(absl::string_view name, std::vector<double> x, std::vector<double> y);
  // x = 0, 1, 2, ... (the category indices when the series is categorical).
  SeriesBuilder& AddLine(absl::string_view name, std::vector<double> y);
  // How the last added line is drawn, and its colour group.
  SeriesBuilder& Style(LineStyle style, absl::string_view group = "");
  // Error bars of the last added line: lo and hi, each as long as its y.
  SeriesBuilder& ErrorBars(std::vector<double> lo, std::vector<double> hi);

 private:
  friend class ReportBuilder;
  SeriesBuilder(ReportBuilder* builder, size_t item) : builder_(builder), item_(item) {}
  ReportBuilder* builder_;
  size_t item_;
};

// Builds one Section. Handles (TableBuilder, SeriesBuilder) stay valid while the
// ReportBuilder lives, whatever else is added in between.
class ReportBuilder {
 public:
  explicit ReportBuilder(Section* section) : section_(section) {}

  void SetTitle(absl::string_view title);
  void SetDescription(absl::string_view description);

  // Item names must be non-empty and unique within the section.
  TableBuilder AddTable(absl::string_view name, std::vector<Column> columns,
                        absl::string_view caption = "");
  SeriesBuilder AddSeries(absl::string_view name, absl::string_view x_label,
                          absl::string_view y_label, absl::string_view caption = "");
  // A series whose x values index `categories`.
  SeriesBuilder AddCategoricalSeries(absl::string_view name, std::vector<std::string> categories,
                                     absl::string_view x_label, absl::string_view y_label,
                                     absl::string_view caption = "");
  // values: row-major, row_labels.size() * col_labels.size() entries; NaN = no value.
  void AddMatrix(absl::string_view name, std::vector<std::string> row_labels,
                 std::vector<std::string> col_labels, std::vector<double> values,
                 absl::string_view caption = "", absl::string_view row_title = "",
                 absl::string_view col_title = "");
  void AddNote(absl::string_view text);
  // A finding for the report's summary (see Finding). kind and text must be non-empty.
  void AddFinding(absl::string_view kind, absl::string_view text,
                  std::vector<std::pair<std::string, Cell>> values = {},
                  std::vector<std::pair<std::string, Cell>> published = {},
                  absl::string_view published_source = "");

  // OK, or the first misuse (naming the item, the row and the column).
  const absl::Status& status() const { return status_; }
  const Section& section() const { return *section_; }

 private:
  friend class TableBuilder;
  friend class SeriesBuilder;
  bool CheckNewName(absl::string_view kind, absl::string_view name);
  void Fail(std::string message);
  Section* section_;
  absl::Status status_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_REPORT_REPORT_H_

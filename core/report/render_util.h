// Helpers shared by the renderers (private to //core/report:render).
#ifndef MEMLENS_CORE_REPORT_RENDER_UTIL_H_
#define MEMLENS_CORE_REPORT_RENDER_UTIL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/report/report.h"

namespace memlens {
namespace report_internal {

// For people: `precision` digits after the point, or 4 significant digits when -1;
// "nan", "inf", "-inf" for non-finite values.
std::string DisplayFloat(double v, int precision = -1);
// A cell as people read it ("" for an empty cell).
std::string DisplayCell(const Cell& cell, const Column& column);

// For machines: the shortest text that reads back as the same double ("" for NaN,
// "inf"/"-inf" for infinities).
std::string ExactFloat(double v);
std::string ExactCell(const Cell& cell);

// Control characters made visible ("\n", "\t", "\x01") so a cell stays on one line.
std::string OneLine(absl::string_view s);
// Terminal columns taken by UTF-8 text (one per code point; good enough for alignment).
size_t DisplayWidth(absl::string_view s);

// The metadata as (field, value) pairs in display order, skipping empty fields. The field
// names are the json keys ("model_name", "processing", ...).
std::vector<std::pair<std::string, std::string>> MetadataFields(const ReportMetadata& m);

// The section heading: "plugin version: title".
std::string SectionHeading(const Section& section);

// `text` broken at spaces into lines of at most `width` columns (a longer word gets a line of
// its own), the first line starting with `first_indent`, the others with `indent`; each line
// ends with "\n". Control characters are made visible first (OneLine).
std::string Wrap(absl::string_view text, size_t width, absl::string_view first_indent = "",
                 absl::string_view indent = "");

// The summary every format shows before the sections: each ok section's findings, in section
// order. A section without findings contributes nothing.
struct SummaryEntry {
  const Section* section;
  const Finding* finding;
};
std::vector<SummaryEntry> SummaryEntries(const Report& report);
// A finding's published values beside the computed ones of the same name:
// "published (SOURCE): name 0.26 (here 0.31), other 5". "" when it has none.
std::string PublishedText(const Finding& finding);
// The one-line context ahead of the summary: "MODEL_NAME (SUMMARY); N prompts, M tokens
// (DATASET)".
std::string ContextLine(const ReportMetadata& m);

// Series as a table: when every line has the same x values, one row per x and one column per
// line; otherwise one row per point (line, x, y).
Table SeriesAsTable(const Series& series);
// Matrix as a table: first column the row labels.
Table MatrixAsTable(const Matrix& matrix);

}  // namespace report_internal
}  // namespace memlens

#endif  // MEMLENS_CORE_REPORT_RENDER_UTIL_H_

// Renderers: one Report, five formats. They know nothing of attribution; they lay out what
// the report model holds.
//
//   text  Aligned terminal tables (the default), at most 100 columns wide. Strings
//         left-aligned, numbers right-aligned; a "flag" column appears when a table has flagged
//         rows. Matrices as labelled grids (too wide: their largest cells), series as one table
//         per plot (x, then one column per line). Wide tables lose their rightmost columns,
//         long ones their rows after the 40th; text wraps; each cut says so.
//   md    GitHub-flavoured markdown: metadata table, one "##" heading per section, pipe tables.
//   csv   ONE long-format file (RFC 4180 quoting) with the header
//             section,table,row,column,value
//         section = plugin name ("memlens" for the metadata rows);
//         table   = item name; notes use "note", failures "error", metadata "metadata",
//                   the plugin's flags "flags";
//         row     = tables: row index from 0; matrices: row label; series: line name;
//                   notes/error: index from 0; metadata: field name; flags: "--name";
//         column  = tables: column name, plus "_flag" for a flagged row's flag text;
//                   matrices: column label; series: the x value (category or number);
//                   notes: "text"; error: "message"; metadata and flags: "value";
//         value   = the cell (floats with round-trip precision; empty cell or NaN: empty).
//         Pivot it with e.g. pandas: df[df.table == "norms"].pivot(index="row", columns="column").
//   json  One object: {"format": "memlens-report", "format_version": 2, "metadata": {...},
//         "summary": {"caveats", "findings"}, "sections": [...]}; the schema and its versioning
//         rule are in docs/report-format.md. Non-finite floats become null (JSON has no NaN).
//   html  One self-contained page (inline CSS and script, no external assets): metadata,
//         tables (flagged rows highlighted), matrices as heatmaps of coloured cells (diverging
//         blue-white-red around 0 when values have both signs), series as inline SVG plots.
// Every format leads with the summary: the metadata's caveats and every ok section's
// findings (Section::findings), in section order; text and md then show the metadata.
#ifndef MEMLENS_CORE_REPORT_RENDER_H_
#define MEMLENS_CORE_REPORT_RENDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/report/report.h"

namespace memlens {

enum class ReportFormat { kText, kMarkdown, kCsv, kJson, kHtml };

// "text", "md", "csv", "json", "html".
const char* ReportFormatName(ReportFormat format);
// Accepts text|txt, md|markdown, csv, json, html|htm (case-insensitive); the error lists them.
absl::StatusOr<ReportFormat> ParseReportFormat(absl::string_view name);
// From a path's extension (.txt .md .csv .json .html); error for anything else.
absl::StatusOr<ReportFormat> ReportFormatFromPath(absl::string_view path);

std::string RenderReport(const Report& report, ReportFormat format);
// `format` as accepted by ParseReportFormat.
absl::StatusOr<std::string> RenderReport(const Report& report, absl::string_view format);

std::string RenderText(const Report& report);
std::string RenderMarkdown(const Report& report);
std::string RenderCsv(const Report& report);
std::string RenderJson(const Report& report);
std::string RenderHtml(const Report& report);

// Renders and writes `path` atomically (core/io/atomic_file.h).
absl::Status WriteReport(const Report& report, ReportFormat format, const std::string& path);

}  // namespace memlens

#endif  // MEMLENS_CORE_REPORT_RENDER_H_

#include "core/report/render.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/io/atomic_file.h"

namespace memlens {

const char* ReportFormatName(ReportFormat format) {
  switch (format) {
    case ReportFormat::kText: return "text";
    case ReportFormat::kMarkdown: return "md";
    case ReportFormat::kCsv: return "csv";
    case ReportFormat::kJson: return "json";
    case ReportFormat::kHtml: return "html";
  }
  return "?";
}

absl::StatusOr<ReportFormat> ParseReportFormat(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "text" || n == "txt") return ReportFormat::kText;
  if (n == "md" || n == "markdown") return ReportFormat::kMarkdown;
  if (n == "csv") return ReportFormat::kCsv;
  if (n == "json") return ReportFormat::kJson;
  if (n == "html" || n == "htm") return ReportFormat::kHtml;
  return absl::InvalidArgumentError(absl::StrCat("unknown report format '", name,
                                                 "' (expected text, md, csv, json or html)"));
}

absl::StatusOr<ReportFormat> ReportFormatFromPath(absl::string_view path) {
  const size_t slash = path.find_last_of('/');
  const absl::string_view base = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = base.find_last_of('.');
  if (dot == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot tell the report format of '", path,
        "' from its extension (use .txt, .md, .csv, .json or .html, or give the format)"));
  }
  absl::StatusOr<ReportFormat> f = ParseReportFormat(base.substr(dot + 1));
  if (!f.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot tell the report format of '", path, "' from its extension '",
        base.substr(dot), "' (use .txt, .md, .csv, .json or .html, or give the format)"));
  }
  return f;
}

std::string RenderReport(const Report& report, ReportFormat format) {
  switch (format) {
    case ReportFormat::kText: return RenderText(report);
    case ReportFormat::kMarkdown: return RenderMarkdown(report);
    case ReportFormat::kCsv: return RenderCsv(report);
    case ReportFormat::kJson: return RenderJson(report);
    case ReportFormat::kHtml: return RenderHtml(report);
  }
  return RenderText(report);
}

absl::StatusOr<std::string> RenderReport(const Report& report, absl::string_view format) {
  absl::StatusOr<ReportFormat> f = ParseReportFormat(format);
  if (!f.ok()) return f.status();
  return RenderReport(report, *f);
}

absl::Status WriteReport(const Report& report, ReportFormat format, const std::string& path) {
  return WriteFileAtomically(path, RenderReport(report, format));
}

}  // namespace memlens

// The html renderer: one self-contained page (inline CSS and SVG; no scripts, no external
// assets), so a report can be mailed, archived or opened offline.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/report/render.h"
#include "core/report/render_util.h"

namespace memlens {
namespace {

using report_internal::DisplayCell;
using report_internal::DisplayFloat;

std::string Esc(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// An id usable in a fragment link: [A-Za-z0-9_-], everything else '-'.
std::string Anchor(absl::string_view s) {
  std::string out = "s-";
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    out.push_back(ok ? c : '-');
  }
  return out;
}

constexpr char kStyle[] = R"css(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { padding: 2px 8px; border: 1px solid #ddd; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.flagged td { background: #fff3cd; }
td.flag { color: #8a5300; font-weight: 600; }
table.meta th { width: 12em; }
table.heatmap td { text-align: right; min-width: 3.5em; font-size: 12px; border: 1px solid #fff; }
table.heatmap th { font-size: 12px; }
.caption { color: #555; margin: 0 0 .4em; }
.error { color: #a00; font-weight: 600; white-space: pre-wrap; }
.note { white-space: pre-wrap; }
.legend { font-size: 12px; color: #555; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
nav ul { columns: 3; }
.context { color: #555; }
ul.findings li { margin: .3em 0; }
.published { color: #555; font-size: 13px; }
.caveat { background: #eef4fb; padding: .3em .6em; }
)css";

void AppendTable(std::string* out, const Table& t) {
  const bool flags = t.has_flags();
  absl::StrAppend(out, "<table class=\"data\">\n<thead><tr>");
  for (const Column& c : t.columns) absl::StrAppend(out, "<th>", Esc(c.name), "</th>");
  if (flags) absl::StrAppend(out, "<th>flag</th>");
  absl::StrAppend(out, "</tr></thead>\n<tbody>\n");
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string& flag = t.row_flags[r];
    absl::StrAppend(out, flag.empty() ? "<tr>" : "<tr class=\"flagged\">");
    for (size_t c = 0; c < t.columns.size(); ++c) {
      absl::StrAppend(out, t.columns[c].type == ColumnType::kString ? "<td>" : "<td class=\"num\">",
                      Esc(DisplayCell(t.rows[r][c], t.columns[c])), "</td>");
    }
    if (flags) absl::StrAppend(out, "<td class=\"flag\">", Esc(flag), "</td>");
    absl::StrAppend(out, "</tr>\n");
  }
  absl::StrAppend(out, "</tbody></table>\n");
}

// ---- heatmap colours

struct Rgb {
  double r, g, b;
};
// ColorBrewer RdBu end points: colour-blind safe and prints in greyscale as dark vs light.
constexpr Rgb kWhite{255, 255, 255}, kRed{178, 24, 43}, kBlue{33, 102, 172};

Rgb Lerp(Rgb a, Rgb b, double t) {
  return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}

std::string Hex(Rgb c) {
  auto q = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0))); };
  return absl::StrFormat("#%02x%02x%02x", q(c.r), q(c.g), q(c.b));
}

// Diverging (white at 0, blue below, red above, symmetric limits) when the values have both
// signs, so that "cancels" (negative) and "reinforces" (positive) read at a glance; otherwise
// sequential from the smallest magnitude (white) to the largest (red, or blue if negative).
struct ColorScale {
  bool diverging = false;
  double lo = 0, hi = 0;  // diverging: -L, L
  bool negative = false;

  static ColorScale For(const std::vector<double>& values) {
    double mn = INFINITY, mx = -INFINITY;
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
    ColorScale s;
    if (!(mn <= mx)) return s;  // no finite value
    if (mn < 0 && mx > 0) {
      s.diverging = true;
      s.hi = std::max(-mn, mx);
      s.lo = -s.hi;
    } else {
      s.negative = mx <= 0 && mn < 0;
      s.lo = s.negative ? -mx : mn;  // magnitudes
      s.hi = s.negative ? -mn : mx;
    }
    return s;
  }

  // Background colour and the intensity in [0, 1] (to pick a readable text colour).
  std::pair<Rgb, double> Color(double v) const {
    if (!std::isfinite(v)) return {Rgb{238, 238, 238}, 0};
    if (diverging) {
      const double t = std::min(1.0, std::fabs(v) / hi);
      return {Lerp(kWhite, v < 0 ? kBlue : kRed, t), t};
    }
    const double m = negative ? -v : v;
    const double t = hi > lo ? (m - lo) / (hi - lo) : 1.0;
    return {Lerp(kWhite, negative ? kBlue : kRed, t), t};
  }
};

void AppendHeatmap(std::string* out, const Matrix& m) {
  const ColorScale scale = ColorScale::For(m.values);
  absl::StrAppend(out, "<table class=\"heatmap\">\n<thead><tr><th>");
  absl::StrAppend(out, Esc(m.row_title), m.row_title.empty() || m.col_title.empty() ? "" : " \\ ",
                  Esc(m.col_title), "</th>");
  for (const std::string& c : m.col_labels) absl::StrAppend(out, "<th>", Esc(c), "</th>");
  absl::StrAppend(out, "</tr></thead>\n<tbody>\n");
  for (size_t r = 0; r < m.row_labels.size(); ++r) {
    absl::StrAppend(out, "<tr><th>", Esc(m.row_labels[r]), "</th>");
    for (size_t c = 0; c < m.col_labels.size(); ++c) {
      const double v = m.at(r, c);
      const auto [bg, t] = scale.Color(v);
      const std::string text = std::isnan(v) ? "" : DisplayFloat(v);
      absl::StrAppend(out, "<td style=\"background:", Hex(bg), t > 0.6 ? ";color:#fff" : "",
                      "\" title=\"", Esc(m.row_labels[r]), " / ", Esc(m.col_labels[c]), ": ",
                      std::isnan(v) ? "no value" : DisplayFloat(v, -1), "\">", Esc(text),
                      "</td>");
    }
    absl::StrAppend(out, "</tr>\n");
  }
  absl::StrAppend(out, "</tbody></table>\n<p class=\"legend\">colour scale: ");
  if (scale.diverging) {
    absl::StrAppend(out, "blue = ", DisplayFloat(scale.lo), ", white = 0, red = ",
                    DisplayFloat(scale.hi));
  } else if (scale.negative) {
    absl::StrAppend(out, "white = ", DisplayFloat(-scale.lo), ", blue = ", DisplayFloat(-scale.hi));
  } else {
    absl::StrAppend(out, "white = ", DisplayFloat(scale.lo), ", red = ", DisplayFloat(scale.hi));
  }
  absl::StrAppend(out, "</p>\n");
}

// ---- SVG line plots

// Tableau 10: distinct hues, readable on white.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

// "Nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over span.
double NiceStep(double span, int target) {
  if (!(span > 0)) return 1;
  const double raw = span / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

void AppendPlot(std::string* out, const Series& s) {
  constexpr double kW = 640, kH = 300, kLeft = 64, kRight = 16, kTop = 12, kBottom = 48;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Line& line : s.lines) {
    for (size_t i = 0; i < line.x.size(); ++i) {
      if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
      xmin = std::min(xmin, line.x[i]);
      xmax = std::max(xmax, line.x[i]);
      ymin = std::min(ymin, line.y[i]);
      ymax = std::max(ymax, line.y[i]);
    }
  }
  if (!(xmin <= xmax)) {
    absl::StrAppend(out, "<p class=\"legend\">(no finite points to plot)</p>\n");
    return;
  }
  if (!s.x_categories.empty()) {
    // Half a category of margin on each side keeps the end labels and points off the frame.
    xmin = std::min(xmin, 0.0) - 0.5;
    xmax = std::max(xmax, static_cast<double>(s.x_categories.size() - 1)) + 0.5;
  }
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) {
    ymin -= 0.5;
    ymax += 0.5;
  }
  const double ypad = 0.05 * (ymax - ymin);
  ymin -= ypad;
  ymax += ypad;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto X = [&](double x) { return kLeft + (x - xmin) / (xmax - xmin) * pw; };
  auto Y = [&](double y) { return kTop + (ymax - y) / (ymax - ymin) * ph; };
  const size_t legend_rows = s.lines.size();
  const double height = kH + 16.0 * legend_rows;
  absl::StrAppend(out, absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", kW, height, kW, height));
  absl::StrAppend(out, "<title>", Esc(s.name), "</title>\n");
  absl::StrAppend(out, absl::StrFormat(
      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n",
      kLeft, kTop, pw, ph));
  // y ticks and grid
  const double ystep = NiceStep(ymax - ymin, 5);
  for (double v = std::ceil(ymin / ystep) * ystep; v <= ymax + 1e-12 * ystep; v += ystep) {
    const double y = Y(v);
    absl::StrAppend(out, absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
        kLeft, y, kLeft + pw, y, kLeft - 4, y + 4, Esc(DisplayFloat(std::fabs(v) < 1e-12 * ystep ? 0 : v))));
  }
  if (ymin < 0 && ymax > 0) {
    absl::StrAppend(out, absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
        "stroke-dasharray=\"3,3\"/>\n", kLeft, Y(0), kLeft + pw, Y(0)));
  }
  // x ticks: every category (thinned to at most ~20 labels), or nice numbers
  if (!s.x_categories.empty()) {
    const size_t n = s.x_categories.size();
    const size_t every = std::max<size_t>(1, (n + 19) / 20);
    for (size_t i = 0; i < n; i += every) {
      absl::StrAppend(out, absl::StrFormat(
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", X(i), kTop + ph + 14,
          Esc(s.x_categories[i])));
    }
  } else {
    const double xstep = NiceStep(xmax - xmin, 6);
    for (double v = std::ceil(xmin / xstep) * xstep; v <= xmax + 1e-12 * xstep; v += xstep) {
      absl::StrAppend(out, absl::StrFormat(
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", X(v), kTop + ph + 14,
          Esc(DisplayFloat(std::fabs(v) < 1e-12 * xstep ? 0 : v))));
    }
  }
  absl::StrAppend(out, absl::StrFormat(
      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", kLeft + pw / 2,
      kTop + ph + 32, Esc(s.x_label)));
  absl::StrAppend(out, absl::StrFormat(
      "<text transform=\"translate(14,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
      kTop + ph / 2, Esc(s.y_label)));
  // lines: a NaN breaks the polyline; dots when there are few points
  for (size_t li = 0; li < s.lines.size(); ++li) {
    const Line& line = s.lines[li];
    const char* color = kPalette[li % (sizeof(kPalette) / sizeof(kPalette[0]))];
    std::string points;
    auto flush = [&]() {
      if (!points.empty()) {
        absl::StrAppend(out, "<polyline fill=\"none\" stroke=\"", color,
                        "\" stroke-width=\"2\" points=\"", points, "\"/>\n");
      }
      points.clear();
    };
    for (size_t i = 0; i < line.x.size(); ++i) {
      if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) {
        flush();
        continue;
      }
      absl::StrAppend(&points, points.empty() ? "" : " ",
                      absl::StrFormat("%.1f,%.1f", X(line.x[i]), Y(line.y[i])));
    }
    flush();
    if (line.x.size() <= 60) {
      for (size_t i = 0; i < line.x.size(); ++i) {
        if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
        absl::StrAppend(out, absl::StrFormat(
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s, %s: %s</title></circle>\n",
            X(line.x[i]), Y(line.y[i]), color, Esc(line.name), Esc(s.XText(line.x[i])),
            Esc(DisplayFloat(line.y[i]))));
      }
    }
    const double ly = kH + 16.0 * li;
    absl::StrAppend(out, absl::StrFormat(
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
        "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
        kLeft, ly - 4, color, kLeft + 20, ly, Esc(line.name)));
  }
  absl::StrAppend(out, "</svg>\n");
}

void AppendItemTitle(std::string* out, const char* kind, const std::string& name,
                     const std::string& caption) {
  absl::StrAppend(out, "<h3>", kind, " <code>", Esc(name), "</code></h3>\n");
  if (!caption.empty()) absl::StrAppend(out, "<p class=\"caption\">", Esc(caption), "</p>\n");
}

}  // namespace

std::string RenderHtml(const Report& report) {
  std::string out;
  absl::StrAppend(&out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"generator\" content=\"memlens ",
                  Esc(report.metadata.memlens_version), "\">\n<title>",
                  Esc(report.metadata.title), "</title>\n<style>", kStyle,
                  "</style>\n</head>\n<body>\n<h1>", Esc(report.metadata.title), "</h1>\n");
  absl::StrAppend(&out, "<p class=\"context\">",
                  Esc(report_internal::ContextLine(report.metadata)), "</p>\n");
  absl::StrAppend(&out, "<section id=\"summary\">\n<h2>Summary</h2>\n");
  for (const std::string& c : report.metadata.caveats) {
    absl::StrAppend(&out, "<p class=\"caveat\"><b>Note:</b> ", Esc(c), "</p>\n");
  }
  const auto entries = report_internal::SummaryEntries(report);
  if (entries.empty()) {
    absl::StrAppend(&out, "<p>No plugin stated a finding; the sections below have the numbers.</p>\n");
  }
  absl::StrAppend(&out, "<ul class=\"findings\">\n");
  for (const auto& e : entries) {
    absl::StrAppend(&out, "<li data-kind=\"", Esc(e.finding->kind), "\"><a href=\"#",
                    Anchor(e.section->plugin), "\">", Esc(e.section->plugin), "</a>: ",
                    Esc(e.finding->text));
    const std::string published = report_internal::PublishedText(*e.finding);
    if (!published.empty()) {
      absl::StrAppend(&out, "<br><span class=\"published\">", Esc(published), "</span>");
    }
    absl::StrAppend(&out, "</li>\n");
  }
  for (const Section& s : report.sections) {
    if (!s.ok) {
      absl::StrAppend(&out, "<li class=\"error\">", Esc(s.plugin), " failed: ", Esc(s.error), "</li>\n");
    }
  }
  absl::StrAppend(&out, "</ul>\n</section>\n<h2>Metadata</h2>\n");
  absl::StrAppend(&out, "<table class=\"meta\">\n");
  for (const auto& kv : report_internal::MetadataFields(report.metadata)) {
    absl::StrAppend(&out, "<tr><th>", Esc(kv.first), "</th><td>", Esc(kv.second), "</td></tr>\n");
  }
  absl::StrAppend(&out, "</table>\n");
  if (!report.sections.empty()) {
    absl::StrAppend(&out, "<nav><ul>\n");
    for (const Section& s : report.sections) {
      absl::StrAppend(&out, "<li><a href=\"#", Anchor(s.plugin), "\">",
                      Esc(report_internal::SectionHeading(s)), "</a></li>\n");
    }
    absl::StrAppend(&out, "</ul></nav>\n");
  }
  for (const Section& s : report.sections) {
    absl::StrAppend(&out, "<section id=\"", Anchor(s.plugin), "\">\n<h2>",
                    Esc(report_internal::SectionHeading(s)), "</h2>\n");
    if (!s.settings.empty()) {
      absl::StrAppend(&out, "<p class=\"legend\">flags:");
      for (const auto& kv : s.settings) {
        absl::StrAppend(&out, " <code>", Esc(kv.first), "=", Esc(kv.second), "</code>");
      }
      absl::StrAppend(&out, "</p>\n");
    }
    if (!s.ok) {
      absl::StrAppend(&out, "<p class=\"error\">", Esc(s.error), "</p>\n</section>\n");
      continue;
    }
    if (!s.description.empty()) absl::StrAppend(&out, "<p>", Esc(s.description), "</p>\n");
    for (const SectionItem& item : s.items) {
      if (const Table* t = absl::get_if<Table>(&item)) {
        AppendItemTitle(&out, "Table", t->name, t->caption);
        AppendTable(&out, *t);
      } else if (const Series* se = absl::get_if<Series>(&item)) {
        AppendItemTitle(&out, "Series", se->name, se->caption);
        AppendPlot(&out, *se);
      } else if (const Matrix* m = absl::get_if<Matrix>(&item)) {
        AppendItemTitle(&out, "Matrix", m->name, m->caption);
        AppendHeatmap(&out, *m);
      } else if (const Note* n = absl::get_if<Note>(&item)) {
        absl::StrAppend(&out, "<p class=\"note\">", Esc(n->text), "</p>\n");
      }
    }
    absl::StrAppend(&out, "</section>\n");
  }
  absl::StrAppend(&out, "</body>\n</html>\n");
  return out;
}

}  // namespace memlens

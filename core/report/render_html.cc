// The html renderer: one self-contained page (inline CSS, SVG and one small script; no external
// assets, no network), so a report can be mailed, archived or opened offline. The script only
// sorts tables on a header click and unfolds long tables; without it the page still reads.
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
table.data th { cursor: pointer; user-select: none; }
table.data th.sorted-asc::after { content: " \25B2"; font-size: 9px; }
table.data th.sorted-desc::after { content: " \25BC"; font-size: 9px; }
table.folded tr.extra { display: none; }
button.unfold { font: inherit; font-size: 12px; margin: -.6em 0 1em; cursor: pointer; }
figure { margin: .5em 0 1.2em; overflow-x: auto; }
)css";

// Tables longer than this show their first rows and a button to show all.
constexpr size_t kFoldRows = 15;

void AppendTable(std::string* out, const Table& t) {
  const bool flags = t.has_flags();
  const bool fold = t.rows.size() > kFoldRows;
  absl::StrAppend(out, "<table class=\"data", fold ? " folded" : "", "\">\n<thead><tr>");
  for (const Column& c : t.columns) {
    absl::StrAppend(out, "<th title=\"sort by ", Esc(c.name), "\">", Esc(c.name), "</th>");
  }
  if (flags) absl::StrAppend(out, "<th title=\"sort by flag\">flag</th>");
  absl::StrAppend(out, "</tr></thead>\n<tbody>\n");
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::string& flag = t.row_flags[r];
    std::string cls = flag.empty() ? "" : "flagged";
    if (fold && r >= kFoldRows) absl::StrAppend(&cls, cls.empty() ? "" : " ", "extra");
    absl::StrAppend(out, cls.empty() ? "<tr>" : absl::StrCat("<tr class=\"", cls, "\">"));
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const Cell& cell = t.rows[r][c];
      if (t.columns[c].type == ColumnType::kString) {
        absl::StrAppend(out, "<td>", Esc(DisplayCell(cell, t.columns[c])), "</td>");
      } else {
        // data-v: the exact value the sort compares (the text may be rounded).
        absl::StrAppend(out, "<td class=\"num\" data-v=\"",
                        cell.empty() ? "" : report_internal::ExactCell(cell), "\">",
                        Esc(DisplayCell(cell, t.columns[c])), "</td>");
      }
    }
    if (flags) absl::StrAppend(out, "<td class=\"flag\">", Esc(flag), "</td>");
    absl::StrAppend(out, "</tr>\n");
  }
  absl::StrAppend(out, "</tbody></table>\n");
  if (fold) {
    absl::StrAppend(out, "<button class=\"unfold\" type=\"button\" data-rows=\"", t.rows.size(),
                    "\">show all ", t.rows.size(), " rows</button>\n");
  }
}

// Sorting on a header click (numbers by data-v, text otherwise; again to reverse) and the
// show-all buttons of long tables.
constexpr char kScript[] = R"js(
(function () {
  function key(td) {
    if (!td) return "";
    if (td.dataset.v !== undefined) {
      var v = parseFloat(td.dataset.v);
      return isNaN(v) ? -Infinity : v;
    }
    return td.textContent;
  }
  document.querySelectorAll("table.data").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("sorted-asc");
        table.querySelectorAll("thead th").forEach(function (h) {
          h.classList.remove("sorted-asc", "sorted-desc");
        });
        th.classList.add(asc ? "sorted-asc" : "sorted-desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = typeof x === "number" && typeof y === "number" ? x - y
                  : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        var limit = table.classList.contains("folded") ? FOLD : rows.length;
        rows.forEach(function (r, i) {
          r.classList.toggle("extra", i >= limit);
          body.appendChild(r);
        });
      });
    });
  });
  document.querySelectorAll("button.unfold").forEach(function (button) {
    var table = button.previousElementSibling;
    button.addEventListener("click", function () {
      var folded = table.classList.toggle("folded");
      if (!folded) {
        table.querySelectorAll("tr.extra").forEach(function (r) { r.classList.remove("extra"); });
      } else {
        Array.prototype.forEach.call(table.tBodies[0].rows, function (r, i) {
          r.classList.toggle("extra", i >= FOLD);
        });
      }
      button.textContent = folded ? "show all " + button.dataset.rows + " rows"
                                  : "show the first " + FOLD + " rows";
    });
  });
})();
)js";

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
// The limit is the 95th percentile of the magnitudes, not the largest: one outlier must not
// wash every other cell out. Cells beyond it get the full colour; the legend says so.
struct ColorScale {
  static constexpr double kClipPercentile = 95;
  bool diverging = false;
  double lo = 0, hi = 0;  // diverging: -L, L
  bool negative = false;
  bool clipped = false;   // some finite value lies beyond the limit
  double max_abs = 0;

  static ColorScale For(const std::vector<double>& values) {
    std::vector<double> finite;
    for (double v : values) {
      if (std::isfinite(v)) finite.push_back(v);
    }
    ColorScale s;
    if (finite.empty()) return s;
    const auto [mn_it, mx_it] = std::minmax_element(finite.begin(), finite.end());
    const double mn = *mn_it, mx = *mx_it;
    std::vector<double> mags;
    for (double v : finite) mags.push_back(std::fabs(v));
    std::sort(mags.begin(), mags.end());
    s.max_abs = mags.back();
    const double limit =
        mags[static_cast<size_t>(std::floor(kClipPercentile / 100 * (mags.size() - 1)))];
    if (mn < 0 && mx > 0) {
      s.diverging = true;
      s.hi = limit > 0 ? limit : mags.back();
      s.lo = -s.hi;
      s.clipped = mags.back() > s.hi;
    } else {
      s.negative = mx <= 0 && mn < 0;
      s.lo = s.negative ? -mx : mn;  // magnitudes
      s.hi = std::max(s.lo, limit);
      if (s.hi == s.lo) s.hi = s.negative ? -mn : mx;
      s.clipped = (s.negative ? -mn : mx) > s.hi;
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
    const double t = hi > lo ? std::clamp((m - lo) / (hi - lo), 0.0, 1.0) : 1.0;
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
                    DisplayFloat(scale.hi), " (symmetric around 0)");
  } else if (scale.negative) {
    absl::StrAppend(out, "white = ", DisplayFloat(-scale.lo), ", blue = ", DisplayFloat(-scale.hi));
  } else {
    absl::StrAppend(out, "white = ", DisplayFloat(scale.lo), ", red = ", DisplayFloat(scale.hi));
  }
  if (scale.clipped) {
    absl::StrAppend(out, "; clipped at the ", static_cast<int>(ColorScale::kClipPercentile),
                    "th percentile of |value|: larger values (up to ", DisplayFloat(scale.max_abs),
                    ") get the full colour");
  }
  absl::StrAppend(out, "; hover over a cell for its value</p>\n");
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

const char* DashArray(LineStyle style) {
  switch (style) {
    case LineStyle::kDashed: return " stroke-dasharray=\"7,4\"";
    case LineStyle::kDotted: return " stroke-dasharray=\"2,3\"";
    default: return "";
  }
}

// One plot as inline SVG: lines (solid, dashed, dotted), points, grouped bars, error bars.
// Lines of one group share a colour; every mark has a <title> with its exact value (hover).
void AppendPlot(std::string* out, const Series& s) {
  const bool categorical = !s.x_categories.empty();
  size_t num_bars = 0;
  for (const Line& line : s.lines) num_bars += line.style == LineStyle::kBars;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Line& line : s.lines) {
    for (size_t i = 0; i < line.x.size(); ++i) {
      if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
      xmin = std::min(xmin, line.x[i]);
      xmax = std::max(xmax, line.x[i]);
      ymin = std::min(ymin, line.y[i]);
      ymax = std::max(ymax, line.y[i]);
      for (const std::vector<double>* e : {&line.lo, &line.hi}) {
        if (i < e->size() && std::isfinite((*e)[i])) {
          ymin = std::min(ymin, (*e)[i]);
          ymax = std::max(ymax, (*e)[i]);
        }
      }
    }
  }
  if (!(xmin <= xmax)) {
    absl::StrAppend(out, "<p class=\"legend\">(no finite points to plot)</p>\n");
    return;
  }
  if (num_bars > 0) {  // bars start at 0
    ymin = std::min(ymin, 0.0);
    ymax = std::max(ymax, 0.0);
  }
  const size_t ncat = s.x_categories.size();
  size_t longest = 0;
  for (const std::string& c : s.x_categories) longest = std::max(longest, c.size());
  // Many or long category labels are turned to read upwards.
  const bool slanted = categorical && (ncat > 12 || longest * ncat > 90);
  const double kLeft = 64, kRight = 16, kTop = 12;
  const double kBottom = slanted ? 24 + 6.0 * std::min<size_t>(longest, 16) : 48;
  const double kW = categorical ? std::clamp(kLeft + kRight + ncat * (num_bars > 1 ? 12.0 * num_bars + 8 : 22.0), 640.0, 1150.0)
                                : 640;
  const double kH = 300 - 48 + kBottom;
  if (categorical) {
    // Half a category of margin on each side keeps the end labels and points off the frame.
    xmin = std::min(xmin, 0.0) - 0.5;
    xmax = std::max(xmax, static_cast<double>(ncat - 1)) + 0.5;
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
      "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"%.0f\" "
      "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", kW, height, kW, height));
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
  // x ticks: every category (thinned to at most ~60 labels), or nice numbers
  if (categorical) {
    const size_t every = std::max<size_t>(1, (ncat + 59) / 60);
    for (size_t i = 0; i < ncat; i += every) {
      if (slanted) {
        absl::StrAppend(out, absl::StrFormat(
            "<text transform=\"translate(%.1f,%.1f) rotate(-60)\" text-anchor=\"end\">%s</text>\n",
            X(i) + 3, kTop + ph + 8, Esc(s.x_categories[i])));
      } else {
        absl::StrAppend(out, absl::StrFormat(
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", X(i),
            kTop + ph + 14, Esc(s.x_categories[i])));
      }
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
      kTop + ph + kBottom - 14, Esc(s.x_label)));
  absl::StrAppend(out, absl::StrFormat(
      "<text transform=\"translate(14,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
      kTop + ph / 2, Esc(s.y_label)));
  // Colours: one per group (in order of appearance), one per ungrouped line.
  std::vector<std::string> groups;
  auto color_of = [&](const Line& line, size_t li) {
    const std::string key = line.group.empty() ? absl::StrCat("\x01", li) : line.group;
    size_t g = std::find(groups.begin(), groups.end(), key) - groups.begin();
    if (g == groups.size()) groups.push_back(key);
    return kPalette[g % (sizeof(kPalette) / sizeof(kPalette[0]))];
  };
  // Bars: each bar line gets a slot within the category's width.
  double bar_width = 0, slot_step = 0;
  if (num_bars > 0) {
    double gap = 1;  // between neighbouring x values
    if (!categorical) {
      std::vector<double> xs;
      for (const Line& line : s.lines) xs.insert(xs.end(), line.x.begin(), line.x.end());
      std::sort(xs.begin(), xs.end());
      for (size_t i = 1; i < xs.size(); ++i) {
        if (xs[i] > xs[i - 1]) gap = std::min(gap, xs[i] - xs[i - 1]);
      }
    }
    slot_step = 0.8 * gap / num_bars * pw / (xmax - xmin);
    bar_width = std::max(1.0, slot_step - 1);
  }
  auto error_bar = [&](double x, const Line& line, size_t i, const char* color) {
    if (line.lo.empty() || !std::isfinite(line.lo[i]) || !std::isfinite(line.hi[i])) return;
    absl::StrAppend(out, absl::StrFormat(
        "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh6M%.1f %.1fh6\" stroke=\"%s\" stroke-width=\"1.2\" "
        "fill=\"none\" class=\"errorbar\"><title>%s, %s: %s to %s</title></path>\n",
        x, Y(line.lo[i]), Y(line.hi[i]), x - 3, Y(line.lo[i]), x - 3, Y(line.hi[i]), color,
        Esc(line.name), Esc(s.XText(line.x[i])), Esc(DisplayFloat(line.lo[i])),
        Esc(DisplayFloat(line.hi[i]))));
  };
  size_t bar_index = 0;
  for (size_t li = 0; li < s.lines.size(); ++li) {
    const Line& line = s.lines[li];
    const char* color = color_of(line, li);
    const auto tip = [&](size_t i) {
      return absl::StrCat("<title>", Esc(line.name), ", ", Esc(s.XText(line.x[i])), ": ",
                          Esc(DisplayFloat(line.y[i])), "</title>");
    };
    if (line.style == LineStyle::kBars) {
      const double offset = (bar_index - (num_bars - 1) / 2.0) * slot_step;
      ++bar_index;
      for (size_t i = 0; i < line.x.size(); ++i) {
        if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
        const double cx = X(line.x[i]) + offset;
        const double top = std::min(Y(line.y[i]), Y(0)), bottom = std::max(Y(line.y[i]), Y(0));
        absl::StrAppend(out, absl::StrFormat(
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" class=\"bar\">%s</rect>\n",
            cx - bar_width / 2, top, bar_width, std::max(0.5, bottom - top), color, tip(i)));
        error_bar(cx, line, i, "#333");
      }
    } else {
      if (line.style != LineStyle::kPoints) {
        // a NaN breaks the polyline
        std::string points;
        auto flush = [&]() {
          if (!points.empty()) {
            absl::StrAppend(out, "<polyline fill=\"none\" stroke=\"", color,
                            "\" stroke-width=\"2\"", DashArray(line.style), " points=\"", points,
                            "\"/>\n");
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
      }
      const bool dots = line.style == LineStyle::kPoints || line.x.size() <= 60;
      for (size_t i = 0; dots && i < line.x.size(); ++i) {
        if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) continue;
        // Hollow dots for dashed and dotted lines, so curves that coincide stay visible.
        const bool hollow = line.style == LineStyle::kDashed || line.style == LineStyle::kDotted;
        absl::StrAppend(out, absl::StrFormat(
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"%s\" "
            "stroke-width=\"1.5\" class=\"point\">%s</circle>\n",
            X(line.x[i]), Y(line.y[i]), hollow ? "4.5" : "3", hollow ? "none" : color, color,
            tip(i)));
        error_bar(X(line.x[i]), line, i, color);
      }
    }
    const double ly = kH + 16.0 * li;
    if (line.style == LineStyle::kBars) {
      absl::StrAppend(out, absl::StrFormat("<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"9\" fill=\"%s\"/>",
                                           kLeft, ly - 8, color));
    } else if (line.style == LineStyle::kPoints) {
      absl::StrAppend(out, absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
                                           kLeft + 7, ly - 4, color));
    } else {
      absl::StrAppend(out, absl::StrFormat(
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>",
          kLeft, ly - 4, kLeft + 16, ly - 4, color, DashArray(line.style)));
    }
    absl::StrAppend(out, absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", kLeft + 22,
                                         ly, Esc(line.name)));
  }
  absl::StrAppend(out, "</svg></figure>\n");
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
  absl::StrAppend(&out, "<script>var FOLD = ", kFoldRows, ";", kScript, "</script>\n");
  absl::StrAppend(&out, "</body>\n</html>\n");
  return out;
}

}  // namespace memlens

#include "core/report/render.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/io/json.h"
#include "gtest/gtest.h"
#include "tests/report/sample_report.h"

namespace memlens {
namespace {

bool Contains(const std::string& haystack, absl::string_view needle) {
  return haystack.find(std::string(needle)) != std::string::npos;
}

// ---------------------------------------------------------------- json

TEST(RenderJsonTest, ParsesBackWithEveryItem) {
  const std::string text = RenderJson(SampleReport());
  absl::StatusOr<json::Value> parsed = json::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  const json::Value& root = *parsed;
  EXPECT_EQ(*root.GetString("format"), "memlens-report");
  const json::Value* meta = *root.Get("metadata");
  EXPECT_EQ(*meta->GetString("processing"),
            "fold_ln+center_writing+center_unembed+fold_value_biases");
  EXPECT_EQ(*meta->GetString("memlens_version"), kMemlensVersion);
  EXPECT_EQ(*(*meta->Get("model"))->GetString("name"), "gelu-4l");
  EXPECT_EQ(*(*meta->Get("dataset"))->GetString("name"), "tiny, with \"quotes\"");
  EXPECT_EQ(*(*meta->Get("dataset"))->GetInt64("num_tokens"), 30);
  EXPECT_EQ(*meta->GetInt64("seed"), 42);
  EXPECT_EQ(*(*meta->Get("settings"))->GetString("target"), "next_token");

  const json::Value* sections = *root.Get("sections");
  ASSERT_EQ(sections->size(), 2u);
  const json::Value& dla = sections->array()[0];
  EXPECT_EQ(*dla.GetString("plugin"), "dla");
  EXPECT_EQ(*dla.GetString("status"), "ok");
  EXPECT_EQ(*(*dla.Get("settings"))->GetString("--dla_threshold"), "0.5");
  const std::vector<json::Value>& items = (*dla.Get("items"))->array();
  ASSERT_EQ(items.size(), 5u);

  const json::Value& table = items[0];
  EXPECT_EQ(*table.GetString("kind"), "table");
  const auto& columns = (*table.Get("columns"))->array();
  ASSERT_EQ(columns.size(), 3u);
  EXPECT_EQ(*columns[1].GetString("type"), "int");
  EXPECT_EQ(*columns[2].GetString("type"), "float");
  const auto& rows = (*table.Get("rows"))->array();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].array()[0].string_value(), "L2H5, <b>&");
  EXPECT_EQ(*rows[1].array()[1].AsInt64(), 7);
  EXPECT_DOUBLE_EQ(rows[1].array()[2].number(), -0.26);  // full precision, not the 3 shown
  EXPECT_TRUE(rows[2].array()[0].is_null());  // empty cell
  EXPECT_TRUE(rows[2].array()[2].is_null());  // NaN
  EXPECT_EQ((*table.Get("row_flags"))->array()[1].string_value(), "sign differs");

  const json::Value& series = items[1];
  EXPECT_EQ(*series.GetString("kind"), "series");
  EXPECT_EQ((*series.Get("x_categories"))->array()[1].string_value(), "post0");
  const auto& lines = (*series.Get("lines"))->array();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_DOUBLE_EQ((*lines[1].Get("y"))->array()[2].number(), -0.125);

  const json::Value& matrix = items[3];
  EXPECT_EQ(*matrix.GetString("kind"), "matrix");
  const auto& values = (*matrix.Get("values"))->array();
  ASSERT_EQ(values.size(), 2u);
  EXPECT_DOUBLE_EQ(values[0].array()[0].number(), -0.14);
  EXPECT_TRUE(values[1].array()[0].is_null());
  EXPECT_EQ(*items[4].GetString("kind"), "note");

  const json::Value& broken = sections->array()[1];
  EXPECT_EQ(*broken.GetString("status"), "error");
  EXPECT_TRUE(Contains(*broken.GetString("error"), "boom"));

  EXPECT_EQ(*root.GetInt64("format_version"), 2);
  const json::Value* summary = *root.Get("summary");
  EXPECT_EQ((*summary->Get("caveats"))->array()[0].string_value(),
            "the target is 2 tokens; its first token is attributed");
  const auto& findings = (*summary->Get("findings"))->array();
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(*findings[0].GetString("plugin"), "dla");
  EXPECT_EQ(*findings[0].GetString("kind"), "eraser");
  EXPECT_TRUE(Contains(*findings[0].GetString("text"), "L2H5 erases 26%"));
  EXPECT_EQ(*(*findings[0].Get("values"))->GetString("node"), "L2H5");
  EXPECT_DOUBLE_EQ((*(*findings[0].Get("values"))->Get("median_pr"))->number(), -0.25);
  EXPECT_DOUBLE_EQ((*(*findings[0].Get("published"))->Get("median_pr"))->number(), -0.26);
  EXPECT_EQ(*findings[0].GetString("published_source"), "arXiv 2310.07325");
}

// Every format leads with the summary: caveats and findings before the first section.
TEST(RenderSummaryTest, BeforeTheSectionsInEveryFormat) {
  const Report report = SampleReport();
  for (ReportFormat f : {ReportFormat::kText, ReportFormat::kMarkdown, ReportFormat::kHtml}) {
    const std::string out = RenderReport(report, f);
    const size_t caveat = out.find("its first token is attributed");
    const size_t finding = out.find("L2H5 erases 26%");
    const size_t published = out.find("published (arXiv 2310.07325): median_pr -0.26 (here -0.25)");
    const size_t section = out.find("Direct logit attribution");
    ASSERT_NE(caveat, std::string::npos) << ReportFormatName(f);
    ASSERT_NE(finding, std::string::npos) << ReportFormatName(f);
    ASSERT_NE(published, std::string::npos) << ReportFormatName(f) << out;
    ASSERT_NE(section, std::string::npos) << ReportFormatName(f);
    EXPECT_LT(caveat, section) << ReportFormatName(f);
    EXPECT_LT(finding, section) << ReportFormatName(f);
  }
  const std::string text = RenderText(report);
  EXPECT_TRUE(Contains(text, "\n== Summary ==\nNote: the target is 2 tokens"));
  EXPECT_TRUE(Contains(text, "dla:\n  * L2H5 erases 26% of L0H2's write"));
  EXPECT_LT(text.find("== Summary =="), text.find("== Metadata =="));
  // A failed plugin is named in the summary too.
  EXPECT_TRUE(Contains(text, "broken FAILED: plugin 'broken'"));
}

TEST(RenderSummaryTest, NoFindingsSaysSo) {
  Report r;
  EXPECT_TRUE(Contains(RenderText(r), "No plugin stated a finding"));
  EXPECT_TRUE(Contains(RenderMarkdown(r), "No plugin stated a finding"));
}

TEST(RenderJsonTest, EmptyReportIsValid) {
  Report empty;
  EXPECT_TRUE(json::Parse(RenderJson(empty)).ok());
}

TEST(RenderJsonTest, DuplicateSettingKeysStayValid) {
  Report r;
  r.metadata.settings = {{"k", "1"}, {"k", "2"}};
  absl::StatusOr<json::Value> parsed = json::Parse(RenderJson(r));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*(*(*parsed->Get("metadata"))->Get("settings"))->GetString("k (2)"), "2");
}

// ---------------------------------------------------------------- csv

// A minimal RFC 4180 reader for checking the output.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records(1);
  std::string field;
  bool quoted = false, at_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"' && at_start) {
      quoted = true;
      at_start = false;
    } else if (c == ',') {
      records.back().push_back(field);
      field.clear();
      at_start = true;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      records.back().push_back(field);
      field.clear();
      records.emplace_back();
      at_start = true;
      ++i;
    } else {
      field.push_back(c);
      at_start = false;
    }
  }
  if (records.back().empty()) records.pop_back();
  return records;
}

bool HasRecord(const std::vector<std::vector<std::string>>& records,
               const std::vector<std::string>& want) {
  for (const auto& r : records) {
    if (r == want) return true;
  }
  return false;
}

TEST(RenderCsvTest, DocumentedColumnsAndRecords) {
  const std::string text = RenderCsv(SampleReport());
  ASSERT_EQ(text.substr(0, text.find("\r\n")), "section,table,row,column,value");
  const auto records = ParseCsv(text);
  for (const auto& r : records) ASSERT_EQ(r.size(), 5u) << absl::StrJoin(r, "|");
  EXPECT_TRUE(HasRecord(records, {"memlens", "metadata", "processing", "value",
                                  "fold_ln+center_writing+center_unembed+fold_value_biases"}));
  EXPECT_TRUE(HasRecord(records, {"memlens", "metadata", "dataset_name", "value",
                                  "tiny, with \"quotes\""}));
  EXPECT_TRUE(HasRecord(records, {"dla", "flags", "--dla_threshold", "value", "0.5"}));
  EXPECT_TRUE(HasRecord(records, {"dla", "nodes", "1", "node", "L2H5, <b>&"}));
  EXPECT_TRUE(HasRecord(records, {"dla", "nodes", "1", "dla", "-0.26"}));
  EXPECT_TRUE(HasRecord(records, {"dla", "nodes", "1", "_flag", "sign differs"}));
  EXPECT_TRUE(HasRecord(records, {"dla", "nodes", "2", "dla", ""}));  // NaN
  EXPECT_TRUE(HasRecord(records, {"dla", "survival", "L0H2", "post0", "1.04"}));
  EXPECT_TRUE(HasRecord(records, {"dla", "numeric", "a", "2.5", "3"}));
  EXPECT_TRUE(HasRecord(records, {"dla", "pr", "L0H2", "L2H2", "-0.14"}));
  EXPECT_TRUE(HasRecord(records, {"dla", "note", "0", "text",
                                  "Position 0 (BOS) is reported separately."}));
  EXPECT_TRUE(HasRecord(records, {"broken", "error", "0", "message",
                                  "plugin 'broken' (/plugins/libbroken.so) failed in "
                                  "AnalyzePrompt: boom"}));
  // No flag record for unflagged rows.
  EXPECT_FALSE(HasRecord(records, {"dla", "nodes", "0", "_flag", ""}));
}

// ---------------------------------------------------------------- html

TEST(RenderHtmlTest, SelfContainedPageWithExpectedElements) {
  const std::string html = RenderHtml(SampleReport());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(Contains(html, "<meta charset=\"utf-8\">"));
  EXPECT_TRUE(Contains(html, "<style>"));
  EXPECT_TRUE(Contains(html, "</html>"));
  // Metadata, including the LN handling.
  EXPECT_TRUE(Contains(html, "<th>processing</th><td>fold_ln+center_writing"));
  EXPECT_TRUE(Contains(html, "flags: <code>--dla_threshold=0.5</code>"));
  // Tables with flagged rows highlighted; text escaped.
  EXPECT_TRUE(Contains(html, "<table class=\"data\">"));
  EXPECT_TRUE(Contains(html, "<tr class=\"flagged\"><td>L2H5, &lt;b&gt;&amp;</td>"));
  EXPECT_TRUE(Contains(html, "<td class=\"flag\">sign differs</td>"));
  EXPECT_FALSE(Contains(html, "<b>&"));
  // Heatmap: coloured cells; -0.14 is blue-ish (diverging scale), NaN grey.
  EXPECT_TRUE(Contains(html, "<table class=\"heatmap\">"));
  EXPECT_TRUE(Contains(html, "style=\"background:#"));
  EXPECT_TRUE(Contains(html, "background:#eeeeee"));
  // Symmetric around 0 and clipped at the 95th percentile of |value| (0.14 of 0, 0.14, 0.5).
  EXPECT_TRUE(Contains(html, "blue = -0.14, white = 0, red = 0.14 (symmetric around 0); clipped"))
      << html;
  EXPECT_TRUE(Contains(html, "(up to 0.5) get the full colour"));
  // Long tables fold, every table sorts (the script is inline).
  EXPECT_TRUE(Contains(html, "<th title=\"sort by dla\">dla</th>"));
  EXPECT_TRUE(Contains(html, "data-v=\"-0.26\""));
  EXPECT_TRUE(Contains(html, "<script>var FOLD = 15;"));
  // Series as inline SVG line plots with the categories on the x axis.
  EXPECT_TRUE(Contains(html, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_TRUE(Contains(html, "<polyline"));
  EXPECT_TRUE(Contains(html, ">post0</text>"));
  // The failing plugin is shown.
  EXPECT_TRUE(Contains(html, "<p class=\"error\">plugin &#39;broken&#39;"));
  // No external assets.
  EXPECT_FALSE(Contains(html, "<link"));
  EXPECT_FALSE(Contains(html, "src="));
  EXPECT_FALSE(Contains(html, "url("));
}

TEST(RenderHtmlTest, DegenerateSeriesAndMatrixDoNotBreak) {
  Report r;
  Section s;
  s.plugin = "p";
  ReportBuilder b(&s);
  b.AddSeries("flat", "x", "y").AddLine("c", {2, 2, 2});
  b.AddSeries("empty", "x", "y");
  b.AddSeries("nan", "x", "y").AddLine("n", {std::nan(""), 1.0});
  b.AddMatrix("positive", {"a"}, {"b", "c"}, {1, 3});
  b.AddMatrix("none", {"a"}, {"b"}, {std::nan("")});
  ASSERT_TRUE(b.status().ok());
  r.sections.push_back(s);
  const std::string html = RenderHtml(r);
  EXPECT_TRUE(Contains(html, "no finite points"));
  EXPECT_TRUE(Contains(html, "white = 1, red = 3"));
  EXPECT_FALSE(Contains(html, "nan,"));
  EXPECT_FALSE(Contains(html, "inf"));
}

// ---------------------------------------------------------------- text

// Every line of the item's block, from its "-- kind name" title to the next blank line.
std::vector<std::string> Block(const std::string& text, const std::string& title) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::vector<std::string> out;
  bool in = false;
  for (const std::string& line : lines) {
    if (!in && line.rfind(title, 0) == 0) {
      in = true;
      continue;
    }
    if (in && line.empty()) break;
    if (in) out.push_back(line);
  }
  return out;
}

TEST(RenderTextTest, ColumnsAlign) {
  const std::string text = RenderText(SampleReport());
  const std::vector<std::string> block = Block(text, "-- table nodes");
  ASSERT_EQ(block.size(), 5u) << text;  // header, rule, 3 rows
  EXPECT_EQ(block[0], "node        count     dla  flag");
  EXPECT_EQ(block[1], "----------  -----  ------  --------------");
  EXPECT_EQ(block[2], "L0H2           12   0.550");
  EXPECT_EQ(block[3], "L2H5, <b>&      7  -0.260  ! sign differs");
  EXPECT_EQ(block[4], "                0     nan");
}

TEST(RenderTextTest, MetadataSeriesMatrixAndFailure) {
  const std::string text = RenderText(SampleReport());
  EXPECT_TRUE(Contains(text, "  processing       fold_ln+center_writing"));
  EXPECT_TRUE(Contains(text, "== dla 1.2: Direct logit attribution ==\nflags: --dla_threshold=0.5\n"))
      << text;
  const std::vector<std::string> survival = Block(text, "-- series survival");
  ASSERT_EQ(survival.size(), 5u) << text;
  EXPECT_EQ(survival[0], "point  L0H2    L1H1");
  EXPECT_EQ(survival[3], "post0  1.04    0.25");
  const std::vector<std::string> pr = Block(text, "-- matrix pr");
  ASSERT_EQ(pr.size(), 4u) << text;
  EXPECT_EQ(pr[0], "writer \\ node   L2H2  L2H3");
  EXPECT_EQ(pr[2], "L0H2           -0.14   0.5");
  EXPECT_EQ(pr[3], "L1H1                     0");  // NaN: no value
  EXPECT_TRUE(Contains(text, "== broken 0.1 [FAILED] ==\nerror: plugin 'broken'"));
}

// A terminal is read at 100 columns: wide tables lose their rightmost columns, long ones their
// last rows, wide matrices become their largest cells, and long text wraps; each says so.
TEST(RenderTextTest, FitsOneHundredColumns) {
  Report r;
  r.metadata.model_path = "/a/very/long/path/" + std::string(150, 'x') + "/model";
  Section s;
  s.plugin = "p";
  ReportBuilder b(&s);
  b.SetDescription(std::string(30, 'w') + " " + std::string(300, 'y'));
  std::vector<Column> cols = {{"name", ColumnType::kString}};
  for (int c = 0; c < 20; ++c) cols.push_back({"column_" + std::to_string(c), ColumnType::kFloat, 3});
  TableBuilder t = b.AddTable("wide", cols, std::string(120, 'c'));
  for (int row = 0; row < 50; ++row) {
    std::vector<Cell> cells = {Cell("row" + std::to_string(row))};
    for (int c = 0; c < 20; ++c) cells.push_back(Cell(row * 100.0 + c));
    t.AddRow(cells, row == 3 ? std::string(80, 'f') : "");
  }
  b.AddTable("text", {{"id", ColumnType::kInt}, {"text", ColumnType::kString}})
      .AddRow({1, std::string(200, 't')});
  std::vector<std::string> labels;
  std::vector<double> values;
  for (int i = 0; i < 30; ++i) labels.push_back("node" + std::to_string(i));
  for (int i = 0; i < 900; ++i) values.push_back(i == 417 ? -99.0 : 0.001 * i);
  b.AddMatrix("big", labels, labels, values, "", "writer", "node");
  b.AddNote(std::string(250, 'n'));
  ASSERT_TRUE(b.status().ok()) << b.status();
  r.sections.push_back(s);
  const std::string text = RenderText(r);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    EXPECT_LE(line.size(), 100u) << line;
  }
  const std::vector<std::string> wide = Block(text, "-- table wide");
  ASSERT_GE(wide.size(), 3u) << text;
  EXPECT_EQ(wide[1 + 1].rfind("  ", 0), std::string::npos);  // the caption's continuation
  EXPECT_TRUE(Contains(text, "(shown: the first 40 of 50 rows; "));
  EXPECT_TRUE(Contains(text, "column_19)"));
  EXPECT_TRUE(Contains(text, "csv, json and html have all of it)"));
  EXPECT_TRUE(Contains(text, "'text' cut"));
  EXPECT_TRUE(Contains(text, "(30 x 30 is too wide for a terminal: the 15 cells of largest"));
  // The largest cell first: row 417 / 30 = 13, column 417 % 30 = 27.
  const std::vector<std::string> big = Block(text, "-- matrix big");
  ASSERT_GE(big.size(), 5u) << text;
  EXPECT_EQ(big[4], "node13  node27    -99") << text;
  EXPECT_EQ(Block(text, "-- table text").size(), 4u);
}

TEST(RenderTextTest, ControlCharactersStayOnOneLine) {
  Report r;
  Section s;
  s.plugin = "p";
  ReportBuilder b(&s);
  b.AddTable("t", {{"piece"}}).AddRow({"a\nb\tc"});
  r.sections.push_back(s);
  EXPECT_TRUE(Contains(RenderText(r), "a\\nb\\tc\n"));
}

// ---------------------------------------------------------------- markdown

TEST(RenderMarkdownTest, PipeTables) {
  const std::string md = RenderMarkdown(SampleReport());
  EXPECT_TRUE(Contains(md, "# memlens report\n"));
  EXPECT_TRUE(Contains(md, "| processing | fold_ln+center_writing"));
  EXPECT_TRUE(Contains(md, "## dla 1.2: Direct logit attribution\n\nFlags: `--dla_threshold=0.5`\n"));
  EXPECT_TRUE(Contains(md, "| node | count | dla | flag |\n| --- | ---: | ---: | --- |\n"));
  EXPECT_TRUE(Contains(md, "| L2H5, <b>& | 7 | -0.260 | **sign differs** |"));
  EXPECT_TRUE(Contains(md, "| writer \\ node | L2H2 | L2H3 |"));
  EXPECT_TRUE(Contains(md, "**Error:** plugin 'broken'"));
}

TEST(RenderMarkdownTest, EscapesPipes) {
  Report r;
  Section s;
  s.plugin = "p";
  ReportBuilder b(&s);
  b.AddTable("t", {{"piece"}}).AddRow({"a|b"});
  r.sections.push_back(s);
  EXPECT_TRUE(Contains(RenderMarkdown(r), "| a\\|b |"));
}

// ---------------------------------------------------------------- formats

TEST(ReportFormatTest, ParseAndFromPath) {
  EXPECT_EQ(*ParseReportFormat("TEXT"), ReportFormat::kText);
  EXPECT_EQ(*ParseReportFormat("markdown"), ReportFormat::kMarkdown);
  EXPECT_EQ(*ParseReportFormat("html"), ReportFormat::kHtml);
  absl::StatusOr<ReportFormat> bad = ParseReportFormat("pdf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'pdf'"), absl::string_view::npos);
  EXPECT_EQ(*ReportFormatFromPath("/tmp/out.d/r.json"), ReportFormat::kJson);
  EXPECT_EQ(*ReportFormatFromPath("r.md"), ReportFormat::kMarkdown);
  EXPECT_FALSE(ReportFormatFromPath("/tmp/out.d/report").ok());
  EXPECT_FALSE(ReportFormatFromPath("r.pdf").ok());
  absl::StatusOr<std::string> csv = RenderReport(SampleReport(), "csv");
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(csv->rfind("section,table,row,column,value\r\n", 0), 0u);
  EXPECT_FALSE(RenderReport(SampleReport(), "yaml").ok());
}

}  // namespace
}  // namespace memlens

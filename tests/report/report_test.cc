#include "core/report/report.h"

#include <cmath>
#include <string>

#include "core/report/token_text.h"
#include "gtest/gtest.h"

namespace memlens {
namespace {

TEST(ReportBuilderTest, BuildsItemsInOrder) {
  Section s;
  s.plugin = "p";
  ReportBuilder b(&s);
  b.SetTitle("title");
  TableBuilder t = b.AddTable("t", {{"a", ColumnType::kString}, {"b", ColumnType::kFloat}});
  b.AddNote("between");  // adding items must not invalidate the table handle
  b.AddMatrix("m", {"r"}, {"c1", "c2"}, {1, 2});
  t.AddRow({"x", 1});  // an int in a float column becomes a float
  t.AddRow({"y", 2.5}, "flagged");
  b.AddSeries("s", "x", "y").AddLine("l", {1, 2});
  ASSERT_TRUE(b.status().ok()) << b.status();
  ASSERT_EQ(s.items.size(), 4u);
  const Table& table = absl::get<Table>(s.items[0]);
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0][1].kind(), Cell::Kind::kFloat);
  EXPECT_EQ(table.rows[0][1].float_value(), 1.0);
  EXPECT_EQ(table.row_flags, (std::vector<std::string>{"", "flagged"}));
  EXPECT_TRUE(table.has_flags());
  EXPECT_TRUE(absl::holds_alternative<Note>(s.items[1]));
  EXPECT_EQ(absl::get<Matrix>(s.items[2]).at(0, 1), 2.0);
  const Series& series = absl::get<Series>(s.items[3]);
  EXPECT_EQ(series.lines[0].x, (std::vector<double>{0, 1}));
  EXPECT_EQ(s.title, "title");
}

TEST(ReportBuilderTest, WrongCellCountNamesTableAndRow) {
  Section s;
  s.plugin = "p";
  ReportBuilder b(&s);
  TableBuilder t = b.AddTable("norms", {{"a", ColumnType::kString}, {"b", ColumnType::kInt}});
  t.AddRow({"ok", 1});
  t.AddRow({"short"});
  t.AddRow({"later error is not kept", 1.5});
  ASSERT_FALSE(b.status().ok());
  const std::string msg(b.status().message());
  EXPECT_NE(msg.find("'p'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("table 'norms' row 1 has 1 cells but the table has 2 columns"),
            std::string::npos) << msg;
}

TEST(ReportBuilderTest, WrongCellTypeNamesColumn) {
  Section s;
  ReportBuilder b(&s);
  b.AddTable("t", {{"count", ColumnType::kInt}}).AddRow({0.5});
  ASSERT_FALSE(b.status().ok());
  EXPECT_NE(b.status().message().find("column 'count' is int but the cell is float"),
            absl::string_view::npos) << b.status();
}

TEST(ReportBuilderTest, StringCellInNumberColumnIsAnError) {
  Section s;
  ReportBuilder b(&s);
  b.AddTable("t", {{"v", ColumnType::kFloat}}).AddRow({"1.0"});
  EXPECT_FALSE(b.status().ok());
}

TEST(ReportBuilderTest, EmptyCellsFitAnyColumn) {
  Section s;
  ReportBuilder b(&s);
  b.AddTable("t", {{"a", ColumnType::kString}, {"b", ColumnType::kInt}, {"c", ColumnType::kFloat}})
      .AddRow({Cell(), Cell(), Cell()});
  EXPECT_TRUE(b.status().ok()) << b.status();
}

TEST(ReportBuilderTest, DuplicateAndEmptyNames) {
  {
    Section s;
    ReportBuilder b(&s);
    b.AddTable("x", {{"a"}});
    b.AddMatrix("x", {}, {}, {});
    ASSERT_FALSE(b.status().ok());
    EXPECT_NE(b.status().message().find("two items are named 'x'"), absl::string_view::npos);
  }
  {
    Section s;
    ReportBuilder b(&s);
    b.AddSeries("", "x", "y");
    EXPECT_FALSE(b.status().ok());
  }
  {
    Section s;
    ReportBuilder b(&s);
    b.AddTable("t", {{"a"}, {"a"}});
    ASSERT_FALSE(b.status().ok());
    EXPECT_NE(b.status().message().find("two columns are named 'a'"), absl::string_view::npos);
  }
  {
    Section s;
    ReportBuilder b(&s);
    b.AddTable("t", {});
    EXPECT_FALSE(b.status().ok());
  }
}

TEST(ReportBuilderTest, MatrixSizeMismatch) {
  Section s;
  ReportBuilder b(&s);
  b.AddMatrix("pr", {"a", "b"}, {"c"}, {1, 2, 3});
  ASSERT_FALSE(b.status().ok());
  EXPECT_NE(b.status().message().find("matrix 'pr' has 3 values but 2 row labels x 1 column"),
            absl::string_view::npos) << b.status();
  EXPECT_TRUE(s.items.empty());
}

TEST(ReportBuilderTest, SeriesLengthMismatchAndDuplicateLine) {
  {
    Section s;
    ReportBuilder b(&s);
    b.AddSeries("s", "x", "y").AddLine("l", {1, 2}, {1});
    ASSERT_FALSE(b.status().ok());
    EXPECT_NE(b.status().message().find("line 'l' has 2 x values but 1 y values"),
              absl::string_view::npos);
  }
  {
    Section s;
    ReportBuilder b(&s);
    b.AddSeries("s", "x", "y").AddLine("l", {1}).AddLine("l", {2});
    EXPECT_FALSE(b.status().ok());
  }
}

TEST(SeriesTest, XTextUsesCategories) {
  Series s;
  s.x_categories = {"mid0", "post0"};
  EXPECT_EQ(s.XText(1), "post0");
  EXPECT_EQ(s.XText(0.5), "0.5");
  EXPECT_EQ(s.XText(7), "7");
}

// Tokens are shown quoted, with escapes for what would be blank or break a line; UTF-8 as is.
TEST(QuotedTokenTest, WhitespaceAndControlCharactersShow) {
  EXPECT_EQ(QuotedToken(" "), R"(" ")");
  EXPECT_EQ(QuotedToken("\n"), R"("\n")");
  EXPECT_EQ(QuotedToken("\t\r"), R"("\t\r")");
  EXPECT_EQ(QuotedToken(""), R"("")");
  EXPECT_EQ(QuotedToken(std::string("a\0\x01\x1f\x7f", 5)), R"("a\x00\x01\x1f\x7f")");
  EXPECT_EQ(QuotedToken("say \"hi\" \\"), R"("say \"hi\" \\")");
  EXPECT_EQ(QuotedToken(" caf\xc3\xa9"), "\" caf\xc3\xa9\"");
}

}  // namespace
}  // namespace memlens

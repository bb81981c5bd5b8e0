// A small report exercising every item kind, shared by the renderer tests.
#ifndef MEMLENS_TESTS_REPORT_SAMPLE_REPORT_H_
#define MEMLENS_TESTS_REPORT_SAMPLE_REPORT_H_

#include <cmath>
#include <limits>

#include "core/report/report.h"

namespace memlens {

inline Report SampleReport() {
  Report report;
  ReportMetadata& m = report.metadata;
  m.created = "2026-01-01T00:00:00Z";
  m.model_name = "gelu-4l";
  m.model_path = "/models/gelu-4l/model_final.pth";
  m.model_format = "tl-pytorch";
  m.processing = "fold_ln+center_writing+center_unembed+fold_value_biases";
  m.dataset_name = "tiny, with \"quotes\"";
  m.num_prompts = 3;
  m.num_tokens = 30;
  m.seed = 42;
  m.settings = {{"target", "next_token"}, {"contrast", "none"}};
  m.caveats = {"the target is 2 tokens; its first token is attributed"};

  Section ok;
  ok.plugin = "dla";
  ok.plugin_version = "1.2";
  ok.source = "/plugins/libdla.so";
  ok.title = "Direct logit attribution";
  ok.settings = {{"--dla_threshold", "0.5"}};
  {
    ReportBuilder b(&ok);
    TableBuilder t = b.AddTable("nodes", {{"node", ColumnType::kString},
                                          {"count", ColumnType::kInt},
                                          {"dla", ColumnType::kFloat, 3}},
                                "per node");
    t.AddRow({"L0H2", 12, 0.55});
    t.AddRow({"L2H5, <b>&", 7, -0.26}, "sign differs");
    t.AddRow({Cell(), 0, std::numeric_limits<double>::quiet_NaN()});
    b.AddCategoricalSeries("survival", {"mid0", "post0", "mid1"}, "point", "PR")
        .AddLine("L0H2", {0.96, 1.04, 0.10})
        .AddLine("L1H1", {0.5, 0.25, -0.125});
    b.AddSeries("numeric", "x", "y").AddLine("a", {0, 1, 2.5}, {1, 2, 3});
    b.AddMatrix("pr", {"L0H2", "L1H1"}, {"L2H2", "L2H3"},
                {-0.14, 0.5, std::numeric_limits<double>::quiet_NaN(), 0.0}, "median PR",
                "writer", "node");
    b.AddNote("Position 0 (BOS) is reported separately.");
    b.AddFinding("eraser",
                 "L2H5 erases 26% of L0H2's write (median PR -0.26; negative at 83% of "
                 "positions).",
                 {{"writer", "L0H2"}, {"node", "L2H5"}, {"median_pr", -0.25}},
                 {{"median_pr", -0.26}}, "arXiv 2310.07325");
  }
  Section failed;
  failed.plugin = "broken";
  failed.plugin_version = "0.1";
  failed.ok = false;
  failed.error = "plugin 'broken' (/plugins/libbroken.so) failed in AnalyzePrompt: boom";
  report.sections.push_back(std::move(ok));
  report.sections.push_back(std::move(failed));
  return report;
}

}  // namespace memlens

#endif  // MEMLENS_TESTS_REPORT_SAMPLE_REPORT_H_

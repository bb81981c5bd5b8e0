// Prints RenderJson(SampleReport()) and of the edge-case reports render_json_python_test.sh
// reads with Python's own json module (not memlens's parser). Usage: render_sample_json KIND
// with KIND sample | empty | duplicate_settings.
#include <cstdio>
#include <cstring>

#include "core/report/render.h"
#include "tests/report/sample_report.h"

int main(int argc, char** argv) {
  using memlens::Report;
  Report r;
  const char* kind = argc > 1 ? argv[1] : "";
  if (std::strcmp(kind, "sample") == 0) {
    r = memlens::SampleReport();
  } else if (std::strcmp(kind, "duplicate_settings") == 0) {
    r.metadata.settings = {{"k", "1"}, {"k", "2"}};
  } else if (std::strcmp(kind, "empty") != 0) {
    std::fprintf(stderr, "usage: render_sample_json sample|empty|duplicate_settings\n");
    return 2;
  }
  std::fputs(memlens::RenderJson(r).c_str(), stdout);
  return 0;
}

// Small helpers for command output: errors to stderr, aligned text tables.
#ifndef MEMLENS_CORE_CLI_OUTPUT_H_
#define MEMLENS_CORE_CLI_OUTPUT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace memlens {

// Prints "memlens <command>: <message>" to stderr and returns the exit code for it.
int Fail(const char* command, const absl::Status& status);

// Columns padded to their widest cell; `right` marks right-aligned (numeric) columns.
std::string TextTable(const std::vector<std::string>& header,
                      const std::vector<std::vector<std::string>>& rows,
                      const std::vector<bool>& right);

}  // namespace memlens

#endif  // MEMLENS_CORE_CLI_OUTPUT_H_

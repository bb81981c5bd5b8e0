// A prompt dataset read as a stream: memory independent of the number of prompts.
//
// Formats (chosen by the file name): `.jsonl` / `.json`, one JSON object per line with a string
// "text" field; anything else, one prompt per line, where "\n" and "\t" escapes let a line hold
// code. Blank lines are skipped in both.
//
// Open() checks the path (core/io/checked_file.h: a regular file, never a device or FIFO) and
// scans the file once: every line is validated (a JSONL line must parse and have its "text"),
// prompts are counted, and the byte offset of every kCheckpointEvery-th prompt is kept. Prompt
// i is then read from the checkpoint at or before it, reading forward at most kCheckpointEvery
// lines; reading in order (0, 1, 2, ...) continues where the last read stopped. Memory: one
// line (at most kMaxLineBytes) plus 16 bytes per kCheckpointEvery prompts (16 KB for 1M).
#ifndef MEMLENS_CORE_IO_DATASET_READER_H_
#define MEMLENS_CORE_IO_DATASET_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/checked_file.h"

namespace memlens {

class DatasetReader {
 public:
  // A longer line (e.g. a file of zero bytes without newlines) is an error naming its line.
  static constexpr uint64_t kMaxLineBytes = uint64_t{16} << 20;
  static constexpr int64_t kCheckpointEvery = 1024;

  // Errors start with the path (and ":LINE" for a bad line); an empty dataset is an error.
  static absl::StatusOr<std::unique_ptr<DatasetReader>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }

  // The text of prompt i in [0, size()); *line (when given) gets the 1-based line number of
  // its line in the file, for messages.
  absl::StatusOr<std::string> Text(int64_t i, int64_t* line = nullptr);

 private:
  struct Position {
    uint64_t offset = 0;  // byte offset of the line
    int64_t line = 1;     // its 1-based line number
  };
  DatasetReader(std::string path, CheckedFile file, bool jsonl)
      : path_(std::move(path)), file_(std::move(file)), jsonl_(jsonl) {}

  // Reads the line at pos_ into *line and advances pos_; false at the end of the file.
  absl::StatusOr<bool> ReadLine(std::string* line);
  // The prompt of a non-blank line; errors name path:line.
  absl::StatusOr<std::string> Decode(const std::string& line, int64_t number) const;
  // Moves pos_ to prompt i's line.
  absl::Status Seek(int64_t i);

  std::string path_;
  CheckedFile file_;
  bool jsonl_ = false;
  int64_t size_ = 0;
  std::vector<Position> checkpoints_;  // prompt k * kCheckpointEvery starts at checkpoints_[k]
  Position pos_;                       // the next line to read
  int64_t next_prompt_ = 0;            // the prompt at pos_ (or after blank lines at pos_)
  std::string buffer_;                 // bytes read ahead from buffer_offset_
  uint64_t buffer_offset_ = 0;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_DATASET_READER_H_

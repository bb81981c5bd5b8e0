#include "core/io/dataset_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/io/json.h"

namespace memlens {
namespace {

constexpr size_t kReadChunk = 1 << 16;

bool Blank(const std::string& line) { return absl::StripAsciiWhitespace(line).empty(); }

}  // namespace

absl::StatusOr<std::unique_ptr<DatasetReader>> DatasetReader::Open(const std::string& path) {
  absl::StatusOr<CheckedFile> file = OpenRegularFile(path, kDatasetFile);
  if (!file.ok()) return file.status();
  const bool jsonl = absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".json");
  std::unique_ptr<DatasetReader> r(new DatasetReader(path, *std::move(file), jsonl));
  std::string line;
  while (true) {
    const Position at = r->pos_;
    absl::StatusOr<bool> more = r->ReadLine(&line);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (Blank(line)) continue;
    if (absl::StatusOr<std::string> text = r->Decode(line, at.line); !text.ok()) {
      return text.status();
    }
    if (r->size_ % kCheckpointEvery == 0) r->checkpoints_.push_back(at);
    ++r->size_;
  }
  if (r->size_ == 0) {
    return absl::InvalidArgumentError(absl::StrCat("dataset ", path, " has no prompts"));
  }
  r->pos_ = Position{};
  r->next_prompt_ = 0;
  return r;
}

absl::StatusOr<bool> DatasetReader::ReadLine(std::string* line) {
  // Keep the buffer starting near pos_: drop what was consumed once it is a chunk's worth.
  if (pos_.offset < buffer_offset_ || pos_.offset > buffer_offset_ + buffer_.size()) {
    buffer_.clear();
    buffer_offset_ = pos_.offset;
  } else if (pos_.offset - buffer_offset_ >= kReadChunk) {
    buffer_.erase(0, static_cast<size_t>(pos_.offset - buffer_offset_));
    buffer_offset_ = pos_.offset;
  }
  const size_t start = static_cast<size_t>(pos_.offset - buffer_offset_);
  size_t searched = start;
  while (true) {
    const size_t newline = buffer_.find('\n', searched);
    if (newline != std::string::npos) {
      line->assign(buffer_, start, newline - start);
      pos_.offset += newline - start + 1;
      ++pos_.line;
      return true;
    }
    searched = buffer_.size();
    if (buffer_.size() - start > kMaxLineBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ":", pos_.line, ": a line longer than ", kMaxLineBytes,
                       " bytes; prompts are one per line"));
    }
    char chunk[kReadChunk];
    ssize_t n;
    do {
      n = ::pread(file_.fd.get(), chunk, sizeof(chunk),
                  static_cast<off_t>(buffer_offset_ + buffer_.size()));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      return absl::DataLossError(absl::StrCat(path_, ": read error: ", std::strerror(errno)));
    }
    if (n == 0) {  // end of file: a last line without a newline still counts
      if (buffer_.size() == start) return false;
      line->assign(buffer_, start, std::string::npos);
      pos_.offset += buffer_.size() - start;
      ++pos_.line;
      return true;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> DatasetReader::Decode(const std::string& line, int64_t number) const {
  if (!jsonl_) {
    std::string text;
    text.reserve(line.size());
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == 'n' || line[i + 1] == 't')) {
        text += line[++i] == 'n' ? '\n' : '\t';
      } else {
        text += line[i];
      }
    }
    return text;
  }
  absl::StatusOr<json::Value> value = json::Parse(line);
  if (!value.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", number, ": ", value.status().message()));
  }
  const json::Value* text = value->is_object() ? value->Find("text") : nullptr;
  if (text == nullptr || !text->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", number, ": expected an object with a string \"text\" field"));
  }
  return text->string_value();
}

absl::Status DatasetReader::Seek(int64_t i) {
  if (i == next_prompt_) return absl::OkStatus();
  pos_ = checkpoints_[static_cast<size_t>(i / kCheckpointEvery)];
  next_prompt_ = i / kCheckpointEvery * kCheckpointEvery;
  std::string line;
  while (next_prompt_ < i) {
    absl::StatusOr<bool> more = ReadLine(&line);
    if (!more.ok()) return more.status();
    if (!*more) {
      return absl::DataLossError(absl::StrCat(path_, ": the file changed while being read"));
    }
    if (!Blank(line)) ++next_prompt_;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DatasetReader::Text(int64_t i, int64_t* line_number) {
  if (i < 0 || i >= size_) {
    return absl::OutOfRangeError(
        absl::StrCat(path_, ": prompt ", i, " is outside [0, ", size_, ")"));
  }
  if (absl::Status s = Seek(i); !s.ok()) return s;
  std::string line;
  while (true) {
    const int64_t number = pos_.line;
    absl::StatusOr<bool> more = ReadLine(&line);
    if (!more.ok()) return more.status();
    if (!*more) {
      return absl::DataLossError(absl::StrCat(path_, ": the file changed while being read"));
    }
    if (Blank(line)) continue;
    ++next_prompt_;
    if (line_number != nullptr) *line_number = number;
    return Decode(line, number);
  }
}

}  // namespace memlens

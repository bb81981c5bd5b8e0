// Typed, checked access to the fields of a JSON config object (config.json of a checkpoint).
// A field that is absent or null takes the default; a present field of the wrong type, or an
// integer outside int range, is an error naming the source and the field.
#ifndef MEMLENS_CORE_IO_JSON_FIELDS_H_
#define MEMLENS_CORE_IO_JSON_FIELDS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "core/io/json.h"

namespace memlens {

class JsonFields {
 public:
  // `object` must outlive this; `source` (e.g. the config.json path) prefixes errors.
  JsonFields(const json::Value& object, std::string source)
      : object_(object), source_(std::move(source)) {}

  const std::string& source() const { return source_; }
  // Present and not null.
  bool Has(absl::string_view key) const;

  absl::StatusOr<int> RequiredInt(absl::string_view key) const;
  absl::StatusOr<absl::optional<int>> OptionalInt(absl::string_view key) const;
  absl::StatusOr<double> Number(absl::string_view key, double default_value) const;
  absl::StatusOr<std::string> String(absl::string_view key, absl::string_view default_value) const;
  absl::StatusOr<bool> Bool(absl::string_view key, bool default_value) const;

  // An error "<source>: field <key> = <value>: <what>".
  absl::Status Invalid(absl::string_view key, absl::string_view what) const;

 private:
  const json::Value& object_;
  std::string source_;
};

}  // namespace memlens

#endif  // MEMLENS_CORE_IO_JSON_FIELDS_H_

#include "core/io/json_fields.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace memlens {

bool JsonFields::Has(absl::string_view key) const {
  const json::Value* v = object_.Find(key);
  return v != nullptr && !v->is_null();
}

absl::Status JsonFields::Invalid(absl::string_view key, absl::string_view what) const {
  const json::Value* v = object_.Find(key);
  return absl::InvalidArgumentError(
      absl::StrCat(source_, ": field \"", key, "\"", v != nullptr ? " = " : "",
                   v != nullptr ? json::Serialize(*v) : "", ": ", what));
}

absl::StatusOr<absl::optional<int>> JsonFields::OptionalInt(absl::string_view key) const {
  if (!Has(key)) return absl::optional<int>();
  absl::StatusOr<int64_t> i = object_.Find(key)->AsInt64();
  if (!i.ok()) return Invalid(key, "expected an integer");
  if (*i < std::numeric_limits<int>::min() || *i > std::numeric_limits<int>::max()) {
    return Invalid(key, "out of range");
  }
  return absl::optional<int>(static_cast<int>(*i));
}

absl::StatusOr<int> JsonFields::RequiredInt(absl::string_view key) const {
  absl::StatusOr<absl::optional<int>> i = OptionalInt(key);
  if (!i.ok()) return i.status();
  if (!i->has_value()) return Invalid(key, "required field is missing");
  return **i;
}

absl::StatusOr<double> JsonFields::Number(absl::string_view key, double default_value) const {
  if (!Has(key)) return default_value;
  const json::Value* v = object_.Find(key);
  if (!v->is_number()) return Invalid(key, "expected a number");
  return v->number();
}

absl::StatusOr<std::string> JsonFields::String(absl::string_view key,
                                               absl::string_view default_value) const {
  if (!Has(key)) return std::string(default_value);
  const json::Value* v = object_.Find(key);
  if (!v->is_string()) return Invalid(key, "expected a string");
  return v->string_value();
}

absl::StatusOr<bool> JsonFields::Bool(absl::string_view key, bool default_value) const {
  if (!Has(key)) return default_value;
  const json::Value* v = object_.Find(key);
  if (!v->is_bool()) return Invalid(key, "expected true or false");
  return v->bool_value();
}

}  // namespace memlens

#include "core/tokenizer/tokenizer_json.h"

#include "absl/strings/str_cat.h"

namespace memlens {

absl::Status ReadTemplateBos(const json::Value& doc, const std::string& source,
                             const std::function<int(const std::string&)>& id_of, int* bos_id) {
  const json::Value* post = doc.Find("post_processor");
  if (post == nullptr || !post->is_object()) return absl::OkStatus();
  const json::Value* type = post->Find("type");
  if (type == nullptr || !type->is_string() || type->string_value() != "TemplateProcessing") {
    return absl::OkStatus();
  }
  const json::Value* single = post->Find("single");
  if (single == nullptr || !single->is_array() || single->size() == 0) return absl::OkStatus();
  const json::Value* first = single->array()[0].Find("SpecialToken");
  if (first == nullptr) return absl::OkStatus();
  const json::Value* name = first->Find("id");
  if (name == nullptr || !name->is_string()) return absl::OkStatus();
  const int id = id_of(name->string_value());
  if (id < 0) {
    return absl::InvalidArgumentError(absl::StrCat(source,
                                                   ": post_processor.single[0]: special token \"",
                                                   name->string_value(), "\" is not a token"));
  }
  *bos_id = id;
  return absl::OkStatus();
}

}  // namespace memlens

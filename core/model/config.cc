#include "core/model/config.h"

#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace memlens {
namespace {

absl::Status CheckRange(const char* field, long value, long lo, long hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("config field ", field, " = ", value, " is outside [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ModelConfig::Validate() const {
  // Upper bounds keep every derived allocation far below 2^40 bytes before any file data is
  // trusted; they are generous for any model a CPU tool will meet.
  for (auto [field, value, hi] : {std::tuple<const char*, long, long>{"n_layers", n_layers, 1024},
                                  {"d_model", d_model, 1 << 16},
                                  {"n_heads", n_heads, 1024},
                                  {"n_kv_heads", n_kv_heads, 1024},
                                  {"d_head", d_head, 4096},
                                  {"d_mlp", d_mlp, 1 << 18},
                                  {"d_vocab", d_vocab, 1 << 22},
                                  {"n_ctx", n_ctx, 1 << 20}}) {
    if (auto s = CheckRange(field, value, 1, hi); !s.ok()) return s;
  }
  if (n_heads % n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("config: n_heads (", n_heads,
                                                   ") is not a multiple of n_kv_heads (",
                                                   n_kv_heads, ")"));
  }
  if (pos == PosKind::kRotary) {
    if (rotary_dim == 0 && d_head % 2 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: rotary positions need an even d_head, got ", d_head));
    }
    if (rotary_dim < 0 || rotary_dim > d_head || rotary_dim % 2 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: rotary_dim (", rotary_dim, ") must be even and within [0, d_head = ", d_head,
          "] (0 = all of d_head)"));
    }
    if (!(rope_theta > 1) || !std::isfinite(rope_theta)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: rope_theta (", rope_theta, ") must be a finite number above 1"));
    }
    if (!(rope_scale > 0) || !std::isfinite(rope_scale)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: rope_scale (", rope_scale, ") must be finite and positive"));
    }
  } else if (rotary_dim != 0 || rope_scale != 1.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: rotary_dim (", rotary_dim, ") and rope_scale (", rope_scale,
        ") apply only to rotary positions; this model has learned positions"));
  }
  if (!attn_window.empty() && attn_window.size() != static_cast<size_t>(n_layers)) {
    return absl::InvalidArgumentError(absl::StrCat("config: attn_window has ", attn_window.size(),
                                                   " entries but the model has ", n_layers,
                                                   " layers (give one per layer, or none)"));
  }
  for (size_t l = 0; l < attn_window.size(); ++l) {
    if (attn_window[l] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("config: attn_window of layer ", l, " is ",
                                                     attn_window[l],
                                                     " (0 = global, else a positive width)"));
    }
  }
  if (!(eps > 0) || !(attn_scale > 0) || !std::isfinite(eps) || !std::isfinite(attn_scale)) {
    return absl::InvalidArgumentError(absl::StrCat("config: eps (", eps, ") and attn_scale (",
                                                   attn_scale, ") must be positive"));
  }
  if (bos_token_id >= d_vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: bos_token_id ", bos_token_id, " >= d_vocab ", d_vocab));
  }
  return absl::OkStatus();
}

const char* NormKindName(NormKind k) { return k == NormKind::kLayerNorm ? "LayerNorm" : "RMSNorm"; }
const char* ActKindName(ActKind k) {
  switch (k) {
    case ActKind::kGeluErf: return "gelu (erf)";
    case ActKind::kGeluTanh: return "gelu (tanh)";
    case ActKind::kSwiGLU: return "SwiGLU";
  }
  return "?";
}
const char* PosKindName(PosKind k) { return k == PosKind::kLearned ? "learned" : "rotary"; }
const char* RotaryStyleName(RotaryStyle s) {
  return s == RotaryStyle::kInterleaved ? "interleaved pairs" : "rotate_half";
}

}  // namespace memlens

#include "core/analysis/state_codec.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/analysis/plugin_support.h"
#include "core/analysis/sketch.h"

namespace memlens {

void StateWriter::U64(uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  bytes_.append(b, 8);
}

void StateWriter::F64(double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  U64(u);
}

void StateWriter::Str(absl::string_view s) {
  U64(s.size());
  bytes_.append(s.data(), s.size());
}

void StateWriter::Floats(const std::vector<float>& v) {
  U64(v.size());
  for (float x : v) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
}

void StateWriter::Doubles(const std::vector<double>& v) {
  U64(v.size());
  for (double x : v) F64(x);
}

void StateWriter::Stats(const RunningStats& s) {
  I64(s.n);
  F64(s.mean);
  F64(s.m2);
  F64(s.sum_abs);
  F64(s.min);
  F64(s.max);
}

void StateWriter::Sketch(const QuantileSketch& s) {
  U64(static_cast<uint64_t>(s.k_));
  I64(s.count_);
  I64(s.nan_count_);
  I64(s.below_zero_);
  F64(s.sum_);
  F64(s.min_);
  F64(s.max_);
  U64(s.levels_.size());
  for (size_t h = 0; h < s.levels_.size(); ++h) {
    U64(s.offset_[h]);
    Floats(s.levels_[h]);
  }
}

bool StateReader::Fail(absl::string_view why) {
  if (error_.empty()) error_ = std::string(why);
  return false;
}

bool StateReader::Take(size_t n, const char** p) {
  if (!ok()) return false;
  if (rest_.size() < n) {
    return Fail(absl::StrCat("truncated: ", n, " more bytes needed, ", rest_.size(), " left"));
  }
  *p = rest_.data();
  rest_.remove_prefix(n);
  return true;
}

bool StateReader::U64(uint64_t* v) {
  const char* p;
  if (!Take(8, &p)) return false;
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  *v = u;
  return true;
}

bool StateReader::I64(int64_t* v) {
  uint64_t u;
  if (!U64(&u)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}

bool StateReader::F64(double* v) {
  uint64_t u;
  if (!U64(&u)) return false;
  std::memcpy(v, &u, 8);
  return true;
}

bool StateReader::Str(std::string* s) {
  uint64_t n;
  const char* p;
  if (!U64(&n)) return false;
  if (n > rest_.size()) return Fail(absl::StrCat("truncated: a string of ", n, " bytes"));
  if (!Take(n, &p)) return false;
  s->assign(p, n);
  return true;
}

bool StateReader::Floats(std::vector<float>* v) {
  uint64_t n;
  const char* p;
  if (!U64(&n)) return false;
  if (n > rest_.size() / 4) return Fail(absl::StrCat("truncated: an array of ", n, " floats"));
  if (!Take(n * 4, &p)) return false;
  v->resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t u = 0;
    for (int b = 0; b < 4; ++b) u |= static_cast<uint32_t>(static_cast<unsigned char>(p[4 * i + b])) << (8 * b);
    std::memcpy(&(*v)[i], &u, 4);
  }
  return true;
}

bool StateReader::Doubles(std::vector<double>* v) {
  uint64_t n;
  if (!U64(&n)) return false;
  if (n > rest_.size() / 8) return Fail(absl::StrCat("truncated: an array of ", n, " doubles"));
  v->resize(n);
  for (double& x : *v) F64(&x);
  return ok();
}

bool StateReader::Stats(RunningStats* s) {
  RunningStats r;
  if (!I64(&r.n) || !F64(&r.mean) || !F64(&r.m2) || !F64(&r.sum_abs) || !F64(&r.min) ||
      !F64(&r.max)) {
    return false;
  }
  if (r.n < 0) return Fail("running statistics with a negative count");
  if (r.n > 0 && (std::isnan(r.mean) || std::isnan(r.m2) || r.min > r.max)) {
    return Fail("running statistics with NaN or min > max");
  }
  *s = r;
  return true;
}

// Checks the sketch's invariants, so that a loaded sketch answers like one built by Add():
// every level below capacity, no NaN, and the levels' weights (size * 2^h) summing to count.
bool StateReader::Sketch(QuantileSketch* s) {
  uint64_t k, levels;
  QuantileSketch r(s->k_);
  if (!U64(&k) || !I64(&r.count_) || !I64(&r.nan_count_) || !I64(&r.below_zero_) ||
      !F64(&r.sum_) || !F64(&r.min_) || !F64(&r.max_) || !U64(&levels)) {
    return false;
  }
  if (k != static_cast<uint64_t>(s->k_)) {
    return Fail(absl::StrCat("a quantile sketch of size k = ", k, ", expected ", s->k_));
  }
  if (r.count_ < 0 || r.nan_count_ < 0 || r.below_zero_ < 0 || r.below_zero_ > r.count_) {
    return Fail("a quantile sketch with inconsistent counts");
  }
  if (levels < 1 || levels > 62) return Fail(absl::StrCat("a quantile sketch with ", levels, " levels"));
  r.levels_.assign(levels, {});
  r.offset_.assign(levels, 0);
  uint64_t weight = 0;
  for (uint64_t h = 0; h < levels; ++h) {
    uint64_t offset;
    if (!U64(&offset) || !Floats(&r.levels_[h])) return false;
    if (offset > 1) return Fail("a quantile sketch with a compaction offset other than 0 or 1");
    r.offset_[h] = static_cast<uint8_t>(offset);
    if (r.levels_[h].size() >= k) return Fail("a quantile sketch level over capacity");
    for (float x : r.levels_[h]) {
      if (std::isnan(x)) return Fail("a quantile sketch holding NaN");
    }
    weight += static_cast<uint64_t>(r.levels_[h].size()) << h;
  }
  if (weight != static_cast<uint64_t>(r.count_)) {
    return Fail(absl::StrCat("a quantile sketch whose items weigh ", weight, " for a count of ",
                             r.count_));
  }
  if (r.count_ > 0 && !(r.min_ <= r.max_)) return Fail("a quantile sketch with min > max");
  *s = std::move(r);
  return true;
}

bool StateReader::Expect(uint64_t expected, absl::string_view field) {
  uint64_t v;
  if (!U64(&v)) return false;
  if (v != expected) {
    return Fail(absl::StrCat(field, " is ", v, ", expected ", expected,
                             " (a state made with other settings or another model)"));
  }
  return true;
}

absl::Status StateReader::Finish() const {
  if (!ok()) return absl::DataLossError(absl::StrCat(what_, " state: ", error_));
  if (!rest_.empty()) {
    return absl::DataLossError(absl::StrCat(what_, " state: ", rest_.size(), " trailing bytes"));
  }
  return absl::OkStatus();
}

}  // namespace memlens

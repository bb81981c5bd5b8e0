#include "core/analysis/sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace memlens {

QuantileSketch::QuantileSketch(int k) : k_(std::max(16, k + (k & 1))) {
  levels_.emplace_back();
  levels_[0].reserve(k_);
  offset_.push_back(0);
}

void QuantileSketch::Add(float x) {
  if (std::isnan(x)) {
    ++nan_count_;
    return;
  }
  if (count_ == 0) {
    min_ = max_ = x;
  } else {
    min_ = std::min<double>(min_, x);
    max_ = std::max<double>(max_, x);
  }
  ++count_;
  sum_ += x;
  if (x < 0) ++below_zero_;
  levels_[0].push_back(x);
  if (levels_[0].size() >= static_cast<size_t>(k_)) CompactAll();
}

void QuantileSketch::Compact(size_t level) {
  std::vector<float>& buf = levels_[level];
  std::sort(buf.begin(), buf.end());
  if (level + 1 == levels_.size()) {
    levels_.emplace_back();
    offset_.push_back(0);
  }
  std::vector<float>& up = levels_[level + 1];  // re-fetch after a possible reallocation
  std::vector<float>& cur = levels_[level];
  // With an odd count, keep the largest item at this level (its weight stays exact).
  size_t n = cur.size();
  float carry = 0;
  const bool odd = n % 2 == 1;
  if (odd) {
    carry = cur.back();
    --n;
  }
  for (size_t i = offset_[level]; i < n; i += 2) up.push_back(cur[i]);
  offset_[level] ^= 1;
  cur.clear();
  if (odd) cur.push_back(carry);
}

void QuantileSketch::CompactAll() {
  for (size_t h = 0; h < levels_.size(); ++h) {
    if (levels_[h].size() >= static_cast<size_t>(k_)) Compact(h);
  }
}

void QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.count_ == 0) {
    nan_count_ += other.nan_count_;
    return;
  }
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  nan_count_ += other.nan_count_;
  below_zero_ += other.below_zero_;
  sum_ += other.sum_;
  while (levels_.size() < other.levels_.size()) {
    levels_.emplace_back();
    offset_.push_back(0);
  }
  for (size_t h = 0; h < other.levels_.size(); ++h) {
    levels_[h].insert(levels_[h].end(), other.levels_[h].begin(), other.levels_[h].end());
  }
  CompactAll();
}

size_t QuantileSketch::RetainedItems() const {
  size_t n = 0;
  for (const auto& l : levels_) n += l.size();
  return n;
}

double QuantileSketch::mean() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : sum_ / count_;
}

double QuantileSketch::FractionBelowZero() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN()
                     : static_cast<double>(below_zero_) / count_;
}

namespace {
std::vector<std::pair<float, double>> Weighted(const std::vector<std::vector<float>>& levels) {
  std::vector<std::pair<float, double>> items;
  for (size_t h = 0; h < levels.size(); ++h) {
    const double w = std::ldexp(1.0, static_cast<int>(h));
    for (float x : levels[h]) items.emplace_back(x, w);
  }
  std::sort(items.begin(), items.end());
  return items;
}
}  // namespace

double QuantileSketch::Quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  if (q <= 0) return min_;
  if (q >= 1) return max_;
  std::vector<std::pair<float, double>> items = Weighted(levels_);
  double total = 0;
  for (const auto& it : items) total += it.second;
  // The item whose weighted interval [cum - w, cum) contains q * total.
  const double target = q * total;
  double cum = 0;
  for (const auto& it : items) {
    cum += it.second;
    if (cum > target) return it.first;
  }
  return items.back().first;
}

double QuantileSketch::Rank(double x) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  double below = 0, total = 0;
  for (size_t h = 0; h < levels_.size(); ++h) {
    const double w = std::ldexp(1.0, static_cast<int>(h));
    for (float v : levels_[h]) {
      total += w;
      if (v <= x) below += w;
    }
  }
  return below / total;
}

}  // namespace memlens

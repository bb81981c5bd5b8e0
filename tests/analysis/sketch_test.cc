// The quantile sketch: rank accuracy < 0.005 against exact quantiles on 1e5+ samples, for
// several orders and merge trees; determinism; bounded memory; exact side statistics.
#include "core/analysis/sketch.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace memlens {
namespace {

// Max over q of |exact rank of Quantile(q) - q|.
double MaxRankError(const QuantileSketch& s, std::vector<float> data) {
  std::sort(data.begin(), data.end());
  double worst = 0;
  for (int i = 1; i < 200; ++i) {
    const double q = i / 200.0;
    const float v = static_cast<float>(s.Quantile(q));
    const double lo = std::lower_bound(data.begin(), data.end(), v) - data.begin();
    const double hi = std::upper_bound(data.begin(), data.end(), v) - data.begin();
    const double n = data.size();
    // v's rank interval is [lo, hi] / n; the error is the distance from q to it.
    double err = 0;
    if (q * n < lo) err = (lo - q * n) / n;
    if (q * n > hi) err = (q * n - hi) / n;
    worst = std::max(worst, err);
  }
  return worst;
}

std::vector<float> Data(int n, int kind, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> d(n);
  for (int i = 0; i < n; ++i) {
    switch (kind) {
      case 0: d[i] = normal(rng); break;
      case 1: d[i] = std::exp(3 * normal(rng)); break;                  // heavy tail
      case 2: d[i] = static_cast<float>(i); break;                       // sorted
      case 3: d[i] = static_cast<float>(n - i); break;                   // reversed
      case 4: d[i] = static_cast<float>((int64_t{i} * 7919) % 1000) - 500; break;  // many ties
      default: d[i] = (i % 2 ? 1.0f : -1.0f) * static_cast<float>(i); break;  // zigzag
    }
  }
  return d;
}

TEST(QuantileSketch, AccurateOnManyDistributions) {
  for (int kind = 0; kind < 6; ++kind) {
    for (int n : {100000, 400000}) {
      const std::vector<float> data = Data(n, kind, 17 + kind);
      QuantileSketch s;
      for (float x : data) s.Add(x);
      EXPECT_EQ(s.count(), n);
      EXPECT_LT(MaxRankError(s, data), 0.005) << "kind " << kind << " n " << n;
      EXPECT_LT(s.RetainedItems(), 1024u * 12) << "memory";
    }
  }
}

TEST(QuantileSketch, MergedEqualsAccurate) {
  for (int kind = 0; kind < 6; ++kind) {
    const std::vector<float> data = Data(200000, kind, 3);
    // 37 parts merged left to right, and a balanced tree of 16 parts.
    QuantileSketch chain;
    const int parts = 37;
    for (int p = 0; p < parts; ++p) {
      QuantileSketch part;
      for (size_t i = p; i < data.size(); i += parts) part.Add(data[i]);
      chain.Merge(part);
    }
    EXPECT_EQ(chain.count(), 200000);
    EXPECT_LT(MaxRankError(chain, data), 0.005) << "chain, kind " << kind;
    std::vector<QuantileSketch> level;
    for (int p = 0; p < 16; ++p) {
      QuantileSketch part;
      for (size_t i = p * data.size() / 16; i < (p + 1) * data.size() / 16; ++i) part.Add(data[i]);
      level.push_back(part);
    }
    while (level.size() > 1) {
      std::vector<QuantileSketch> next;
      for (size_t i = 0; i < level.size(); i += 2) {
        level[i].Merge(level[i + 1]);
        next.push_back(level[i]);
      }
      level = next;
    }
    EXPECT_LT(MaxRankError(level[0], data), 0.005) << "tree, kind " << kind;
  }
}

TEST(QuantileSketch, DeterministicAndExactStatistics) {
  const std::vector<float> data = Data(150000, 0, 9);
  QuantileSketch a, b;
  int64_t below = 0;
  double sum = 0;
  for (float x : data) {
    a.Add(x);
    b.Add(x);
    below += x < 0;
    sum += x;
  }
  for (double q : {0.1, 0.25, 0.5, 0.75, 0.9}) EXPECT_EQ(a.Quantile(q), b.Quantile(q));
  EXPECT_DOUBLE_EQ(a.FractionBelowZero(), static_cast<double>(below) / data.size());
  EXPECT_NEAR(a.mean(), sum / data.size(), 1e-12);
  EXPECT_EQ(a.min(), *std::min_element(data.begin(), data.end()));
  EXPECT_EQ(a.max(), *std::max_element(data.begin(), data.end()));
  EXPECT_NEAR(a.Rank(0.0), a.FractionBelowZero(), 0.005);
}

TEST(QuantileSketch, SmallAndEmpty) {
  QuantileSketch s;
  EXPECT_TRUE(std::isnan(s.Quantile(0.5)));
  EXPECT_TRUE(std::isnan(s.FractionBelowZero()));
  s.Add(NAN);
  EXPECT_EQ(s.count(), 0);
  EXPECT_EQ(s.nan_count(), 1);
  for (float x : {3.0f, -1.0f, 2.0f}) s.Add(x);
  EXPECT_EQ(s.Quantile(0.5), 2.0);  // exact while small
  EXPECT_EQ(s.Quantile(0.0), -1.0);
  EXPECT_EQ(s.Quantile(1.0), 3.0);
  EXPECT_DOUBLE_EQ(s.FractionBelowZero(), 1.0 / 3);
}

}  // namespace
}  // namespace memlens

// Log-linear histogram: exact below 2*kSub, then kSub buckets per octave.
#include "fastwake/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace fastwake {

namespace {
constexpr std::size_t kBuckets =
    2 * Histogram::kSub + static_cast<std::size_t>(Histogram::kMaxShift) * Histogram::kSub;
}

Histogram::Histogram() : buckets_(kBuckets, 0) {}

std::size_t Histogram::index_of(Nanos v) {
  if (v < 2 * kSub) return static_cast<std::size_t>(v);
  const int msb = 63 - std::countl_zero(static_cast<std::uint64_t>(v));
  const int shift = msb - kSubBits;  // >= 1
  if (shift > kMaxShift) return kBuckets - 1;
  return static_cast<std::size_t>(2 * kSub + (shift - 1) * kSub + ((v >> shift) - kSub));
}

double Histogram::midpoint(std::size_t idx) {
  if (idx < static_cast<std::size_t>(2 * kSub)) return static_cast<double>(idx);
  const std::size_t rel = idx - 2 * kSub;
  const int shift = static_cast<int>(rel / kSub) + 1;
  const std::int64_t top = kSub + static_cast<std::int64_t>(rel % kSub);
  const double lo = std::ldexp(static_cast<double>(top), shift);
  return lo + std::ldexp(1.0, shift) / 2.0 - 0.5;  // integer values: centre of [lo, lo+2^s-1]
}

void Histogram::record(Nanos v) {
  if (v < 0) v = 0;
  ++buckets_[index_of(v)];
  if (count_ == 0 || v < min_) min_ = v;
  if (count_ == 0 || v > max_) max_ = v;
  ++count_;
  sum_ += v;
}

void Histogram::merge(const Histogram& o) {
  if (o.count_ == 0) return;
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  if (count_ == 0 || o.min_ < min_) min_ = o.min_;
  if (count_ == 0 || o.max_ > max_) max_ = o.max_;
  count_ += o.count_;
  sum_ += o.sum_;
}

double Histogram::quantile(double q) const {
  if (count_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank: the smallest value with at least ceil(q*count) values <= it.
  std::uint64_t rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      // Never report outside the observed range.
      return std::clamp(midpoint(i), static_cast<double>(min_), static_cast<double>(max_));
    }
  }
  return static_cast<double>(max_);
}

double Histogram::stddev() const {
  if (count_ == 0) return 0.0;
  const double m = mean();
  double sq = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    if (!buckets_[i]) continue;
    const double v = std::clamp(midpoint(i), static_cast<double>(min_), static_cast<double>(max_));
    sq += static_cast<double>(buckets_[i]) * (v - m) * (v - m);
  }
  return std::sqrt(sq / static_cast<double>(count_));
}

}  // namespace fastwake

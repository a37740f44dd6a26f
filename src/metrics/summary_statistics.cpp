#include <cmath>
#include <limits>

#include "diffinv/metrics.h"

namespace diffinv {

FiniteMeanCi finite_mean_ci95(const std::vector<double>& values) {
  FiniteMeanCi r;
  double sum = 0, sq = 0;
  for (double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++r.finite;
    }
  if (r.finite == 0) {
    r.mean = r.ci95 = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.mean = sum / double(r.finite);
  for (double v : values)
    if (std::isfinite(v)) sq += (v - r.mean) * (v - r.mean);
  const double n = double(r.finite);
  r.ci95 = r.finite > 1 ? 1.96 * std::sqrt(sq / (n - 1)) / std::sqrt(n) : 0.0;
  return r;
}

}  // namespace diffinv

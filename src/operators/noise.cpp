#include "diffinv/noise.h"

#include <cmath>

#include "diffinv/rng.h"

namespace diffinv {

Tensor GaussianNoise::apply(const Tensor& clean, at::Generator& gen) const {
  require(sigma_y >= 0 && std::isfinite(sigma_y), "sigma_y must be finite and >= 0, got " + std::to_string(sigma_y));
  if (sigma_y == 0) return clean;
  return clean + randn_like(clean, gen) * sigma_y;
}

}  // namespace diffinv

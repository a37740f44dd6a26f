#include "diffinv/noise.h"

#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/rng.h"

namespace diffinv {

Tensor GaussianNoise::apply(const Tensor& clean, at::Generator& gen) const {
  require(sigma_y >= 0 && std::isfinite(sigma_y), "sigma_y must be finite and >= 0, got " + std::to_string(sigma_y));
  if (sigma_y == 0) return clean;
  return clean + randn_like(clean, gen) * sigma_y;
}

Tensor PoissonNoise::apply(const Tensor& clean, at::Generator& gen) const {
  require(rate > 0 && std::isfinite(rate), "Poisson noise rate must be finite and > 0, got " + std::to_string(rate));
  const double scale = 255.0 * rate;
  const Tensor counts = at::poisson(((clean + 1.0) / 2.0).clamp(0.0, 1.0) * scale, gen);
  return (counts / scale * 2.0 - 1.0).clamp(-1.0, 1.0);
}

}  // namespace diffinv

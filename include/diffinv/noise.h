// Measurement noise models (DESIGN §2): samplers read sigma_y; measurements are drawn here.
#pragma once
#include <ATen/core/Generator.h>

#include "diffinv/common.h"

namespace diffinv {

// y = A(x) + sigma_y * n, n ~ N(0, I); sigma_y on the signal's own scale ([-1, 1] for images).
struct GaussianNoise {
  double sigma_y = 0.0;
  Tensor apply(const Tensor& clean, at::Generator& gen) const;
};

// DPS's PoissonNoise (guided_diffusion/measurements.py, "version 3"), for images in [-1, 1]:
//   p = clamp((A(x) + 1) / 2, 0, 1);  y = clamp(poisson(255 rate p) / (255 rate) * 2 - 1, -1, 1).
// The counts come from at::poisson with `gen` (DPS uses numpy's global generator). rate must be
// finite and > 0; larger rates mean less noise (std of y ~ 2 sqrt(p / (255 rate))).
struct PoissonNoise {
  double rate = 1.0;
  Tensor apply(const Tensor& clean, at::Generator& gen) const;
};

}  // namespace diffinv

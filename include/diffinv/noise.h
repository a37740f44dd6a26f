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

}  // namespace diffinv

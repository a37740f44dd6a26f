// Distances between sample sets and image-quality metrics.
#pragma once
#include <ATen/core/Generator.h>

#include "diffinv/common.h"

namespace diffinv {

// Sliced Wasserstein-1 between two sample sets a [n, d] and b [m, d] with n == m: the mean over
// `directions` random unit vectors of W1 between the 1-D projections (sorted-sample matching).
double sliced_wasserstein(const Tensor& a, const Tensor& b, int directions, at::Generator& gen);

// Per-sample PSNR in dB for signals with the given peak-to-peak range: [B, ...] x [B, ...] -> [B].
Tensor psnr(const Tensor& estimate, const Tensor& reference, double peak);

}  // namespace diffinv

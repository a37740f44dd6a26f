// Distances between sample sets and image-quality metrics.
#pragma once
#include <vector>
#include <ATen/core/Generator.h>

#include "diffinv/common.h"

namespace diffinv {

// Sliced Wasserstein-1 between two sample sets a [n, d] and b [m, d] with n == m: the mean over
// `directions` random unit vectors of W1 between the 1-D projections (sorted-sample matching).
// Mean and 95% confidence half-width (1.96 sd / sqrt(n)) over the finite entries of `values`:
// both NaN when none is finite, ci95 0 for a single one; `finite` counts them (the rest diverged).
struct FiniteMeanCi {
  double mean = 0, ci95 = 0;
  size_t finite = 0;
};
FiniteMeanCi finite_mean_ci95(const std::vector<double>& values);

double sliced_wasserstein(const Tensor& a, const Tensor& b, int directions, at::Generator& gen);

// Per-sample PSNR in dB for signals with the given peak-to-peak range: [B, ...] x [B, ...] -> [B].
Tensor psnr(const Tensor& estimate, const Tensor& reference, double peak);

// Per-sample mean SSIM of images [B, C, H, W] in [-1, 1] (H, W >= 11): scikit-image's
// structural_similarity(a01, b01, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
// data_range=1.0, channel_axis=...) on the images mapped to [0, 1]. Local statistics use the 11x11
// Gaussian window (sigma 1.5, truncate 3.5, radius 5, normalised), K1 = 0.01, K2 = 0.03, and the SSIM
// map is averaged over the pixels at least 5 from the border (skimage's crop(S, pad)), then over
// channels. Those pixels' windows never reach the border, so scipy's 'reflect' padding never enters
// the result and no padding is done. Computed in float64; returns [B] float64.
Tensor ssim(const Tensor& a, const Tensor& b);

// Per-sample PSNR in dB of images [B, ...] in [-1, 1], measured on [0, 1] (peak 2 on [-1, 1]): [B].
Tensor psnr_images(const Tensor& a, const Tensor& b);

// Calibration of a posterior-sample uncertainty map: per sample, the fraction of entries where
// |truth - mean| <= z * std ([B, ...] each; z = 1.96 is the two-sided 95% interval, so a calibrated
// Gaussian posterior scores 0.95). Returns [B] float64.
Tensor calibration_fraction(const Tensor& truth, const Tensor& mean, const Tensor& std_map, double z = 1.96);

}  // namespace diffinv

// Image-quality metrics: SSIM (scikit-image's Gaussian-weighted variant) and PSNR on [0, 1].
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/metrics.h"

namespace diffinv {

namespace {

// scipy.ndimage's sampled Gaussian: exp(-x^2 / (2 sigma^2)) for x in [-r, r], r = int(truncate *
// sigma + 0.5), normalised to sum 1.
Tensor gaussian_taps(double sigma, double truncate) {
  const int64_t r = int64_t(truncate * sigma + 0.5);
  Tensor x = at::arange(-r, r + 1, at::TensorOptions().dtype(at::kDouble));
  Tensor k = at::exp(-0.5 * x * x / (sigma * sigma));
  return k / k.sum();
}

// Valid-region separable Gaussian filtering of [N, 1, H, W] -> [N, 1, H - 2r, W - 2r].
Tensor filter_valid(const Tensor& x, const Tensor& taps) {
  const int64_t n = taps.size(0);
  const Tensor kh = taps.view({1, 1, n, 1}).to(x.device());
  const Tensor kw = taps.view({1, 1, 1, n}).to(x.device());
  return at::conv2d(at::conv2d(x, kh), kw);
}

}  // namespace

Tensor ssim(const Tensor& a, const Tensor& b) {
  require(a.defined() && b.defined() && a.dim() == 4 && a.sizes() == b.sizes(),
          "ssim needs two [B, C, H, W] image batches of the same shape");
  constexpr double sigma = 1.5, truncate = 3.5, k1 = 0.01, k2 = 0.03, range = 1.0;
  const Tensor taps = gaussian_taps(sigma, truncate);
  const int64_t win = taps.size(0);
  require(a.size(2) >= win && a.size(3) >= win,
          "ssim needs images of at least " + std::to_string(win) + "x" + std::to_string(win) + " pixels");
  const int64_t batch = a.size(0), channels = a.size(1), h = a.size(2), w = a.size(3);
  const Tensor x = ((a.detach().to(at::kDouble) + 1) / 2).reshape({batch * channels, 1, h, w});
  const Tensor y = ((b.detach().to(at::kDouble).to(x.device()) + 1) / 2).reshape({batch * channels, 1, h, w});
  const Tensor ux = filter_valid(x, taps), uy = filter_valid(y, taps);
  const Tensor uxx = filter_valid(x * x, taps), uyy = filter_valid(y * y, taps), uxy = filter_valid(x * y, taps);
  const Tensor vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
  const double c1 = (k1 * range) * (k1 * range), c2 = (k2 * range) * (k2 * range);
  const Tensor s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  return s.flatten(1).mean(1).view({batch, channels}).mean(1);
}

Tensor psnr_images(const Tensor& a, const Tensor& b) {
  require(a.defined() && b.defined() && a.dim() >= 2 && a.sizes() == b.sizes(),
          "psnr_images needs two [B, ...] image batches of the same shape");
  return psnr(a, b.to(a.device()), 2.0);
}

Tensor calibration_fraction(const Tensor& truth, const Tensor& mean, const Tensor& std_map, double z) {
  require(truth.defined() && truth.dim() >= 1 && truth.sizes() == mean.sizes() && truth.sizes() == std_map.sizes(),
          "calibration_fraction needs truth, mean and std of the same shape [B, ...]");
  const Tensor inside = (truth.to(at::kDouble) - mean.to(at::kDouble)).abs() <= z * std_map.to(at::kDouble);
  return inside.to(at::kDouble).flatten(1).mean(1);
}

}  // namespace diffinv

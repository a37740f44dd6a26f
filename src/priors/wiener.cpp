// The Wiener denoiser as a fitted Gaussian prior and the denoising MSE of any prior (wiener.h).
#include "diffinv/wiener.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "diffinv/rng.h"

namespace diffinv {

GaussianMixture fit_gaussian_to_images(const Tensor& images, double ridge, int64_t batch) {
  require(images.dim() == 4, "fitting a Gaussian needs images [N, C, H, W], got " + shape_string(images));
  require(images.size(0) >= 2, "fitting a Gaussian needs at least 2 images, got " + std::to_string(images.size(0)));
  require(ridge >= 0 && std::isfinite(ridge), "the covariance ridge must be finite and >= 0");
  require(batch >= 1, "the accumulation batch must be >= 1");
  const int64_t n = images.size(0);
  const Tensor flat = images.reshape({n, -1});
  const int64_t d = flat.size(1);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  // Shifted by the first image: sums of (x - shift) stay small, so the centring below cancels nothing.
  const Tensor shift = flat[0].to(at::kDouble);
  Tensor sum = at::zeros({d}, f64), second = at::zeros({d, d}, f64);
  for (int64_t first = 0; first < n; first += batch) {
    const Tensor centred = flat.narrow(0, first, std::min(batch, n - first)).to(at::kDouble) - shift;
    sum += centred.sum(0);
    second.addmm_(centred.t(), centred);
  }
  require(at::isfinite(sum).all().item<bool>(), "fitting a Gaussian: the training images contain NaN or Inf");
  const Tensor shifted_mean = sum / double(n);
  Tensor cov = (second - double(n) * at::outer(shifted_mean, shifted_mean)) / double(n - 1);
  cov = 0.5 * (cov + cov.t()) + ridge * at::eye(d, f64);
  return GaussianMixture::gaussian(shift + shifted_mean, cov);
}

ImageViewDenoiser::ImageViewDenoiser(std::shared_ptr<Denoiser> vector_denoiser, ImageShape shape,
                                     c10::TensorOptions image_options)
    : inner_(std::move(vector_denoiser)), shape_(shape), image_options_(image_options) {
  require(inner_ != nullptr, "ImageViewDenoiser needs a denoiser");
  const auto inner_shape = inner_->sample_shape();
  require(inner_shape.size() == 1 && inner_shape[0] == shape_.numel(),
          "ImageViewDenoiser: the vector denoiser's samples must be [" + std::to_string(shape_.numel()) + "] for images " +
              shape_.str());
}

Tensor ImageViewDenoiser::denoise(const Tensor& x, double sigma) {
  require(x.dim() == 4 && x.size(1) == shape_.channels && x.size(2) == shape_.height && x.size(3) == shape_.width,
          "ImageViewDenoiser expects x of shape [B, " + std::to_string(shape_.channels) + ", " +
              std::to_string(shape_.height) + ", " + std::to_string(shape_.width) + "], got " + shape_string(x));
  const Tensor flat = x.reshape({x.size(0), shape_.numel()}).to(inner_->tensor_options());
  return inner_->denoise(flat, sigma).to(x.options()).reshape(x.sizes());
}

std::shared_ptr<ImageViewDenoiser> fit_wiener_denoiser(const Tensor& training_images, double ridge) {
  const ImageShape shape{training_images.size(1), training_images.size(2), training_images.size(3)};
  auto gaussian = std::make_shared<GaussianMixturePrior>(fit_gaussian_to_images(training_images, ridge));
  return std::make_shared<ImageViewDenoiser>(std::move(gaussian), shape);
}

Tensor gaussian_posterior_mean(const GaussianMixture& gaussian, const LinearOperator& A, const Tensor& y,
                               double sigma_y, ImageShape shape) {
  const int64_t d = shape.numel();
  require(gaussian.num_components() == 1 && gaussian.dim() == d,
          "the Gaussian posterior mean needs one Gaussian of dimension " + std::to_string(d) + " for images " + shape.str());
  require(std::isfinite(sigma_y) && sigma_y >= 0, "the Gaussian posterior mean needs a finite sigma_y >= 0");
  require(y.dim() >= 1 && y.size(0) >= 1, "the Gaussian posterior mean needs a batch of measurements");
  const int64_t b = y.size(0);
  const auto f64 = y.options().dtype(at::kDouble);
  const Tensor mean = gaussian.means()[0].to(f64).view({1, shape.channels, shape.height, shape.width}).expand(
      {b, shape.channels, shape.height, shape.width});
  const Tensor cov = gaussian.covariances()[0].to(f64);
  const auto apply_cov = [&](const Tensor& x) { return at::matmul(x.reshape({b, d}), cov).view(x.sizes()); };  // S = S^T
  ConjugateGradientOptions options;
  options.tolerance = 1e-7;
  options.max_iterations = 20000;
  options.warn = false;
  bool converged = false;
  const double noise_var = sigma_y * sigma_y;
  const Tensor u = conjugate_gradient(
      [&](const Tensor& v) { return A.forward(apply_cov(A.adjoint(v))) + noise_var * v; },
      y.to(at::kDouble) - A.forward(mean.contiguous()), options, &converged);
  require(converged, "the Gaussian posterior mean: conjugate gradient did not reach a relative residual of 1e-7 in "
                     "20000 iterations");
  return (mean + apply_cov(A.adjoint(u))).to(y.scalar_type());
}

DenoisingMse denoising_mse(Denoiser& denoiser, const Tensor& images, const std::vector<double>& sigmas, int64_t batch,
                           at::Generator& gen, const std::function<void(long, long)>& progress) {
  require(images.dim() == 4 && images.size(0) >= 1, "denoising MSE needs images [N, C, H, W], got " + shape_string(images));
  require(!sigmas.empty(), "denoising MSE needs at least one sigma");
  for (double s : sigmas) require(s > 0 && std::isfinite(s), "denoising MSE: every sigma must be finite and > 0");
  require(batch >= 1, "denoising MSE: the batch must be >= 1");
  const auto expected = denoiser.sample_shape();
  require(std::vector<int64_t>(images.sizes().begin() + 1, images.sizes().end()) == expected,
          "denoising MSE: images " + shape_string(images) + " do not fit the denoiser's sample shape");
  at::NoGradGuard no_grad;
  const int64_t n = images.size(0), n_sigmas = int64_t(sigmas.size());
  const auto options = denoiser.tensor_options();
  // Per sigma: sums of the per-image MSEs and of their squares (float64, CPU).
  Tensor sum = at::zeros({n_sigmas}, at::kDouble), sum_sq = at::zeros({n_sigmas}, at::kDouble);
  const long total = long((n + batch - 1) / batch * n_sigmas);
  long done = 0;
  for (int64_t first = 0; first < n; first += batch) {
    const Tensor x0 = images.narrow(0, first, std::min(batch, n - first)).to(at::kFloat);
    const Tensor x0_device = x0.to(options);
    for (int64_t j = 0; j < n_sigmas; ++j) {
      const double sigma = sigmas[size_t(j)];
      const Tensor x = (x0 + sigma * randn(x0.sizes(), x0.options(), gen)).to(options);
      const Tensor per_image =
          (denoiser.denoise(x, sigma) - x0_device).to(at::kDouble).pow(2).flatten(1).mean(1).cpu();
      sum[j] += per_image.sum();
      sum_sq[j] += per_image.pow(2).sum();
      if (progress) progress(++done, total);
    }
  }
  require(at::isfinite(sum).all().item<bool>(), "denoising MSE: the denoiser returned NaN or Inf");
  const Tensor mean = sum / double(n);
  const Tensor variance = n > 1 ? ((sum_sq - double(n) * mean.pow(2)) / double(n - 1)).clamp_min(0) : at::zeros_like(mean);
  const Tensor standard_error = (variance / double(n)).sqrt();
  DenoisingMse result;
  result.sigmas = sigmas;
  result.images = n;
  for (int64_t j = 0; j < n_sigmas; ++j) {
    result.mse.push_back(mean[j].item<double>());
    result.standard_error.push_back(standard_error[j].item<double>());
  }
  return result;
}

}  // namespace diffinv

// The best linear (Wiener) denoiser of a training set and the denoising MSE of any prior (issue 6):
// the baseline a trained prior must beat. The linear MMSE estimator of x0 from x = x0 + sigma n is
// m + S (S + sigma^2 I)^{-1} (x - m) with m, S the mean and covariance of x0, which is exactly the
// posterior mean of the Gaussian prior N(m, S): the Wiener denoiser is a one-component
// GaussianMixturePrior (gmm.h), fitted here from images.
#pragma once
#include <ATen/core/Generator.h>

#include <functional>
#include <memory>
#include <vector>

#include "diffinv/denoiser.h"
#include "diffinv/gmm.h"
#include "diffinv/image_operators.h"

namespace diffinv {

// Added to the diagonal of the fitted covariance (variance units on [-1, 1]). Pixels that are
// constant over the training set (Fashion-MNIST's padding is always -1) have zero variance, so
// S alone is singular; with the ridge they shrink by 1e-6 / (1e-6 + sigma^2) <= 1e-4 at sigma >= 0.1,
// which changes the Wiener MSE by at most 1e-6 per such pixel: far below any reported digit.
constexpr double kWienerRidge = 1e-6;

// N(m, S + ridge I) in float64 from images [N, C, H, W] (any float dtype, CPU): m = sample mean,
// S = unbiased sample covariance (d = C H W, N >= 2). Accumulated batch by batch in float64 (one
// BLAS rank-`batch` update per batch, shifted by the first image so that nothing cancels), so
// N = 60000 at d = 1024 needs two d x d matrices of memory and takes seconds.
GaussianMixture fit_gaussian_to_images(const Tensor& images, double ridge = kWienerRidge, int64_t batch = 4096);

// A denoiser of flat vectors [B, d] (GaussianMixturePrior) seen as a denoiser of images
// [B, C, H, W] with C H W = d: inputs are flattened and cast to the prior's dtype, outputs reshaped
// and cast back to the input's dtype. No math of its own.
class ImageViewDenoiser : public Denoiser {
 public:
  ImageViewDenoiser(std::shared_ptr<Denoiser> vector_denoiser, ImageShape shape,
                    c10::TensorOptions image_options = c10::TensorOptions().dtype(at::kFloat));

  Tensor denoise(const Tensor& x, double sigma) override;
  std::vector<int64_t> sample_shape() const override { return {shape_.channels, shape_.height, shape_.width}; }
  c10::TensorOptions tensor_options() const override { return image_options_; }
  const DiscreteSchedule& schedule() const override { return inner_->schedule(); }

 private:
  std::shared_ptr<Denoiser> inner_;
  ImageShape shape_;
  c10::TensorOptions image_options_;
};

// The Wiener denoiser of `training_images` [N, C, H, W] as an image denoiser (float32 in and out,
// float64 inside).
std::shared_ptr<ImageViewDenoiser> fit_wiener_denoiser(const Tensor& training_images, double ridge = kWienerRidge);

// The exact posterior mean E[x | y] of the Gaussian prior N(m, S) (a one-component mixture of
// dimension C H W, e.g. fit_gaussian_to_images) for y = A x + N(0, sigma_y^2 I), A a linear image
// operator over a batch: m + S A^T u with (A S A^T + sigma_y^2 I) u = y - A m, solved by conjugate
// gradient in float64 to a relative residual of 1e-7 (A S A^T is only applied, never formed, so
// per-image masks and kernels work). The "Wiener" baseline of the image benchmark and the demo:
// what the best linear estimator achieves, so a table shows what a diffusion prior adds.
// Returns [B, C, H, W] in y's floating dtype; throws if CG does not converge.
Tensor gaussian_posterior_mean(const GaussianMixture& gaussian, const LinearOperator& A, const Tensor& y,
                               double sigma_y, ImageShape shape);

struct DenoisingMse {
  std::vector<double> sigmas;
  std::vector<double> mse;             // per sigma: mean over images and pixels of (D(x, sigma) - x0)^2
  std::vector<double> standard_error;  // per sigma: std of the per-image MSEs / sqrt(images)
  int64_t images = 0;
};

// Monte-Carlo denoising MSE of `denoiser` on `images` [N, C, H, W] on [-1, 1] (CPU): for every
// batch of `batch` images and every sigma (in that order), x = x0 + sigma n with n drawn on the CPU
// in float32 from `gen` (a CPU generator), then moved to the denoiser's device: the same generator
// state gives the same noisy inputs to every denoiser on every device, so two denoisers scored with
// equally seeded generators are compared on identical noise. Runs without autograd.
// `progress(done, total)` is called after every (batch, sigma), if given.
DenoisingMse denoising_mse(Denoiser& denoiser, const Tensor& images, const std::vector<double>& sigmas, int64_t batch,
                           at::Generator& gen, const std::function<void(long, long)>& progress = {});

}  // namespace diffinv

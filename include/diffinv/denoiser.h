// The Denoiser contract (DESIGN §2): D(x, sigma) = E[x0 | x] for x = x0 + sigma * n, VE form.
#pragma once
#include <ATen/core/TensorBody.h>
#include <c10/core/TensorOptions.h>

#include <functional>
#include <vector>

#include "diffinv/common.h"
#include "diffinv/schedule.h"

namespace diffinv {

// v -> Cov[x0 | x] v for a fixed (x, sigma); v and the result have x's shape.
using CovarianceProduct = std::function<Tensor(const Tensor&)>;

class LinearOperator;
// A Sigma A^T as [B, m, m] (m = entries of one y, the shape of y_like) through m products with Sigma.
Tensor gram_through_products(const CovarianceProduct& sigma, const LinearOperator& A, const Tensor& y_like);

// One NFE of a network with a learned reverse variance (capabilities().learned_variance).
struct DenoiserVarianceOutput {
  Tensor x0;                    // D(x, sigma)
  Tensor reverse_log_variance;  // log Var_theta[x_prev | x] in VP units (guided-diffusion's
                                // model_log_variance); in VE units add log(1 + sigma_prev^2)
  Tensor x0_variance;           // OPC "convert": diagonal Cov[x0 | x] in x0 units, clipped > 0
};

struct DenoiserCapabilities {
  bool exact_posterior_covariance = false;  // posterior_covariance() is exact (analytic priors)
  bool learned_variance = false;            // the network predicts its reverse-process variance
};

class Denoiser {
 public:
  virtual ~Denoiser() = default;

  // Batched and differentiable: x is [B, sample_shape...]; autograd flows when grad mode is on.
  virtual Tensor denoise(const Tensor& x, double sigma) = 0;

  virtual std::vector<int64_t> sample_shape() const = 0;
  virtual c10::TensorOptions tensor_options() const = 0;
  virtual DenoiserCapabilities capabilities() const { return {}; }

  // The discrete training schedule whose sigmas the default grids use. Priors that are defined
  // at every sigma (Gaussian, GMM) use the DDPM linear schedule.
  virtual const DiscreteSchedule& schedule() const { return default_schedule_; }

  // Cov[x0 | x] as a product; only where capabilities().exact_posterior_covariance.
  virtual CovarianceProduct posterior_covariance(const Tensor& x, double sigma);
  // A Cov[x0 | x] A^T as [B, m, m] for measurements shaped like y_like; the default goes through
  // m covariance products, priors with structure override it.
  virtual Tensor posterior_covariance_gram(const Tensor& x, double sigma, const LinearOperator& A,
                                           const Tensor& y_like);

  // Only where capabilities().learned_variance: x0 and the learned variance of the reverse step
  // sigma -> sigma_prev (sigma_prev < 0: the previous step of the training schedule) from one NFE.
  virtual DenoiserVarianceOutput denoise_with_variance(const Tensor& x, double sigma, double sigma_prev = -1);

 private:
  DiscreteSchedule default_schedule_{};
};

}  // namespace diffinv

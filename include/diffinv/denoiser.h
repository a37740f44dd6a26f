// The Denoiser contract (DESIGN §2): D(x, sigma) = E[x0 | x] for x = x0 + sigma * n, VE form.
#pragma once
#include <ATen/core/TensorBody.h>
#include <c10/core/TensorOptions.h>

#include <functional>
#include <optional>
#include <vector>

#include "diffinv/common.h"
#include "diffinv/schedule.h"

namespace diffinv {

// v -> Cov[x0 | x] v for a fixed (x, sigma); v and the result have x's shape.
using CovarianceProduct = std::function<Tensor(const Tensor&)>;

// Cov[x0 | x] of a mixture of isotropic Gaussians, in the structure that lets a caller form
// projections of it cheaply: sum_k r_k (c_k I + m_k m_k^T) - D D^T, D = sum_k r_k m_k, with the
// component posterior means affine in x: m_k = a_k x + (1 - a_k) mu_k.
struct IsotropicMixtureCovariance {
  Tensor x;                 // [B, d], detached
  Tensor responsibilities;  // r_k(x), [B, K]
  Tensor variances;         // c_k, [K]
  Tensor shrinks;           // a_k, [K]
  Tensor means;             // mu_k, [K, d]
};

// One NFE of a network with a learned reverse variance (capabilities().learned_variance).
struct DenoiserVarianceOutput {
  Tensor x0;                    // D(x, sigma)
  Tensor reverse_log_variance;  // log Var_theta[x_prev | x] in VP units (guided-diffusion's
                                // model_log_variance); in VE units add log(1 + sigma_prev^2)
  Tensor x0_variance;           // OPC "convert": diagonal Cov[x0 | x] in x0 units, clipped > 0
};

// The DDPM reverse step t -> t-1 that a learned variance describes (VP units, guided-diffusion's
// q(x_{t-1} | x_t, x0) = N(c1 x0 + c2 x_t, beta_tilde I)):
//   beta = 1 - abar_t/abar_{t-1}, beta_tilde = beta (1 - abar_{t-1})/(1 - abar_t) (at t = 0, step 1's
//   value, as guided-diffusion's posterior_log_variance_clipped), c1 = sqrt(abar_{t-1}) beta/(1 - abar_t).
// sigma_prev < 0: t is the training step nearest to sigma and t-1 the one before it; otherwise
// abar = 1/(1 + sigma^2) at both ends.
struct ReverseStepCoefficients {
  double beta = 0, beta_tilde = 0, c1 = 0;
};
ReverseStepCoefficients reverse_step_coefficients(const DiscreteSchedule& schedule, double sigma,
                                                  double sigma_prev = -1);

// OPC "convert" (Peng et al. ICML 2024, eq. 22; DESIGN §5): by the law of total variance,
// Var_theta[x_{t-1} | x_t] = beta_tilde + c1^2 Var[x0 | x_t] per pixel, so
//   Var[x0 | x_t] = (exp(reverse_log_variance) - beta_tilde) / c1^2, clipped to >= min_variance.
// x0 is the same clean image in VP and VE form (x_VE = x_VP sqrt(1 + sigma^2) only rescales the
// noisy state), so the result is already the VE Cov[x0 | x] diagonal: no further conversion.
Tensor x0_variance_from_reverse(const Tensor& reverse_log_variance, const ReverseStepCoefficients& c,
                                double min_variance = 1e-8);

// guided-diffusion's learned range (Nichol & Dhariwal 2021, eq. 15): the network's extra output
// channels v in [-1, 1] interpolate the log variance of the reverse step sigma -> sigma_prev between
// log beta_tilde (v = -1) and log beta (v = 1). Returns x0 with that variance and its OPC "convert"
// diagonal; shared by every eps-network with learned variance (native UNet and TorchScript).
DenoiserVarianceOutput learned_range_variance(Tensor x0, const Tensor& v, const DiscreteSchedule& schedule,
                                              double sigma, double sigma_prev);

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
  // The same covariance in isotropic-mixture form, where the prior has it (an isotropic GMM);
  // nullopt otherwise.
  virtual std::optional<IsotropicMixtureCovariance> posterior_covariance_structure(const Tensor& x, double sigma);

  // Only where capabilities().learned_variance: x0 and the learned variance of the reverse step
  // sigma -> sigma_prev (sigma_prev < 0: the previous step of the training schedule) from one NFE.
  virtual DenoiserVarianceOutput denoise_with_variance(const Tensor& x, double sigma, double sigma_prev = -1);

 private:
  DiscreteSchedule default_schedule_{};
};

}  // namespace diffinv

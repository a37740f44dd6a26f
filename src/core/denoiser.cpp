#include "diffinv/denoiser.h"

#include <ATen/ATen.h>

#include <cmath>


namespace diffinv {

CovarianceProduct Denoiser::posterior_covariance(const Tensor&, double) {
  throw Error("this denoiser has no exact posterior covariance (covariance source 'exact' needs an analytic prior)");
}

DenoiserVarianceOutput Denoiser::denoise_with_variance(const Tensor&, double, double) {
  throw Error("this denoiser has no learned variance (covariance source 'convert' needs a learn_sigma network)");
}

ReverseStepCoefficients reverse_step_coefficients(const DiscreteSchedule& schedule, double sigma, double sigma_prev) {
  require(sigma > 0, "reverse_step_coefficients needs sigma > 0");
  const auto& abar = schedule.alphas_cumprod();
  double abar_t, abar_prev;
  if (sigma_prev < 0) {
    const int t = schedule.sigma_to_nearest_t(sigma);
    abar_t = abar[t];
    abar_prev = t > 0 ? abar[t - 1] : 1.0;
  } else {
    require(sigma_prev < sigma, "reverse_step_coefficients: sigma_prev must be below sigma");
    abar_t = 1.0 / (1.0 + sigma * sigma);
    abar_prev = 1.0 / (1.0 + sigma_prev * sigma_prev);
  }
  ReverseStepCoefficients c;
  c.beta = 1.0 - abar_t / abar_prev;
  c.beta_tilde = c.beta * (1.0 - abar_prev) / (1.0 - abar_t);
  // guided-diffusion's posterior_log_variance_clipped: step 0 uses step 1's value.
  if (!(c.beta_tilde > 0)) c.beta_tilde = schedule.betas()[1] * (1.0 - abar[0]) / (1.0 - abar[1]);
  c.c1 = std::sqrt(abar_prev) * c.beta / (1.0 - abar_t);
  return c;
}

DenoiserVarianceOutput learned_range_variance(Tensor x0, const Tensor& v, const DiscreteSchedule& schedule,
                                              double sigma, double sigma_prev) {
  const ReverseStepCoefficients rc = reverse_step_coefficients(schedule, sigma, sigma_prev);
  const double min_log = std::log(rc.beta_tilde), max_log = std::log(rc.beta);
  const Tensor frac = (v.to(at::kFloat) + 1) / 2;
  DenoiserVarianceOutput r;
  r.x0 = std::move(x0);
  r.reverse_log_variance = frac * max_log + (1 - frac) * min_log;
  r.x0_variance = x0_variance_from_reverse(r.reverse_log_variance, rc);
  return r;
}

Tensor x0_variance_from_reverse(const Tensor& reverse_log_variance, const ReverseStepCoefficients& c,
                                double min_variance) {
  return ((reverse_log_variance.exp() - c.beta_tilde) / (c.c1 * c.c1)).clamp_min(min_variance);
}

std::optional<IsotropicMixtureCovariance> Denoiser::posterior_covariance_structure(const Tensor&, double) {
  return std::nullopt;
}

}  // namespace diffinv

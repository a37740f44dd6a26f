#include "diffinv/diffusion_loss.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

namespace diffinv {

namespace {

Tensor table(const std::vector<double>& values, c10::Device device) {
  return at::tensor(values, at::TensorOptions().dtype(at::kDouble)).to(device, at::kFloat);
}

Tensor approx_standard_normal_cdf(const Tensor& x) {
  return 0.5 * (1.0 + at::tanh(std::sqrt(2.0 / std::acos(-1.0)) * (x + 0.044715 * x.pow(3))));
}

// Mean over all non-batch dimensions.
Tensor mean_flat(const Tensor& x) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  return x.mean(dims);
}

}  // namespace

Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2) {
  return 0.5 * (-1.0 + logvar2 - logvar1 + at::exp(logvar1 - logvar2) + (mean1 - mean2).pow(2) * at::exp(-logvar2));
}

Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales) {
  const Tensor centered = x - means;
  const Tensor inv_stdv = at::exp(-log_scales);
  const Tensor cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0));
  const Tensor cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0));
  const Tensor log_cdf_plus = at::log(cdf_plus.clamp_min(1e-12));
  const Tensor log_one_minus_cdf_min = at::log((1.0 - cdf_min).clamp_min(1e-12));
  const Tensor log_cdf_delta = at::log((cdf_plus - cdf_min).clamp_min(1e-12));
  return at::where(x < -0.999, log_cdf_plus, at::where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta));
}

DiffusionLoss::DiffusionLoss(const DiscreteSchedule& schedule, c10::Device device, double lambda_vlb)
    : num_steps_(schedule.num_steps()), lambda_vlb_(lambda_vlb) {
  require(num_steps_ >= 2, "DiffusionLoss needs a schedule of at least 2 steps");
  const auto& betas = schedule.betas();
  const auto& abar = schedule.alphas_cumprod();
  const size_t T = betas.size();
  std::vector<double> sa(T), s1m(T), sra(T), srm1(T), c1(T), c2(T), post_var(T), logv(T), logb(T);
  for (size_t i = 0; i < T; ++i) {
    const double prev = i == 0 ? 1.0 : abar[i - 1];
    sa[i] = std::sqrt(abar[i]);
    s1m[i] = std::sqrt(1.0 - abar[i]);
    sra[i] = std::sqrt(1.0 / abar[i]);
    srm1[i] = std::sqrt(1.0 / abar[i] - 1.0);
    c1[i] = betas[i] * std::sqrt(prev) / (1.0 - abar[i]);
    c2[i] = (1.0 - prev) * std::sqrt(1.0 - betas[i]) / (1.0 - abar[i]);
    post_var[i] = betas[i] * (1.0 - prev) / (1.0 - abar[i]);
    logb[i] = std::log(betas[i]);
  }
  // posterior_log_variance_clipped: the variance at t = 0 is 0, so step 0 uses step 1's value.
  for (size_t i = 0; i < T; ++i) logv[i] = std::log(i == 0 ? post_var[1] : post_var[i]);
  sqrt_abar_ = table(sa, device);
  sqrt_one_minus_abar_ = table(s1m, device);
  sqrt_recip_abar_ = table(sra, device);
  sqrt_recipm1_abar_ = table(srm1, device);
  coef1_ = table(c1, device);
  coef2_ = table(c2, device);
  posterior_log_var_clipped_ = table(logv, device);
  log_betas_ = table(logb, device);
}

Tensor DiffusionLoss::extract(const Tensor& values, const Tensor& t, const Tensor& like) const {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = t.size(0);
  return values.index_select(0, t).view(shape).to(like.scalar_type());
}

Tensor DiffusionLoss::q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const {
  return extract(sqrt_abar_, t, x0) * x0 + extract(sqrt_one_minus_abar_, t, x0) * noise;
}

void DiffusionLoss::q_posterior(const Tensor& x0, const Tensor& x_t, const Tensor& t, Tensor& mean,
                                Tensor& log_variance) const {
  mean = extract(coef1_, t, x0) * x0 + extract(coef2_, t, x0) * x_t;
  log_variance = extract(posterior_log_var_clipped_, t, x0).expand_as(x0);
}

void DiffusionLoss::p_mean_log_variance(const Tensor& eps, const Tensor& v, const Tensor& x_t, const Tensor& t,
                                        Tensor& mean, Tensor& log_variance) const {
  const Tensor min_log = extract(posterior_log_var_clipped_, t, x_t), max_log = extract(log_betas_, t, x_t);
  const Tensor frac = (v + 1) / 2;
  log_variance = frac * max_log + (1 - frac) * min_log;
  const Tensor x0_hat = extract(sqrt_recip_abar_, t, x_t) * x_t - extract(sqrt_recipm1_abar_, t, x_t) * eps;
  Tensor unused;
  q_posterior(x0_hat, x_t, t, mean, unused);
}

DiffusionLossTerms DiffusionLoss::operator()(const Tensor& model_output, const Tensor& x0, const Tensor& x_t,
                                             const Tensor& t, const Tensor& noise) const {
  const int64_t c = x0.size(1);
  require(model_output.dim() == 4 && (model_output.size(1) == c || model_output.size(1) == 2 * c),
          "DiffusionLoss: the network output must have C or 2C channels");
  const Tensor out = model_output.to(at::kFloat);
  const Tensor eps = out.narrow(1, 0, c);
  DiffusionLossTerms r;
  r.mse = mean_flat((noise - eps).pow(2));
  if (out.size(1) == c) {
    r.vb = at::zeros_like(r.mse);
    r.loss = r.mse;
    return r;
  }
  // The vlb term trains the variance only: the mean comes from the detached eps.
  Tensor p_mean, p_logvar, q_mean, q_logvar;
  p_mean_log_variance(eps.detach(), out.narrow(1, c, c), x_t, t, p_mean, p_logvar);
  q_posterior(x0, x_t, t, q_mean, q_logvar);
  const Tensor kl = mean_flat(normal_kl(q_mean, q_logvar, p_mean, p_logvar)) / std::log(2.0);
  const Tensor nll = -mean_flat(discretized_gaussian_log_likelihood(x0, p_mean, 0.5 * p_logvar)) / std::log(2.0);
  r.vb = at::where(t == 0, nll, kl);
  r.loss = r.mse + (lambda_vlb_ * num_steps_) * r.vb;
  return r;
}

}  // namespace diffinv

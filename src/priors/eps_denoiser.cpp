#include "diffinv/eps_denoiser.h"

#include <torch/torch.h>

#include <cmath>

namespace diffinv {

EpsDenoiser::EpsDenoiser(UNetModel model, DiscreteSchedule schedule)
    : model_(std::move(model)), schedule_(std::move(schedule)) {
  model_->eval();
}

std::shared_ptr<EpsDenoiser> EpsDenoiser::from_config(const std::string& config_yaml, const std::string& checkpoint,
                                                      const torch::TensorOptions& options) {
  const UNetConfig config = load_unet_config(config_yaml);
  UNetModel model = load_unet(config, checkpoint, options);
  return std::make_shared<EpsDenoiser>(
      model, DiscreteSchedule(parse_beta_schedule(config.noise_schedule), config.diffusion_steps));
}

std::vector<int64_t> EpsDenoiser::sample_shape() const {
  const auto& c = model_->config();
  return {c.in_channels, c.image_size, c.image_size};
}

c10::TensorOptions EpsDenoiser::tensor_options() const {
  return c10::TensorOptions().dtype(torch::kFloat).device(model_->parameters().front().device());
}

DenoiserCapabilities EpsDenoiser::capabilities() const {
  DenoiserCapabilities c;
  c.learned_variance = model_->config().learn_sigma;
  return c;
}

Tensor EpsDenoiser::network_output(const Tensor& x, double sigma) {
  require(sigma > 0 && std::isfinite(sigma), "EpsDenoiser: sigma must be positive and finite");
  const Tensor x_vp = x / std::sqrt(1.0 + sigma * sigma);
  const double t = schedule_.sigma_to_t(sigma);
  const Tensor ts = torch::full({x.size(0)}, t, x.options().dtype(torch::kFloat));
  return model_->forward(x_vp, ts);
}

Tensor EpsDenoiser::denoise(const Tensor& x, double sigma) {
  if (sigma <= 0) return x;
  const int64_t c = model_->config().in_channels;
  const Tensor eps = network_output(x, sigma).narrow(1, 0, c);
  return x - sigma * eps;
}

DenoiserVarianceOutput EpsDenoiser::denoise_with_variance(const Tensor& x, double sigma, double sigma_prev) {
  require(model_->config().learn_sigma, "this network has no learned variance (learn_sigma is false)");
  require(sigma > 0, "denoise_with_variance needs sigma > 0");
  const int64_t c = model_->config().in_channels;
  const Tensor out = network_output(x, sigma);
  DenoiserVarianceOutput r;
  r.x0 = x - sigma * out.narrow(1, 0, c);
  const Tensor v = out.narrow(1, c, c);

  // The reverse step: abar_t, abar_prev from the training schedule or from (sigma, sigma_prev).
  const auto& abar = schedule_.alphas_cumprod();
  double abar_t, abar_prev;
  if (sigma_prev < 0) {
    const int t = schedule_.sigma_to_nearest_t(sigma);
    abar_t = abar[t];
    abar_prev = t > 0 ? abar[t - 1] : 1.0;
  } else {
    require(sigma_prev < sigma, "denoise_with_variance: sigma_prev must be below sigma");
    abar_t = 1.0 / (1.0 + sigma * sigma);
    abar_prev = 1.0 / (1.0 + sigma_prev * sigma_prev);
  }
  const double beta = 1.0 - abar_t / abar_prev;
  double beta_tilde = beta * (1.0 - abar_prev) / (1.0 - abar_t);
  if (!(beta_tilde > 0)) {
    // guided-diffusion's posterior_log_variance_clipped: step 0 uses step 1's value.
    beta_tilde = schedule_.betas()[1] * (1.0 - abar[0]) / (1.0 - abar[1]);
  }
  const double min_log = std::log(beta_tilde), max_log = std::log(beta);
  const Tensor frac = (v.to(torch::kFloat) + 1) / 2;
  r.reverse_log_variance = frac * max_log + (1 - frac) * min_log;
  // OPC convert: Var[x_prev | x] = beta_tilde + c1^2 Var[x0 | x], c1 = sqrt(abar_prev) beta / (1 - abar_t).
  const double c1 = std::sqrt(abar_prev) * beta / (1.0 - abar_t);
  r.x0_variance = ((r.reverse_log_variance.exp() - beta_tilde) / (c1 * c1)).clamp_min(1e-8);
  return r;
}

}  // namespace diffinv

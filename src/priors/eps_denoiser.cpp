#include "diffinv/eps_denoiser.h"

#include <torch/torch.h>

#include <cmath>

namespace diffinv {

EpsDenoiser::EpsDenoiser(UNetModel model, DiscreteSchedule schedule)
    : model_(std::move(model)), schedule_(std::move(schedule)) {
  model_->eval();
  // An inference adapter: VJPs are taken with respect to x only, so autograd must not record
  // (or hold saved tensors for) the weights' side of every layer.
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
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
  return learned_range_variance(x - sigma * out.narrow(1, 0, c), out.narrow(1, c, c), schedule_, sigma, sigma_prev);
}

}  // namespace diffinv

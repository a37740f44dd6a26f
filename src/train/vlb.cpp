#include "diffinv/vlb.h"

#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/diffusion_loss.h"
#include "diffinv/rng.h"

namespace diffinv {

VlbBound vlb_bits_per_dim(UNetModel& model, const DiscreteSchedule& schedule, const Tensor& images, int64_t batch,
                          at::Generator& gen, const std::function<void(long, long)>& progress) {
  const auto& config = model->config();
  require(images.dim() == 4 && images.size(0) >= 1 && images.size(1) == config.in_channels &&
              images.size(2) == config.image_size && images.size(3) == config.image_size,
          "vlb: images must be [N, " + std::to_string(config.in_channels) + ", " + std::to_string(config.image_size) +
              ", " + std::to_string(config.image_size) + "], got " + c10::str(images.sizes()));
  require(batch >= 1, "vlb: the batch must be >= 1");
  at::NoGradGuard no_grad;
  const auto param = model->parameters().front();
  const auto device = param.device();
  const DiffusionLoss terms_of(schedule, device);
  const int64_t n = images.size(0), T = schedule.num_steps();
  const double abar_T = schedule.alphas_cumprod().back();
  VlbBound result;
  double prior_sum = 0, decoder_sum = 0;
  const long total = long((n + batch - 1) / batch * T);
  long done = 0;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t b = std::min(batch, n - first);
    const Tensor x0 = images.narrow(0, first, b).to(device, at::kFloat);
    // L_T: KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)) per dimension, in bits.
    const Tensor prior = normal_kl(x0 * std::sqrt(abar_T), at::full_like(x0, std::log(1 - abar_T)), at::zeros_like(x0),
                                   at::zeros_like(x0))
                             .mean({1, 2, 3}) / std::log(2.0);
    Tensor bound = prior.to(at::kDouble);
    for (int64_t t = 0; t < T; ++t) {
      const Tensor steps = at::full({b}, t, x0.options().dtype(at::kLong));
      const Tensor noise = randn_like(x0, gen);
      const Tensor x_t = terms_of.q_sample(x0, steps, noise);
      Tensor out = model->forward(x_t, steps.to(at::kFloat)).to(at::kFloat);
      if (out.size(1) == x0.size(1))  // fixed variance beta_t: v = 1 selects log(beta_t) in the learned range
        out = at::cat({out, at::ones_like(out)}, 1);
      const Tensor vb = terms_of(out, x0, x_t, steps, noise).vb.to(at::kDouble);
      bound += vb;
      if (t == 0) decoder_sum += vb.sum().item<double>();
      if (progress) progress(++done, total);
    }
    prior_sum += prior.sum().item<double>();
    const Tensor cpu = bound.cpu();
    for (int64_t i = 0; i < b; ++i) result.per_image.push_back(cpu[i].item<double>());
  }
  double sum = 0, sum_sq = 0;
  for (double v : result.per_image) sum += v, sum_sq += v * v;
  const double count = double(result.per_image.size());
  result.bits_per_dim = sum / count;
  result.standard_error = count > 1 ? std::sqrt(std::max(0.0, (sum_sq - sum * sum / count) / (count - 1)) / count) : 0;
  result.prior_bits = prior_sum / count;
  result.decoder_bits = decoder_sum / count;
  return result;
}

}  // namespace diffinv

#include "steps.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <map>

#include "diffinv/rng.h"

namespace diffinv::steps {

double ddim_noise_std(double sigma, double sigma_next, double eta) {
  if (sigma_next <= 0) return 0.0;
  return eta * sigma_next * std::sqrt(std::max(0.0, 1.0 - (sigma_next * sigma_next) / (sigma * sigma)));
}

Tensor ddim(const Tensor& x, const Tensor& x0, double sigma, double sigma_next, double eta, at::Generator& gen) {
  if (sigma_next <= 0) return x0;
  const double c = ddim_noise_std(sigma, sigma_next, eta);
  const double keep = std::sqrt(std::max(0.0, sigma_next * sigma_next - c * c)) / sigma;
  Tensor out = x0 + (x - x0) * keep;
  if (c > 0) out = out + randn_like(x, gen) * c;
  return out;
}

double vp_gradient_scale(double sigma, double sigma_next) {
  return std::sqrt(1 + sigma * sigma) * std::sqrt(1 + sigma_next * sigma_next);
}

namespace {
Tensor denoise_maybe_variance(Denoiser& denoiser, const Tensor& x, double sigma, Tensor* x0_variance) {
  if (!x0_variance) return denoiser.denoise(x, sigma);
  auto out = denoiser.denoise_with_variance(x, sigma);
  *x0_variance = out.x0_variance.detach();
  return out.x0;
}
}  // namespace

Tracked denoise_tracked(Denoiser& denoiser, const Tensor& x, double sigma, Tensor* x0_variance) {
  at::AutoGradMode grad(true);
  Tracked t;
  t.x = x.detach().requires_grad_(true);
  t.mu = denoise_maybe_variance(denoiser, t.x, sigma, x0_variance);
  return t;
}

Tensor vjp(const Tracked& t, const Tensor& cotangent) {
  return torch::autograd::grad({t.mu}, {t.x}, {cotangent.detach()})[0];
}

Tensor grad_of(const Tracked& t, const Tensor& per_sample_loss) {
  return torch::autograd::grad({per_sample_loss.sum()}, {t.x})[0];
}

Tensor denoise(Denoiser& denoiser, const Tensor& x, double sigma, Tensor* x0_variance) {
  at::NoGradGuard no_grad;
  return denoise_maybe_variance(denoiser, x, sigma, x0_variance);
}

Tensor clip_x0(const Tensor& x0, double clip) {
  require(std::isfinite(clip) && clip >= 0, "clip must be finite and >= 0 (0: off), got " + std::to_string(clip));
  return clip > 0 ? x0.clamp(-clip, clip) : x0;
}

Tensor score(Denoiser& denoiser, const Tensor& x, double sigma) {
  return (denoise(denoiser, x, sigma) - x) / (sigma * sigma);
}

double langevin_step_size(double c, double sigma, double sigma_last) {
  return c * (sigma * sigma) / (sigma_last * sigma_last);
}

double smallest_level(const SamplerContext& ctx) {
  require(ctx.sigmas.size() >= 2 && ctx.sigmas[ctx.sigmas.size() - 2] > 0,
          "annealed Langevin needs a grid with at least one positive sigma");
  return ctx.sigmas[ctx.sigmas.size() - 2];
}

Tensor finish_langevin(const SamplerContext& ctx, const Tensor& x, bool denoise_last) {
  return denoise_last ? denoise(ctx.denoiser, x, smallest_level(ctx)) : x;
}

TimeTravel::TimeTravel(const std::vector<double>& sigmas, int travel_length, int travel_repeat, const std::string& who)
    : sigmas_(sigmas), indices_(time_travel_indices(int(sigmas.size()) - 1, travel_length, travel_repeat, who)) {}

bool TimeTravel::next(Tensor& x, at::Generator& gen, GridStep& step) {
  for (; k_ + 1 < indices_.size(); ++k_) {
    const int from = indices_[k_], to = indices_[k_ + 1];
    if (to == from + 1) {
      step = {from, sigmas_[from], sigmas_[to]};
      ++k_;
      return true;
    }
    x = x + randn_like(x, gen) * std::sqrt(sigmas_[to] * sigmas_[to] - sigmas_[from] * sigmas_[from]);
  }
  return false;
}

Spectrum spectrum_of(const SvdOperator& H) {
  Spectrum s;
  s.values = H.singular_values_2d();
  s.measured = s.values > 0;
  s.safe_values = at::where(s.measured, s.values, at::ones_like(s.values));
  return s;
}

std::vector<GridStep> grid_steps(const std::vector<double>& sigmas) {
  std::vector<GridStep> out;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) out.push_back({int(i), sigmas[i], sigmas[i + 1]});
  return out;
}

std::vector<int> time_travel_indices(int steps, int travel_length, int travel_repeat, const std::string& who) {
  require(travel_length >= 1, who + ": travel_length must be >= 1, got " + std::to_string(travel_length));
  require(travel_repeat >= 1, who + ": travel_repeat must be >= 1 (1 = no time travel), got " +
                                  std::to_string(travel_repeat));
  require(travel_repeat == 1 || travel_length < steps,
          who + ": travel_length " + std::to_string(travel_length) + " must be shorter than the " +
              std::to_string(steps) + " steps");
  // In RePaint's time t = steps - 1 - index: jumps back from t = j for j = 0, L, 2L, ... < steps - L.
  std::map<int, int> jumps_left;
  for (int j = 0; j < steps - travel_length; j += travel_length) jumps_left[j] = travel_repeat - 1;
  std::vector<int> indices{0};
  for (int t = steps - 1; t >= 0;) {
    --t;
    indices.push_back(steps - 1 - t);
    if (auto it = jumps_left.find(t); it != jumps_left.end() && it->second > 0) {
      --it->second;
      t += travel_length;
      for (int back = 1; back <= travel_length; ++back) indices.push_back(indices.back() - 1);
    }
  }
  return indices;
}

}  // namespace diffinv::steps

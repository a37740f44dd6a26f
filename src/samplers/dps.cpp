// DPS — Chung et al., "Diffusion Posterior Sampling for General Noisy Inverse Problems", ICLR 2023,
// Algorithm 1: x'_{i-1} = ancestral step from x0_hat; x_{i-1} = x'_{i-1} - zeta_i grad_{x_i} |y - A(x0_hat)|.
#include <ATen/ATen.h>

#include "diffinv/samplers/dps.h"
#include "guidance.h"

namespace diffinv {

namespace {
// |y - A(mu)| per sample (entries times `weights` when defined); clamped so that the gradient at an
// exact fit is 0, not NaN.
Tensor residual_norm(const Operator& A, const Tensor& y, const Tensor& mu, const Tensor& weights) {
  const Tensor r = weights.defined() ? (y - A.forward(mu)) * weights : y - A.forward(mu);
  return r.flatten(1).pow(2).sum(1).clamp_min(1e-30).sqrt();
}
}  // namespace

void DpsOptions::check(const std::string& who) const {
  require_at_least(zeta, 0, "zeta", who);
  require_at_least(clip, 0, "clip", who);
}

Tensor dps_residual_gradient(const Operator& A, const Tensor& y, const steps::Tracked& t, double clip,
                             const Tensor& weights) {
  return steps::grad_of(t, residual_norm(A, y, steps::clip_x0(t.mu, clip), weights));
}

Tensor dps_residual_weights(const InverseProblem& problem) {
  if (problem.noise != NoiseKind::Poisson) return {};
  const Tensor variance = problem.poisson_variance();
  return (per_sample(variance.flatten(1).mean(1), variance) / variance).sqrt();
}

Tensor sample_dps(const SamplerContext& ctx, const DpsOptions& o) {
  const Operator& A = ctx.problem.any("dps");
  const Tensor& y = ctx.problem.y;
  const Tensor weights = dps_residual_weights(ctx.problem);  // Poisson noise: Alg. 2's weighted norm
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const auto t = steps::denoise_tracked(ctx.denoiser, x, s);  // line 4: x0_hat = D(x_i), tracked for line 7
    const Tensor x0_hat = steps::clip_x0(t.mu.detach(), o.clip);
    ctx.report(i, x0_hat);
    const Tensor x_prime = steps::ddim(x, x0_hat, s, sn, steps::kAncestralEta, gen);  // lines 5-6: x'_{i-1}
    const Tensor grad = dps_residual_gradient(A, y, t, o.clip, weights);             // line 7
    x = (x_prime - grad * (o.zeta * steps::vp_gradient_scale(s, sn))).detach();
  }
  return x;
}

}  // namespace diffinv

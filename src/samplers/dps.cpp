// DPS — Chung et al., "Diffusion Posterior Sampling for General Noisy Inverse Problems", ICLR 2023,
// Algorithm 1: x'_{i-1} = ancestral step from x0_hat; x_{i-1} = x'_{i-1} - zeta_i grad_{x_i} |y - A(x0_hat)|.
#include <ATen/ATen.h>

#include "diffinv/samplers.h"
#include "guidance.h"

namespace diffinv {

namespace {
// |y - A(mu)| per sample; clamped so that the gradient at an exact fit is 0, not NaN.
Tensor residual_norm(const Operator& A, const Tensor& y, const Tensor& mu) {
  return (y - A.forward(mu)).flatten(1).pow(2).sum(1).clamp_min(1e-30).sqrt();
}
}  // namespace

Tensor dps_guided_step(const SamplerContext& ctx, const steps::Tracked& t, double s, double sn, double zeta,
                       const Tensor& ancestral, double clip) {
  const Tensor grad = steps::grad_of(t, residual_norm(*ctx.problem.op, ctx.problem.y, steps::clip_x0(t.mu, clip)));
  return ancestral - grad * (zeta * steps::vp_gradient_scale(s, sn));
}

Tensor sample_dps(const SamplerContext& ctx, const DpsOptions& o) {
  ctx.problem.any("dps");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  steps::for_each_step(ctx, [&](int i, double s, double sn) {
    const auto t = steps::denoise_tracked(ctx.denoiser, x, s);
    const Tensor mu = steps::clip_x0(t.mu.detach(), o.clip);
    ctx.report(i, mu);
    x = dps_guided_step(ctx, t, s, sn, o.zeta, steps::ddim(x, mu, s, sn, 1.0, gen), o.clip).detach();
  });
  return x;
}

}  // namespace diffinv

// The DPS -> DMPS hybrid (DESIGN §5): DPS while the prior still decides the structure; once
// PSNR(x0_hat_k, x0_hat_{k-1}) >= switch_psnr for a sample, DMPS for that sample, with no VJP
// once every sample of the batch has switched.
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/samplers/hybrid.h"
#include "guidance.h"

namespace diffinv {

void HybridOptions::check(const std::string& who) const {
  require_at_least(zeta, 0, "zeta", who);
  require_at_least(scale, 0, "scale", who);
  require_positive(peak, "peak", who);
}

Tensor sample_dps_dmps_hybrid(const SamplerContext& ctx, const HybridOptions& o) {
  const LinearOperator& A = ctx.problem.linear("dps-dmps");
  const Tensor& y = ctx.problem.y;
  const Tensor weights = dps_residual_weights(ctx.problem);  // Poisson noise: DPS's weighted norm
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  Tensor switched = at::zeros({x.size(0)}, x.options().dtype(at::kBool));
  Tensor previous;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const bool all_switched = switched.all().item<bool>();
    steps::Tracked t;
    Tensor mu;
    if (all_switched) {
      mu = steps::denoise(ctx.denoiser, x, s);
    } else {
      t = steps::denoise_tracked(ctx.denoiser, x, s);
      mu = t.mu.detach();
    }
    ctx.report(i, mu);
    const Tensor ancestral = steps::ddim(x, mu, s, sn, steps::kAncestralEta, gen);
    Tensor next = ancestral + dmps_likelihood_step(A, y, ctx.problem.sigma_y, x, s, sn, o.scale);  // DMPS
    if (!all_switched) {  // DPS where a sample has not switched yet
      const Tensor dps = ancestral - dps_residual_gradient(A, y, t, 0.0, weights) * (o.zeta * steps::vp_gradient_scale(s, sn));
      next = at::where(per_sample(switched, x), next, dps);
    }
    if (previous.defined()) {
      const Tensor mse = (mu - previous).flatten(1).pow(2).mean(1);
      const Tensor psnr = 10 * at::log10(o.peak * o.peak / mse.clamp_min(1e-30));
      switched = switched.logical_or(psnr >= o.switch_psnr);
    }
    previous = mu;
    x = next.detach();
  }
  return x;
}

}  // namespace diffinv

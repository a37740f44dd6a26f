// The DPS -> DMPS hybrid (DESIGN §5): DPS while the prior still decides the structure; once
// PSNR(x0_hat_k, x0_hat_{k-1}) >= switch_psnr for a sample, DMPS for that sample, with no VJP
// once every sample of the batch has switched.
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/samplers.h"
#include "guidance.h"

namespace diffinv {

Tensor sample_dps_dmps_hybrid(const SamplerContext& ctx, const HybridOptions& o) {
  ctx.problem.linear("dps-dmps");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  Tensor switched = at::zeros({x.size(0)}, x.options().dtype(at::kBool));
  Tensor previous;
  steps::for_each_step(ctx, [&](int i, double s, double sn) {
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
    const Tensor ancestral = steps::ddim(x, mu, s, sn, 1.0, gen);
    Tensor next = ancestral + dmps_likelihood_step(ctx, x, s, sn, o.scale);
    if (!all_switched)
      next = at::where(per_sample(switched, x), next, dps_guided_step(ctx, t, s, sn, o.zeta, ancestral));
    if (previous.defined()) {
      const Tensor mse = (mu - previous).flatten(1).pow(2).mean(1);
      const Tensor psnr = 10 * at::log10(o.peak * o.peak / mse.clamp_min(1e-30));
      switched = switched.logical_or(psnr >= o.switch_psnr);
    }
    previous = mu;
    x = next.detach();
  });
  return x;
}

}  // namespace diffinv

// Unconditional sampling: DDIM (Song et al. 2021, eq. 12) and DDPM ancestral (Ho et al. 2020, eq. 7),
// both in VE form; DDPM is DDIM with eta = 1.
#include "diffinv/samplers.h"
#include "steps.h"

namespace diffinv {

Tensor sample_ddim(const SamplerContext& ctx, const DdimOptions& o) {
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  steps::for_each_step(ctx, [&](int i, double s, double sn) {
    const Tensor x0 = steps::denoise(ctx.denoiser, x, s);
    ctx.report(i, x0);
    x = steps::ddim(x, x0, s, sn, o.eta, gen);
  });
  return x;
}

Tensor sample_ddpm(const SamplerContext& ctx, const DdpmOptions&) {
  DdimOptions ancestral;
  ancestral.eta = 1.0;
  return sample_ddim(ctx, ancestral);
}

}  // namespace diffinv

// Unconditional sampling: DDIM (Song et al. 2021, eq. 12) and DDPM ancestral (Ho et al. 2020, eq. 7),
// both in VE form; DDPM is DDIM with eta = 1.
#include "diffinv/samplers/unconditional.h"
#include "steps.h"

namespace diffinv {

void DdimOptions::check(const std::string& who) const { require_in_range(eta, 0, 1, "eta", who); }

Tensor sample_ddim(const SamplerContext& ctx, const DdimOptions& o) {
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::denoise(ctx.denoiser, x, s);
    ctx.report(i, x0);
    x = steps::ddim(x, x0, s, sn, o.eta, gen);
  }
  return x;
}

Tensor sample_ddpm(const SamplerContext& ctx, const DdpmOptions&) {
  DdimOptions ancestral;
  ancestral.eta = 1.0;
  return sample_ddim(ctx, ancestral);
}

}  // namespace diffinv

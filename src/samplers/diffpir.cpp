// DiffPIR — Zhu et al., "Denoising Diffusion Models for Plug-and-Play Image Restoration",
// CVPRW 2023, Algorithm 1: x0_hat = argmin |y - A x|^2 + rho_t |x - x0|^2 with
// rho_t = lambda sigma_n^2 / sigma_t^2 (sigma_n on [0, 1] = sigma_y / 2, DESIGN §5), then
// x_{t-1} = x0_hat + sigma_{t-1} (sqrt(1 - zeta) eps_hat + sqrt(zeta) z), eps_hat = (x_t - x0_hat)/sigma_t.
#include <cmath>
#include <limits>

#include "diffinv/rng.h"
#include "diffinv/samplers/diffpir.h"
#include "steps.h"

namespace diffinv {

void DiffpirOptions::check(const std::string& who) const {
  require_positive(lambda, "lambda", who);
  require_in_range(zeta, 0, 1, "zeta", who);
  require_at_least(clip, 0, "clip", who);
}

Tensor sample_diffpir(const SamplerContext& ctx, const DiffpirOptions& o) {
  const auto& A = ctx.problem.linear("diffpir");
  at::Generator gen = ctx.generator;
  const double sy = ctx.problem.sigma_y;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::clip_x0(steps::denoise(ctx.denoiser, x, s), o.clip);
    // prox weight gamma = 1 / rho_t; noiseless y makes the data step a projection.
    const double gamma = sy > 0 ? 4 * s * s / (o.lambda * sy * sy) : std::numeric_limits<double>::infinity();
    const Tensor x0_hat = A.prox(x0, ctx.problem.y, gamma);
    ctx.report(i, x0_hat);
    if (sn <= 0) {
      x = x0_hat;
      continue;
    }
    const Tensor eps_hat = (x - x0_hat) / s;
    x = x0_hat + (eps_hat * std::sqrt(1 - o.zeta) + randn_like(x, gen) * std::sqrt(o.zeta)) * sn;
  }
  return x;
}

}  // namespace diffinv

// MCG — Chung, Sim, Ryu & Ye, "Improving Diffusion Models for Inverse Problems using Manifold
// Constraints", NeurIPS 2022, Alg. 1: an unconditional reverse step, the
// manifold-constraint gradient x'_{i-1} -= alpha grad_{x_i} |W (y - A x0_hat)|, then the projection
// x_{i-1} = (I - A^+ A) x'_{i-1} + A^+ y_{i-1} onto the noised measurement. As in the DPS authors'
// code (guided_diffusion/condition_methods.py, ManifoldConstraintGradient, scale default 1.0), the
// gradient is DPS's, of the residual norm |y - A(x0_hat)|, with the step in VP units (DESIGN §5).
// The noised measurement is taken at the level of the projected state, sigma_{i-1} (the DPS code
// q-samples y at t, one step earlier; the difference vanishes with the step size).
#include "diffinv/samplers/mcg.h"
#include "guidance.h"

namespace diffinv {

void McgOptions::check(const std::string& who) const { require_at_least(zeta, 0, "zeta", who); }

Tensor sample_mcg(const SamplerContext& ctx, const McgOptions& o) {
  const auto& A = ctx.problem.linear("mcg");
  const Tensor weights = dps_residual_weights(ctx.problem);  // Poisson noise: DPS's weighted norm
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const auto t = steps::denoise_tracked(ctx.denoiser, x, s);
    const Tensor mu = t.mu.detach();
    ctx.report(i, mu);
    const Tensor x_prime = steps::ddim(x, mu, s, sn, steps::kAncestralEta, gen);  // DPS's ancestral step
    const Tensor grad = dps_residual_gradient(A, ctx.problem.y, t, 0.0, weights);
    const Tensor guided = (x_prime - grad * (o.zeta * steps::vp_gradient_scale(s, sn))).detach();
    x = replace_measured_part(A, guided, ctx.problem.y, sn, gen);  // MCG's projection onto the measurement
  }
  return x;
}

}  // namespace diffinv

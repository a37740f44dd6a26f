// DMPS — Meng & Kabashima, "Diffusion Model Based Posterior Sampling for Noisy Linear Inverse
// Problems", 2022, eq. 11-13: the uninformative-prior approximation
// p(y | x_t) = N(y; A x_t, sigma_y^2 I + sigma_t^2 A A^T) (VE form), solved in closed form.
#include "diffinv/samplers/dmps.h"
#include "guidance.h"

namespace diffinv {

void DmpsOptions::check(const std::string& who) const {
  require_at_least(scale, 0, "scale", who);
  require_at_least(clip, 0, "clip", who);
}

Tensor dmps_likelihood_step(const LinearOperator& A, const Tensor& y, double sigma_y, const Tensor& x, double s,
                            double sn, double scale) {
  const Tensor score = A.adjoint(A.solve_gram(y - A.forward(x), s * s, sigma_y * sigma_y));
  return score * (scale * (s * s - sn * sn));
}

Tensor sample_dmps(const SamplerContext& ctx, const DmpsOptions& o) {
  const LinearOperator& A = ctx.problem.linear("dmps");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::clip_x0(steps::denoise(ctx.denoiser, x, s), o.clip);
    ctx.report(i, x0);
    const Tensor x_ancestral = steps::ddim(x, x0, s, sn, steps::kAncestralEta, gen);
    x = x_ancestral + dmps_likelihood_step(A, ctx.problem.y, ctx.problem.sigma_y, x, s, sn, o.scale);
  }
  return x;
}

}  // namespace diffinv

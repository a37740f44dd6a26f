// DMPS — Meng & Kabashima, "Diffusion Model Based Posterior Sampling for Noisy Linear Inverse
// Problems", 2022, eq. 11-13: the uninformative-prior approximation
// p(y | x_t) = N(y; A x_t, sigma_y^2 I + sigma_t^2 A A^T) (VE form), solved in closed form.
#include "diffinv/samplers.h"
#include "guidance.h"

namespace diffinv {

Tensor dmps_likelihood_step(const SamplerContext& ctx, const Tensor& x, double s, double sn, double scale) {
  const auto& A = ctx.problem.linear("dmps");
  const double sy2 = ctx.problem.sigma_y * ctx.problem.sigma_y;
  const Tensor score = A.adjoint(A.solve_gram(ctx.problem.y - A.forward(x), s * s, sy2));
  return score * (scale * (s * s - sn * sn));
}

Tensor sample_dmps(const SamplerContext& ctx, const DmpsOptions& o) {
  ctx.problem.linear("dmps");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  steps::for_each_step(ctx, [&](int i, double s, double sn) {
    const Tensor x0 = steps::clip_x0(steps::denoise(ctx.denoiser, x, s), o.clip);
    ctx.report(i, x0);
    x = steps::ddim(x, x0, s, sn, 1.0, gen) + dmps_likelihood_step(ctx, x, s, sn, o.scale);
  });
  return x;
}

}  // namespace diffinv

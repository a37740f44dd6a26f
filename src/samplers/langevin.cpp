// Annealed Langevin posterior sampling — Jalal, Arvinte, Daras, Price, Dimakis & Tamir, "Robust
// Compressed Sensing MRI with Deep Generative Priors", NeurIPS 2021, Alg. 1 (and Jalal, Karmalkar,
// Dimakis & Price, "Instance-Optimal Compressed Sensing via Posterior Sampling", ICML 2021):
//   x <- x + eta_t (grad log p_t(x) + A^T (y - A x) / (sigma_y^2 + gamma_t^2)) + sqrt(2 eta_t) z,
// several steps per noise level, with the annealed likelihood variance gamma_t = sigma_t (the
// current level: A x_t = A x0 + sigma_t A n, so y looks sigma_t-noisier through x_t, isotropically
// approximated) and Song & Ermon's step eta_t = c sigma_t^2 / sigma_L^2 (NCSN, NeurIPS 2019, Alg. 1).
// The score is Tweedie's (D(x, sigma) - x)/sigma^2; only A and A^T are needed.
#include "diffinv/rng.h"
#include "diffinv/samplers/langevin.h"
#include "steps.h"

#include <cmath>

namespace diffinv {

void AnnealedLangevinOptions::check(const std::string& who) const {
  require_positive(c, "c", who);
  require_at_least(steps_per_level, 1, "steps_per_level", who);
}

Tensor sample_langevin(const SamplerContext& ctx, const AnnealedLangevinOptions& o) {
  const auto& A = ctx.problem.linear("langevin");
  at::Generator gen = ctx.generator;
  const double sy2 = ctx.problem.sigma_y * ctx.problem.sigma_y;
  const double sigma_last = steps::smallest_level(ctx);
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // level i: sigma_i = s
    const double eta = steps::langevin_step_size(o.c, s, sigma_last);
    Tensor x0;
    for (int k = 0; k < o.steps_per_level; ++k) {
      const Tensor score = steps::score(ctx.denoiser, x, s);
      x0 = x + score * (s * s);  // Tweedie's estimate, for the progress report
      const Tensor likelihood = A.adjoint(ctx.problem.y - A.forward(x)) / (sy2 + s * s);
      x = x + (score + likelihood) * eta + randn_like(x, gen) * std::sqrt(2 * eta);
    }
    ctx.report(i, x0);
  }
  return steps::finish_langevin(ctx, x, o.denoise);
}

}  // namespace diffinv

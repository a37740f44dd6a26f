// SNIPS — Kawar, Vaksman & Elad, "SNIPS: Solving Noisy Inverse Problems Stochastically", NeurIPS
// 2021, Alg. 1: annealed Langevin dynamics in the SVD domain of A = U S V^T. With x̄ = V^T x,
// ȳ = U^T y, s_j the singular values, sigma_0 = sigma_y and alpha = c / sigma_L^2 (the code's
// step_size_new), each spectral coordinate takes x̄_j += h_j g_j + sqrt(2 h_j) z_j with
//   unmeasured (s_j = 0):       h_j = alpha sigma^2,                            g_j = score_j
//   sigma s_j <  sigma_0:       h_j = alpha sigma^2 (1 - s_j^2 sigma^2/sigma_0^2), g_j = score_j + s_j (ȳ_j - s_j x̄_j)/(sigma_0^2 - s_j^2 sigma^2)
//   sigma s_j >= sigma_0:       h_j = alpha (sigma^2 - sigma_0^2/s_j^2),          g_j = s_j (ȳ_j - s_j x̄_j)/(s_j^2 sigma^2 - sigma_0^2)
// (snips_torch models/__init__.py, general_anneal_Langevin_dynamics). The products h_j g_j of the
// likelihood terms simplify to alpha sigma^2 s_j (ȳ_j - s_j x̄_j)/sigma_0^2 and alpha (ȳ_j/s_j - x̄_j),
// which is how they are computed here: no division by a vanishing sigma_0^2 - s_j^2 sigma^2. The score
// is Tweedie's (D(x, sigma) - x)/sigma^2; a final D(x, sigma_L) is the code's `denoise: true`.
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/rng.h"
#include "diffinv/samplers/langevin.h"
#include "steps.h"

namespace diffinv {

Tensor sample_snips(const SamplerContext& ctx, const AnnealedLangevinOptions& o) {
  const auto& H = ctx.problem.svd("snips");
  at::Generator gen = ctx.generator;
  const double sy = ctx.problem.sigma_y;
  const auto spectrum = steps::spectrum_of(H);
  const Tensor &sv = spectrum.values, &measured = spectrum.measured, &safe_sv = spectrum.safe_values;
  const Tensor y_bar = H.Ut(ctx.problem.y);
  const double sigma_last = steps::smallest_level(ctx);
  const double alpha = steps::langevin_step_size(o.c, 1.0, sigma_last);
  const double y_var = sy > 0 ? sy * sy : 1.0;  // only read where sigma s_j < sigma_y, i.e. sigma_y > 0
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // level i: sigma_i = s
    const double h_free = alpha * s * s;
    // Per measured coordinate: which regime, its step h_j and the likelihood drift h_j * likelihood_j.
    const Tensor noisier_than_y = sv * s >= sy;  // "cond_before": the prior score is dropped
    const Tensor h_after = h_free * (1 - (sv * s).pow(2) / y_var);
    const Tensor h_before = (alpha * (s * s - (sy * sy) / (safe_sv * safe_sv))).clamp_min(0);
    const Tensor h = at::where(measured, at::where(noisier_than_y, h_before, h_after), at::full_like(sv, h_free));
    const Tensor keep_score = at::logical_or(measured.logical_not(), noisier_than_y.logical_not());
    Tensor x0;
    for (int k = 0; k < o.steps_per_level; ++k) {
      const Tensor score = steps::score(ctx.denoiser, x, s);
      x0 = x + score * (s * s);  // Tweedie's estimate, for the progress report
      const Tensor z = randn_like(x, gen);
      // Every coordinate as if unmeasured, then the measured head of the spectrum corrected.
      const Tensor free = x + score * h_free + z * std::sqrt(2 * h_free);
      const Tensor xh = H.Vt_head(x), score_h = H.Vt_head(score), zh = H.Vt_head(z);
      const Tensor free_head = xh + score_h * h_free + zh * std::sqrt(2 * h_free);
      const Tensor residual = y_bar - sv * xh;
      const Tensor likelihood_drift =
          at::where(noisier_than_y, residual / safe_sv * alpha, residual * sv * (alpha * s * s / y_var));
      const Tensor head = xh + at::where(keep_score, h * score_h, at::zeros_like(xh)) +
                          at::where(measured, likelihood_drift, at::zeros_like(xh)) + (2 * h).sqrt() * zh;
      x = free + H.V(head - free_head).view_as(x);
    }
    ctx.report(i, x0);
  }
  return steps::finish_langevin(ctx, x, o.denoise);
}

}  // namespace diffinv

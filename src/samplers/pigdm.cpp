// ΠGDM — Song et al., "Pseudoinverse-Guided Diffusion Models for Inverse Problems", ICLR 2023,
// eq. 7-8, noisy form: p(y | x_t) ≈ N(A x0_hat, r_t^2 A A^T + sigma_y^2 I) with
// r_t^2 = sigma^2 / (1 + sigma^2); its score enters through one VJP (Type I of Peng et al. 2024).
#include "diffinv/samplers/pigdm.h"
#include "posterior_mean.h"

namespace diffinv {

void PigdmOptions::check(const std::string& who) const {
  require_in_range(eta, 0, 1, "eta", who);
  require_at_least(clip, 0, "clip", who);
}

Tensor sample_pigdm(const SamplerContext& ctx, const PigdmOptions& o) {
  const auto& A = ctx.problem.linear("pigdm");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const auto t = steps::denoise_tracked(ctx.denoiser, x, s);
    const auto cov = make_covariance(CovarianceSource::Pigdm, ctx.denoiser, x, s);
    Tensor x0 = type1_posterior_mean(t, A, ctx.problem.y, ctx.problem.sigma_y, s, cov);
    // The Type I step scales J^T by sigma^2: where a network's Jacobian is not the small
    // Cov[x0|x]/sigma^2 of a true posterior (large sigma, a weak model) it overshoots, and the
    // image range is the only bound left.
    x0 = steps::clip_x0(x0, o.clip);
    ctx.report(i, x0);
    x = steps::ddim(x, x0, s, sn, o.eta, gen);
  }
  return x;
}

}  // namespace diffinv

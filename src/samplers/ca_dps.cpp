// CA-DPS — Hamidi & Yang, "Enhancing Diffusion Models for Inverse Problems with Covariance-Aware
// Posterior Sampling", AAAI 2025 (arXiv 2412.20045). The reverse-process covariance
//   Cov[x0 | x_t] = (1 - abar)/abar (I - sqrt(1 - abar) d eps/dx_t)   (VP form)
// is, in VE form (x0 = x - sigma eps, d/dx_VE = d/dx_VP / sqrt(1 + sigma^2)), sigma^2 J with J = dD/dx
// (second-order Tweedie, DESIGN §5); CA-DPS keeps its diagonal, estimated by finite differences with one
// extra NFE, and plugs Sigma = sigma^2 diag(J) into the Gaussian likelihood
// p(y | x_t) ≈ N(y; A mu, sigma_y^2 I + A Sigma A^T), whose score enters through one VJP:
//   x0_y = mu + scale * sigma^2 J^T A^T C^{-1} (y - A mu)   (Type I, Peng et al. ICML 2024 eq. 9)
// followed by DDPM's ancestral step from x0_y (as DPS). C^{-1}: CG (dense for small y).
//
// Step size: scale = 1 is the exact Type I update of the Gaussian approximation, the paper's
// "without hyperparameter tuning". The authors' code (github.com/Shayanmohajer/
// AAAI-2025-Covariance-Aware-Diffusion-Models-, guided_diffusion/condition_methods.py, method "ps")
// instead keeps DPS's norm gradient with DPS's zeta (configs: 0.3 for SR) times a per-pixel factor;
// diffinv follows the paper's equations.
#include <ATen/ATen.h>

#include "diffinv/rng.h"
#include "diffinv/samplers/ca_dps.h"
#include "guidance.h"
#include "posterior_mean.h"

namespace diffinv {

void CaDpsOptions::check(const std::string& who) const {
  require_at_least(probes, 1, "probes", who);
  require_positive(fd_step, "fd_step", who);
  require_positive(max_jacobian, "max_jacobian", who);
  require_in_range(eta, 0, 1, "eta", who);
  cg.check(who);
}

Tensor jacobian_diagonal(Denoiser& denoiser, const Tensor& x, const Tensor& mu, double sigma, int probes,
                         double fd_step, at::Generator& gen) {
  require(probes >= 1, "ca-dps: probes must be at least 1");
  require(fd_step > 0, "ca-dps: fd_step must be positive");
  at::NoGradGuard no_grad;
  const double h = fd_step * sigma;
  const Tensor xd = x.detach(), mud = mu.detach();
  Tensor sum;
  for (int k = 0; k < probes; ++k) {
    const Tensor v = randn_like(xd, gen).sign();
    const Tensor est = v * (denoiser.denoise(xd + v * h, sigma) - mud) / h;
    sum = k == 0 ? est : sum + est;
  }
  return probes == 1 ? sum : sum / double(probes);
}

Tensor sample_ca_dps(const SamplerContext& ctx, const CaDpsOptions& o) {
  const auto& A = ctx.problem.linear("ca-dps");
  const ConjugateGradientOptions cg = o.cg.cg();
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const auto t = steps::denoise_tracked(ctx.denoiser, x, s);
    const Tensor mu = t.mu.detach();
    const Tensor diag = jacobian_diagonal(ctx.denoiser, x, mu, s, o.probes, o.fd_step, gen);
    const auto cov = diagonal_covariance(diag.clamp(0.0, o.max_jacobian) * (s * s));
    Tensor x0 = type1_posterior_mean(t, A, ctx.problem.y, ctx.problem.sigma_y, s, cov, &cg).detach();
    if (o.scale != 1.0) x0 = mu + (x0 - mu) * o.scale;
    ctx.report(i, x0);
    x = steps::ddim(x, x0, s, sn, o.eta, gen);
  }
  return x;
}

}  // namespace diffinv

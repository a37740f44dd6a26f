// PnP-DM — Wu, Sun, Chen, Zhang, Yue & Bouman, "Principled Probabilistic Imaging using Diffusion
// Models as Plug-and-Play Priors", NeurIPS 2024, Alg. 1 (reference code: github zihuiwu/PnP-DM-public,
// pnpdm/samplers/pnp_edm/pnp_edm.py, denoiser_edm.py, pnpdm/tasks/*.py proximal_generator, commands.sh).
// Split Gibbs sampling of  pi(x, z) ∝ p(y | z) p(x) exp(-|x - z|^2 / (2 rho_k^2)),  rho_k = max(rho rho_decay^k, rho_min):
//   1. likelihood step  z ~ pi(z | x) = N(m, S),  S = (A^T A / sigma_y^2 + I / rho^2)^-1,
//                                                 m = S (A^T y / sigma_y^2 + x / rho^2)   (eq. 7);
//      linear operators: exact, by perturb-then-optimise (y' = y + sigma_y e, x' = x + rho e',
//      z = argmin |A z - y'|^2/(2 sigma_y^2) + |z - x'|^2/(2 rho^2) = A.prox(x', y', rho^2/sigma_y^2): closed
//      form for SVD and FFT operators, CG otherwise); any other operator: Langevin steps on that
//      objective from z = x (phase_retrieval.py proximal_generator: 100 steps, gamma 1e-4);
//   2. prior step  x ~ p(x0 | x0 + rho n = z)  (eq. 8): the reverse SDE dx = -2 sigma score dsigma + sqrt(2 sigma) dW
//      by Euler-Maruyama over the grid's sigmas below rho, started at z (denoiser_edm.py: i_start = the
//      first sigma < rho, state z as is; no noise on the last step to sigma = 0).
// The split-Gibbs chain at a fixed rho targets x | y ∝ p(x) N(y; A x, sigma_y^2 I + rho^2 A A^T); annealing
// rho to rho_min brings that relaxed posterior close to p(x | y). x starts as a standard normal draw
// (x_init / sigma_max; the reference's phase-retrieval start; rho_0 = 10 makes the start irrelevant
// for linear operators, whose first z is the measurement's fit plus noise of std 10).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "diffinv/rng.h"
#include "diffinv/samplers/pnp_dm.h"
#include "steps.h"

namespace diffinv {

void PnpDmOptions::check(const std::string& who) const {
  require(iterations >= 1, who + ": iterations must be >= 1, got " + std::to_string(iterations));
  require(std::isfinite(rho) && rho > 0, who + ": rho must be finite and > 0, got " + std::to_string(rho));
  require(std::isfinite(rho_decay) && rho_decay > 0 && rho_decay <= 1,
          who + ": rho_decay must be in (0, 1], got " + std::to_string(rho_decay));
  require(std::isfinite(rho_min) && rho_min >= 0 && rho_min <= rho,
          who + ": rho_min must be in [0, rho], got " + std::to_string(rho_min));
  require(langevin_steps >= 1, who + ": langevin_steps must be >= 1, got " + std::to_string(langevin_steps));
  require(std::isfinite(langevin_lr) && langevin_lr > 0,
          who + ": langevin_lr must be finite and > 0, got " + std::to_string(langevin_lr));
}

Tensor pnp_dm_likelihood_step(const SamplerContext& ctx, const PnpDmOptions& o, const Tensor& x, double rho,
                              at::Generator& gen) {
  const InverseProblem& p = ctx.problem;
  const double sy = p.sigma_y;
  if (const auto* A = dynamic_cast<const LinearOperator*>(p.op)) {
    // Perturb-then-optimise: the minimiser of the perturbed objective is linear in (y', x') with
    // covariance sigma_y^2 (A^T A + sigma_y^2/rho^2 I)^-1 = S and mean m. sigma_y = 0: gamma = inf projects.
    const Tensor y_pert = sy > 0 ? p.y + randn_like(p.y, gen) * sy : p.y;
    const Tensor x_pert = x + randn_like(x, gen) * rho;
    const double gamma = sy > 0 ? rho * rho / (sy * sy) : INFINITY;
    return A->prox(x_pert, y_pert, gamma).reshape(x.sizes());
  }
  require(sy > 0, "pnp-dm: the Langevin likelihood step of a nonlinear operator needs sigma_y > 0");
  Tensor z = x;
  for (int k = 0; k < o.langevin_steps; ++k) {
    Tensor grad;
    {
      at::AutoGradMode enable(true);
      const Tensor leaf = z.detach().requires_grad_(true);
      const Tensor fit = (p.op->forward(leaf) - p.y).pow(2).sum() / (2 * sy * sy);
      grad = torch::autograd::grad({fit}, {leaf})[0].detach();
    }
    z = z - grad * o.langevin_lr - (z - x) * (o.langevin_lr / (rho * rho)) +
        randn_like(x, gen) * std::sqrt(2 * o.langevin_lr);
  }
  return z;
}

Tensor pnp_dm_prior_step(const SamplerContext& ctx, const Tensor& z, double rho, at::Generator& gen) {
  const auto& sigmas = ctx.sigmas;
  size_t start = 0;
  while (start + 1 < sigmas.size() && sigmas[start] >= rho) ++start;
  Tensor x = z;
  for (size_t i = start; i + 1 < sigmas.size(); ++i) {
    const double s = sigmas[i], sn = sigmas[i + 1];
    const Tensor d = (x - steps::denoise(ctx.denoiser, x, s)) * (2.0 / s);  // -2 sigma score
    x = x + d * (sn - s);
    if (sn > 0) x = x + randn_like(x, gen) * std::sqrt(2 * s * (s - sn));
  }
  return x;
}

Tensor sample_pnp_dm(const SamplerContext& ctx, const PnpDmOptions& o) {
  ctx.problem.any("pnp-dm");
  require(ctx.sigmas.size() >= 2 && ctx.sigmas.front() > 0, "pnp-dm needs a grid with at least one positive sigma");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init / ctx.sigmas.front();
  for (int k = 0; k < o.iterations; ++k) {
    const double rho = std::max(o.rho * std::pow(o.rho_decay, k), o.rho_min);
    const Tensor z = pnp_dm_likelihood_step(ctx, o, x, rho, gen);  // 1. likelihood step
    x = pnp_dm_prior_step(ctx, z, rho, gen);                       // 2. prior step
    if (ctx.progress) {  // one report per iteration: step k of K at noise level rho_k
      StepInfo info;
      info.step = k;
      info.total = o.iterations;
      info.sigma = rho;
      info.sigma_next = std::max(o.rho * std::pow(o.rho_decay, k + 1), o.rho_min);
      info.x0 = x.detach();
      ctx.progress(info);
    }
  }
  return x;
}

}  // namespace diffinv

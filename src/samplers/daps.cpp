// DAPS — Zhang, Zheng, Wu, Bouman, Chen & Yue (Zhang et al.), "Improving Diffusion Inverse Problem
// Solving with Decoupled Noise Annealing", CVPR 2025, Alg. 1 (reference code: github
// zhangbingliang2019/DAPS, sampler.py DAPS.sample, cores/mcmc.py MCMCSampler, cores/scheduler.py).
// Per annealing level sigma_i (the grid's positive sigmas, descending; the grid ends in 0):
//   1. x0_hat = the probability-flow ODE dx/dsigma = (x - D(x, sigma))/sigma solved from sigma_i down to
//      ode_sigma_min by Euler steps on a rho-7 grid (sampler.py: DiffusionPFODE, solver 'euler');
//   2. Langevin on x0 from x0_hat, no network calls (mcmc.py: prior_solver 'gaussian', mc_algo 'langevin'):
//      x0 <- x0 + eta_i [ (x0_hat - x0)/r_i^2 - grad_x0 L(x0) ] + sqrt(2 eta_i) xi,  r_i = sigma_i,
//      L = |A(x0) - y|^2/(2 tau^2) (paper, p(y|x0) = N(A(x0), tau^2 I); InverseBench) or |A(x0) - y|^2/tau^2
//      (the code's -grad|r|^2/tau^2), tau = tau_eff;
//   3. x_{i+1} = x0 + sigma_{i+1} z (sigma_N = 0: the last x0 is the output).
// The Langevin step decays linearly over the levels (mcmc.py get_lr: 1 + i/(N+1) (lr_min_ratio - 1)).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>

#include "diffinv/rng.h"
#include "diffinv/samplers/daps.h"
#include "steps.h"

namespace diffinv {

void DapsOptions::check(const std::string& who) const {
  require(ode_steps >= 1, who + ": ode_steps must be >= 1, got " + std::to_string(ode_steps));
  require(std::isfinite(ode_sigma_min) && ode_sigma_min > 0,
          who + ": ode_sigma_min must be finite and > 0, got " + std::to_string(ode_sigma_min));
  require(langevin_steps >= 0, who + ": langevin_steps must be >= 0, got " + std::to_string(langevin_steps));
  require(std::isfinite(lr) && lr > 0, who + ": lr must be finite and > 0, got " + std::to_string(lr));
  require(std::isfinite(lr_min_ratio) && lr_min_ratio > 0 && lr_min_ratio <= 1,
          who + ": lr_min_ratio must be in (0, 1], got " + std::to_string(lr_min_ratio));
  require(std::isfinite(tau) && tau > 0, who + ": tau must be finite and > 0, got " + std::to_string(tau));
}

namespace {

double tau_effective(const DapsOptions& o, double sigma_y) {
  return o.tau_rule == "max" ? std::max(o.tau, sigma_y) : o.tau;
}

// Step 1: Euler steps of the probability-flow ODE from sigma down to ode_sigma_min (DAPS's EDM
// scheduler: ode_steps + 1 points (sigma_max^(1/7) + t (sigma_min^(1/7) - sigma_max^(1/7)))^7, t in [0, 1]).
Tensor ode_estimate(Denoiser& denoiser, const Tensor& x_in, double sigma, const DapsOptions& o) {
  if (sigma <= o.ode_sigma_min) return x_in;  // the ODE from sigma to sigma is the identity
  std::vector<double> grid = karras_sigmas(o.ode_sigma_min, sigma, o.ode_steps + 1);
  grid.pop_back();  // karras_sigmas appends 0; the ODE stops at ode_sigma_min
  Tensor x = x_in;
  for (size_t k = 0; k + 1 < grid.size(); ++k) {
    const double s = grid[k], sn = grid[k + 1];
    const Tensor d = (x - steps::denoise(denoiser, x, s)) / s;  // dx/dsigma (Karras et al. 2022, eq. 4, VE)
    x = x + d * (sn - s);
  }
  return x;
}

// J^T (A(x0) - y): the gradient of |A(x0) - y|^2 / 2. Linear operators use A^T; any other operator its own
// autograd (no network is involved).
Tensor data_gradient(const InverseProblem& problem, const Tensor& x0) {
  const Operator& A = *problem.op;
  if (const auto* lin = dynamic_cast<const LinearOperator*>(&A))
    return lin->adjoint(lin->forward(x0) - problem.y).reshape(x0.sizes());
  at::AutoGradMode grad(true);
  const Tensor leaf = x0.detach().requires_grad_(true);
  const Tensor loss = (A.forward(leaf) - problem.y).pow(2).sum() * 0.5;
  return torch::autograd::grad({loss}, {leaf})[0].detach();
}

// |A|^2 (largest eigenvalue of A^T A, the data term's curvature per 1/tau^2) by 30 power iterations from a
// fixed start, the largest over the batch; 1 for a nonlinear operator (DAPS's tuning assumes |A| <= 1).
double operator_norm_squared(const InverseProblem& problem, const Tensor& like) {
  const auto* A = dynamic_cast<const LinearOperator*>(problem.op);
  if (!A) return 1.0;
  auto gen = make_generator(0x5eed);
  Tensor v = randn_like(like, gen);
  std::vector<int64_t> per_sample(like.dim(), 1);
  per_sample[0] = -1;
  double norm2 = 0;
  for (int k = 0; k < 30; ++k) {
    v = v / v.flatten(1).norm(2, 1).clamp_min(1e-30).view(per_sample);
    const Tensor w = A->adjoint(A->forward(v)).reshape(like.sizes());
    norm2 = (w * v).flatten(1).sum(1).max().item<double>();
    v = w;
  }
  return norm2;
}

}  // namespace

DapsLevel daps_level(const SamplerContext& ctx, const DapsOptions& o, const Tensor& x, double sigma,
                     double sigma_next, double eta, at::Generator& gen) {
  const double tau = tau_effective(o, ctx.problem.sigma_y);
  const double data_weight = (o.data_term == "paper" ? 1.0 : 2.0) / (tau * tau);  // L = data_weight |r|^2 / 2
  const double r2 = sigma * sigma;                                                  // r_i = sigma_i
  DapsLevel level;
  level.x0_hat = ode_estimate(ctx.denoiser, x, sigma, o);  // step 1
  Tensor x0 = level.x0_hat;
  for (int m = 0; m < o.langevin_steps; ++m) {  // step 2
    const Tensor drift = (level.x0_hat - x0) / r2 - data_gradient(ctx.problem, x0) * data_weight;
    x0 = x0 + drift * eta + randn_like(x0, gen) * std::sqrt(2 * eta);
  }
  level.x0 = x0;
  level.x_next = sigma_next > 0 ? x0 + randn_like(x0, gen) * sigma_next : x0;  // step 3
  return level;
}

Tensor sample_daps(const SamplerContext& ctx, const DapsOptions& o) {
  ctx.problem.any("daps");
  at::Generator gen = ctx.generator;
  const double tau = tau_effective(o, ctx.problem.sigma_y);
  const double norm2 = std::max(1.0, operator_norm_squared(ctx.problem, ctx.x_init));
  const int levels = int(ctx.sigmas.size()) - 1;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    // mcmc.py get_lr(ratio = i / (N + 1)), scaled by min(r_i^2, tau_eff^2/max(1, |A|^2))/tau^2: 1 in the
    // reference's setting (r_i = sigma_i >= 0.1 > tau = tau_eff = 0.01, |A| <= 1); otherwise the same step
    // relative to the stiffer of the two quadratic terms (curvatures 1/r_i^2 and |A|^2/tau_eff^2), so that a
    // larger tau_eff (sigma_y) is not mixed 25x slower, and a level below tau or an operator with |A| > 1
    // stays as stable as the reference (eta * curvature <= lr / tau^2 for each term).
    const double decay = 1.0 + double(i) / (levels + 1) * (o.lr_min_ratio - 1.0);
    const double eta = o.lr * decay * std::min(s * s, tau * tau / norm2) / (o.tau * o.tau);
    const DapsLevel level = daps_level(ctx, o, x, s, sn, eta, gen);
    ctx.report(i, level.x0);
    x = level.x_next;
  }
  return x;
}

}  // namespace diffinv

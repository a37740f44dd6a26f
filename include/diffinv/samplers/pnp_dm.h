// The options and entry point of src/samplers/pnp_dm.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// PnP-DM (Wu, Sun, Chen, Zhang, Yue & Bouman, NeurIPS 2024, "Principled Probabilistic Imaging using
// Diffusion Models as Plug-and-Play Priors", Alg. 1; github zihuiwu/PnP-DM-public pnpdm/samplers/pnp_edm/,
// commands.sh): split Gibbs sampling of p(x, z | y) ∝ p(y | z) p(x) N(z; x, rho_k^2 I),
// rho_k = max(rho * rho_decay^k, rho_min): z ~ p(z | x, y) (likelihood step), then x ~ p(x0 | x0 + rho_k n = z)
// by the reverse SDE (EDM Euler-Maruyama) on the sampler's grid, entered at its first sigma below rho_k.
struct PnpDmOptions {
  int iterations = 100;
  double rho = 10.0;
  double rho_decay = 0.9;
  double rho_min = 0.3;
  int langevin_steps = 100;
  double langevin_lr = 1e-4;
  void visit(OptionVisitor& v) {
    v("iterations", iterations, "split-Gibbs iterations K (PnP-DM: num_iters 100)");
    v("rho", rho, "initial coupling rho_0 (PnP-DM commands.sh: 10)");
    v("rho_decay", rho_decay, "rho_k = max(rho rho_decay^k, rho_min) (commands.sh: 0.9; 1 = fixed rho)");
    v("rho_min", rho_min, "floor of rho_k (commands.sh: 0.3 deblur/SR; 0.1 phase retrieval)");
    v("langevin_steps", langevin_steps, "nonlinear operators only: Langevin steps of the likelihood step "
      "(PnP-DM phase_retrieval.py proximal_generator: 100)");
    v("langevin_lr", langevin_lr, "nonlinear operators only: their step gamma (PnP-DM: 1e-4)");
  }
  void check(const std::string& who) const;
};
Tensor sample_pnp_dm(const SamplerContext& ctx, const PnpDmOptions& o);
// The two halves of one PnP-DM iteration (exposed for tests).
// Likelihood step: z ~ N(m, S), S = (A^T A / sigma_y^2 + I / rho^2)^-1, m = S (A^T y / sigma_y^2 + x / rho^2).
Tensor pnp_dm_likelihood_step(const SamplerContext& ctx, const PnpDmOptions& o, const Tensor& x, double rho,
                              at::Generator& gen);
// Prior step: the reverse SDE (EDM Euler-Maruyama) over the grid sigmas below rho, started at z.
Tensor pnp_dm_prior_step(const SamplerContext& ctx, const Tensor& z, double rho, at::Generator& gen);

}  // namespace diffinv

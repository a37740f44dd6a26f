// The options and entry point of src/samplers/daps.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// DAPS (Zhang et al., CVPR 2025, "Improving Diffusion Inverse Problem Solving with Decoupled Noise
// Annealing", Alg. 1; github zhangbingliang2019/DAPS sampler.py, cores/mcmc.py, configs/): per level
// sigma_i of the grid, x0_hat = a few Euler steps of the probability-flow ODE from sigma_i down to
// ode_sigma_min; Langevin on x0 against |x0 - x0_hat|^2/(2 r_i^2) + data term, r_i = sigma_i (no network
// calls); then x_{i+1} = x0 + sigma_{i+1} z. Defaults: DAPS-1K (200 levels x 5 ODE steps = 1000 NFE).
struct DapsOptions {
  int ode_steps = 5;
  double ode_sigma_min = 0.01;
  int langevin_steps = 100;
  double lr = 1e-4;
  double lr_min_ratio = 0.01;
  double tau = 0.01;
  std::string tau_rule = "max";
  std::string data_term = "paper";
  void visit(OptionVisitor& v) {
    v("ode_steps", ode_steps, "Euler steps of the probability-flow ODE per level (DAPS: diffusion_scheduler num_steps 5; "
      "one NFE each), on a rho-7 grid from sigma_i down to ode_sigma_min");
    v("ode_sigma_min", ode_sigma_min, "where the ODE stops (DAPS: 0.01); levels at or below it use x0_hat = x (no NFE)");
    v("langevin_steps", langevin_steps, "Langevin steps on x0 per level (DAPS: mcmc num_steps 100; no NFE)");
    v("lr", lr, "Langevin step eta at the first level (DAPS: 1e-4; 5e-5 box inpainting, motion blur, phase), "
      "times min(r_i^2, tau_eff^2)/tau^2 (= 1 in the reference's setting r_i >= tau = tau_eff)");
    v("lr_min_ratio", lr_min_ratio, "eta decays linearly to lr * lr_min_ratio: factor 1 - (1 - lr_min_ratio) i/(N+1) "
      "at level i of N (DAPS: get_lr, lr_min_ratio 0.01)");
    v("tau", tau, "measurement scale of the data term (DAPS: 0.01)");
    v("tau_rule", tau_rule, {"max", "fixed"},
      "max: tau_eff = max(tau, sigma_y) (the true likelihood when sigma_y > tau); fixed: tau_eff = tau (the reference)");
    v("data_term", data_term, {"paper", "code"},
      "paper: |A(x0) - y|^2/(2 tau_eff^2) (DAPS paper's N(y; A(x0), tau^2 I), InverseBench's port); code: "
      "|A(x0) - y|^2/tau_eff^2 (DAPS code: -grad|r|^2/tau^2 in cores/mcmc.py)");
  }
  void check(const std::string& who) const;
};
Tensor sample_daps(const SamplerContext& ctx, const DapsOptions& o);
// One DAPS level (exposed for tests): the ODE estimate, the Langevin chain (eta, r, tau_eff already
// resolved) and the re-noising to sigma_next. Returns {x_next, x0}.
struct DapsLevel {
  Tensor x_next, x0, x0_hat;
};
DapsLevel daps_level(const SamplerContext& ctx, const DapsOptions& o, const Tensor& x, double sigma,
                     double sigma_next, double eta, at::Generator& gen);

}  // namespace diffinv

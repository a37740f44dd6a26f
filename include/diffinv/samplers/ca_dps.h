// The options and entry point of src/samplers/ca_dps.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"
#include "diffinv/samplers/cg_settings.h"

namespace diffinv {

// CA-DPS (Hamidi & Yang, AAAI 2025, "Enhancing Diffusion Models for Inverse Problems with
// Covariance-Aware Posterior Sampling", eq. for Cov[x0|x_t] = (1-abar)/abar (I - sqrt(1-abar) d eps/dx)):
// Type I guidance (Peng et al. 2024 eq. 9) with Sigma = sigma^2 diag(J), J = dD/dx, the diagonal
// estimated by a finite difference along Rademacher probes v: diag(J) ≈ v ⊙ (D(x + h v) - D(x))/h,
// h = fd_step * sigma (one extra NFE per probe), clipped to [0, max_jacobian]; then DDPM's ancestral
// step from x0_y.
struct CaDpsOptions {
  double scale = 1.0;
  int probes = 1;
  double fd_step = 0.01;
  double max_jacobian = 1.0;
  double eta = 1.0;
  CgSettings cg;
  void visit(OptionVisitor& v) {
    v("scale", scale,
      "weight of the Gaussian likelihood score sigma^2 J^T A^T C^-1 r (1 = the exact Type I update; the paper: "
      "no tuning)");
    v("probes", probes, "Rademacher probes of the Jacobian diagonal, one extra NFE each (paper: finite differences, "
      "one extra NFE per step)");
    v("fd_step", fd_step, "finite-difference step h = fd_step * sigma (forward difference; error O(h/sigma))");
    v("max_jacobian", max_jacobian,
      "clip diag(J) to [0, max_jacobian]: Cov[x0|x] is PSD (>= 0); J <= I for log-concave priors (Gaussian: "
      "J = S (S + sigma^2 I)^-1)");
    v("eta", eta, "DDIM stochasticity of the outer step (1 = DDPM ancestral, as DPS)");
    cg.visit(v);
  }
  void check(const std::string& who) const;
};
Tensor sample_ca_dps(const SamplerContext& ctx, const CaDpsOptions& o);

}  // namespace diffinv

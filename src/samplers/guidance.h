// Likelihood-guidance terms shared by DPS, DMPS, their hybrid and CA-DPS.
#pragma once
#include "diffinv/sampler.h"
#include "steps.h"

namespace diffinv {

// DPS (Chung 2023, Alg. 1 line 7): ancestral - zeta * grad_x |y - A(mu)|, zeta in VP units.
Tensor dps_guided_step(const SamplerContext& ctx, const steps::Tracked& t, double sigma, double sigma_next,
                       double zeta, const Tensor& ancestral);

// DMPS (Meng 2022, eq. 12) in VE form: the VP update (1 - alpha_t)/sqrt(alpha_t) * scale * score
// becomes scale * (sigma^2 - sigma_next^2) * A^T (sigma_y^2 I + sigma^2 A A^T)^{-1} (y - A x).
Tensor dmps_likelihood_step(const SamplerContext& ctx, const Tensor& x, double sigma, double sigma_next,
                            double scale);

// CA-DPS's covariance estimate: diag(J), J = dD/dx at (x, sigma), by forward finite differences along
// `probes` Rademacher vectors v (Hutchinson's diagonal estimator, Bekas et al. 2007):
//   diag(J) ≈ mean_k v_k ⊙ (D(x + h v_k, sigma) - mu) / h,  h = fd_step * sigma,
// exact (up to rounding) when J is diagonal and D linear; otherwise unbiased up to O(h) with variance
// sum_{j != i} J_ij^2 per probe. `probes` extra NFEs, batched, no graph. mu = D(x, sigma).
Tensor jacobian_diagonal(Denoiser& denoiser, const Tensor& x, const Tensor& mu, double sigma, int probes,
                         double fd_step, at::Generator& gen);

}  // namespace diffinv

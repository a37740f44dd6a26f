// Likelihood-guidance terms shared by DPS, DMPS and their hybrid.
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

}  // namespace diffinv

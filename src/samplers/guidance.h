// Likelihood-guidance terms shared by DPS, DMPS, their hybrid, CA-DPS, MCG and measurement replacement.
#pragma once
#include "diffinv/sampler.h"
#include "steps.h"

namespace diffinv {

// DPS (Chung 2023, Alg. 1 line 7): grad_x |y - A(mu)| through the denoiser, mu = D(x) tracked in t; with
// clip > 0, mu clamped to [-clip, clip] inside the gradient (steps::clip_x0, the DPS code's clip_denoised).
// The step is x_{i-1} = x'_{i-1} - zeta * steps::vp_gradient_scale(sigma, sigma_next) * this (zeta in VP units).
// `weights` (when defined) multiply the residual entries: Poisson noise (dps_residual_weights).
Tensor dps_residual_gradient(const Operator& A, const Tensor& y, const steps::Tracked& t, double clip = 0.0,
                             const Tensor& weights = {});

// DPS's Poisson case (Chung 2023, §3.2 eq. 16): the residual in the norm |y - A(mu)|_Lambda with
// Lambda = diag(1 / Var[y_j]) (InverseProblem::poisson_variance), normalised by each sample's mean
// variance so that zeta keeps its Gaussian meaning: weights sqrt(mean_j Var[y_j] / Var[y_j]).
// Undefined (unweighted) for Gaussian noise.
Tensor dps_residual_weights(const InverseProblem& problem);

// DMPS (Meng 2022, eq. 12) in VE form: the VP update (1 - alpha_t)/sqrt(alpha_t) * scale * score
// becomes scale * (sigma^2 - sigma_next^2) * A^T (sigma_y^2 I + sigma^2 A A^T)^{-1} (y - A x).
Tensor dmps_likelihood_step(const LinearOperator& A, const Tensor& y, double sigma_y, const Tensor& x, double sigma,
                            double sigma_next, double scale);

// CA-DPS's covariance estimate: diag(J), J = dD/dx at (x, sigma), by forward finite differences along
// `probes` Rademacher vectors v (Hutchinson's diagonal estimator, Bekas et al. 2007):
//   diag(J) ≈ mean_k v_k ⊙ (D(x + h v_k, sigma) - mu) / h,  h = fd_step * sigma,
// exact (up to rounding) when J is diagonal and D linear; otherwise unbiased up to O(h) with variance
// sum_{j != i} J_ij^2 per probe. `probes` extra NFEs, batched, no graph. mu = D(x, sigma).
Tensor jacobian_diagonal(Denoiser& denoiser, const Tensor& x, const Tensor& mu, double sigma, int probes,
                         double fd_step, at::Generator& gen);

// Replaces the measured part of a state at noise level sigma by a forward-noised measurement
// (Score-SDE / ILVR replacement; MCG's projection). In VE form x_sigma = x0 + sigma n, so the
// measured part of x_sigma is A^+ A x_sigma = A^+ A x0 + sigma A^+ A n = A^+ y + sigma A^+ A n for
// y = A x0 (A^+ A is the orthogonal projector onto the row space). Hence
//   x <- (I - A^+ A) x + A^+ y_sigma,   y_sigma = y + sigma A z,   z ~ N(0, I) in x-space,
// which keeps the unmeasured part and draws the measured part from p(A^+ A x_sigma | y) exactly
// (A z gives y_sigma the covariance sigma^2 A A^T of A x_sigma; for a mask or any A with A A^T = I
// it is i.i.d. noise in measurement space, as DPS's q_sample of y). sigma = 0 gives A x = A A^+ y.
// The measurement noise of y (sigma_y) is not accounted for, as in the original methods.
Tensor replace_measured_part(const LinearOperator& A, const Tensor& x, const Tensor& y, double sigma,
                             at::Generator& gen);

}  // namespace diffinv

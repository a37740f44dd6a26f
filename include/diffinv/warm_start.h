// CCDF warm start — Chung, Sim & Ye, "Come-Closer-Diffuse-Faster: Accelerating Conditional
// Diffusion Models for Inverse Problems through Stochastic Contraction", CVPR 2022
// (forward-diffuse an initial estimate to t0 and run the reverse process from there, N' = t0 N
// steps). Works with every sampler: it only changes the grid and x_init of a SamplerContext.
#pragma once
#include <ATen/core/Generator.h>

#include <vector>

#include "diffinv/sampler.h"

namespace diffinv {

struct WarmStart {
  std::vector<double> sigmas;  // the grid from the start sigma down, ending in 0
  Tensor x_init;               // x_hat + sigma_start * z
};

// Keeps the last round(t0 * N) of the N steps of `sigmas` (at least one), t0 in (0, 1], and
// forward-diffuses `x_hat` [B, ...] to the first kept sigma with noise from `gen`.
// t0 = 1 is the plain sampler: the full grid and x_init = sigma_max z, the same draw a plain start
// makes (in VP form the estimate enters as sqrt(abar_T) x_hat ≈ 0.006 x_hat, dropped here so that
// the two coincide exactly).
WarmStart ccdf_warm_start(const std::vector<double>& sigmas, double t0, const Tensor& x_hat, at::Generator& gen);

// CCDF's default initial estimate: A^+ y (exact for SVD operators, conjugate gradient otherwise),
// shaped like `like` [B, ...]. Throws for a nonlinear operator (pass an estimate of your own).
Tensor ccdf_initial_estimate(const InverseProblem& problem, const Tensor& like);

}  // namespace diffinv

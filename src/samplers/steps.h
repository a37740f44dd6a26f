// Pieces every sampler shares: the VE DDIM step, the VP step-size conversion and tracked denoising.
#pragma once
#include <ATen/core/Generator.h>

#include <cmath>
#include <string>
#include <vector>

#include "diffinv/denoiser.h"
#include "diffinv/rng.h"
#include "diffinv/sampler.h"

namespace diffinv::steps {

// DDIM noise std in VE form: c = eta * sigma_next * sqrt(1 - sigma_next^2 / sigma^2)
// (Song 2021 eq. 16 divided by sqrt(abar_{t-1})); eta = 1 is DDPM's posterior std.
double ddim_noise_std(double sigma, double sigma_next, double eta);

// x_next = x0 + sqrt(sigma_next^2 - c^2) (x - x0) / sigma + c z.
Tensor ddim(const Tensor& x, const Tensor& x0, double sigma, double sigma_next, double eta, at::Generator& gen);

// DDIM's eta for DDPM's ancestral step (Song 2021: eta = 1 is Ho et al.'s posterior std).
constexpr double kAncestralEta = 1.0;

// A VP-state gradient step x_vp -= zeta grad_{x_vp} L is x -= zeta * this * grad_x L in VE (DESIGN §5).
double vp_gradient_scale(double sigma, double sigma_next);

// mu = D(x, sigma) with a graph back to a fresh leaf copy of x.
struct Tracked {
  Tensor x, mu;
};
// With x0_variance non-null the same NFE also returns the learned diagonal Var[x0 | x]
// (Denoiser::denoise_with_variance, detached), as OPC's "convert" covariance needs.
Tracked denoise_tracked(Denoiser& denoiser, const Tensor& x, double sigma, Tensor* x0_variance = nullptr);
// J^T v for mu = D(x): the gradient of <mu, v> with v held fixed.
Tensor vjp(const Tracked& t, const Tensor& cotangent);
// grad_x of a per-sample scalar loss [B] (each sample's gradient is its own).
Tensor grad_of(const Tracked& t, const Tensor& per_sample_loss);

Tensor denoise(Denoiser& denoiser, const Tensor& x, double sigma, Tensor* x0_variance = nullptr);  // no graph

// guided-diffusion's clip_denoised: x0 clamped to [-clip, clip] when clip > 0, else unchanged
// (differentiable: zero gradient where clamped). Throws for a negative or non-finite clip.
Tensor clip_x0(const Tensor& x0, double clip);

// Tweedie's score of p_sigma: grad log p_sigma(x) = (D(x, sigma) - x) / sigma^2 (no graph).
Tensor score(Denoiser& denoiser, const Tensor& x, double sigma);

// Annealed Langevin dynamics (Song & Ermon 2019, Alg. 1): step size c * sigma^2 / sigma_L^2 at
// level sigma, sigma_L the smallest level. The levels of a grid are its positive sigmas.
double langevin_step_size(double c, double sigma, double sigma_last);
double smallest_level(const SamplerContext& ctx);
// After the last level, NCSN's final denoising x <- x + sigma_L^2 score(x, sigma_L) = D(x, sigma_L)
// (one more NFE); without it the output keeps its sigma_L noise.
Tensor finish_langevin(const SamplerContext& ctx, const Tensor& x, bool denoise_last);

// The steps of a grid, sigmas[i] -> sigmas[i + 1], for a plain loop:
//   for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) { ... }
struct GridStep {
  int i = 0;
  double sigma = 0, sigma_next = 0;
};
std::vector<GridStep> grid_steps(const std::vector<double>& sigmas);

// Time travel (DDNM, Wang et al. 2023 §3.4 / Alg. 2; RePaint's resampling, Lugmayr et al. 2022): the grid
// indices visited when, after reaching each index steps - 1 - j for j = 0, L, 2L, ... < steps - L, the
// sampler goes back L indices (forward diffusion) and re-runs those steps, travel_repeat - 1 times. The
// same schedule as RePaint's get_schedule_jump with t = steps - 1 - index; travel_repeat = 1 is no travel.
std::vector<int> time_travel_indices(int steps, int travel_length, int travel_repeat, const std::string& who);

// Walks time_travel_indices over a grid for a plain loop:
//   for (steps::GridStep step; travel.next(x, gen, step);) { const auto& [i, s, sn] = step; ... }
// next() makes the jumps back itself, re-noising x from index a up to b < a by the forward process
// x <- x + sqrt(sigma_b^2 - sigma_a^2) z (VE form), and stops at each down step.
class TimeTravel {
 public:
  TimeTravel(const std::vector<double>& sigmas, int travel_length, int travel_repeat, const std::string& who);
  bool next(Tensor& x, at::Generator& gen, GridStep& step);  // false after the last step

 private:
  const std::vector<double>& sigmas_;
  std::vector<int> indices_;
  size_t k_ = 0;
};

// The singular values of an SVD operator as DDRM and DDNM+ use them: [B or 1, m], which are
// nonzero, and a copy safe to divide by (1 where zero).
struct Spectrum {
  Tensor values, measured, safe_values;
};
Spectrum spectrum_of(const SvdOperator& H);

}  // namespace diffinv::steps

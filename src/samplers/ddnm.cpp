// DDNM — Wang, Yu & Zhang, "Zero-Shot Image Restoration Using Denoising Diffusion Null-Space
// Model", ICLR 2023. DDNM: eq. 13, x0_hat = x0 - A^+ (A x0 - y), then a DDIM step.
// DDNM+: eq. 17-19, x0_hat = x0 - Sigma_t A^+ (A x0 - y) with Sigma_t = V diag(lambda_i) V^T, and
// the step's fresh noise reduced to gamma_i so that the noise carried in from y plus the fresh
// noise equals the DDIM noise budget c per spectral coordinate.
// Both: optional time travel (§3.4, Alg. 2): go back travel_length steps by forward diffusion and redo
// them, travel_repeat - 1 extra times per block (steps::time_travel_indices).
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/rng.h"
#include "diffinv/samplers/ddnm.h"
#include "steps.h"

namespace diffinv {

void DdnmOptions::check(const std::string& who) const {
  require_in_range(eta, 0, 1, "eta", who);
  require_at_least(travel_length, 1, "travel_length", who);
  require_at_least(travel_repeat, 1, "travel_repeat", who);
}

Tensor sample_ddnm(const SamplerContext& ctx, const DdnmOptions& o) {
  const auto& A = ctx.problem.linear("ddnm");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  steps::TimeTravel travel(ctx.sigmas, o.travel_length, o.travel_repeat, "ddnm");  // §3.4, Alg. 2
  for (steps::GridStep step; travel.next(x, gen, step);) {
    const auto& [i, s, sn] = step;  // sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::denoise(ctx.denoiser, x, s);
    const Tensor x0_hat = x0 - A.pinv(A.forward(x0) - ctx.problem.y);
    ctx.report(i, x0_hat);
    x = steps::ddim(x, x0_hat, s, sn, o.eta, gen);
  }
  return x;
}

Tensor sample_ddnm_plus(const SamplerContext& ctx, const DdnmOptions& o) {
  const auto& H = ctx.problem.svd("ddnm+");
  at::Generator gen = ctx.generator;
  const double sy = ctx.problem.sigma_y;
  const auto spectrum = steps::spectrum_of(H);
  const Tensor &sv = spectrum.values, &measured = spectrum.measured, &safe_sv = spectrum.safe_values;
  const Tensor u = H.Ut(ctx.problem.y);
  Tensor x = ctx.x_init;
  steps::TimeTravel travel(ctx.sigmas, o.travel_length, o.travel_repeat, "ddnm+");  // §3.4, Alg. 2
  for (steps::GridStep step; travel.next(x, gen, step);) {
    const auto& [i, s, sn] = step;  // sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::denoise(ctx.denoiser, x, s);
    // x_next = a x0_hat + k x + noise with a = 1 - k (VE DDIM): y's noise reaches x_next as a*sigma_y/s_i.
    const double c = steps::ddim_noise_std(s, sn, o.eta);
    const double k = std::sqrt(std::max(0.0, sn * sn - c * c)) / s;
    const double a = 1 - k;
    const Tensor carried = (a * sy) / safe_sv;  // std of y's noise in x_next along v_i
    const Tensor full = carried <= c;
    const Tensor lambda = at::where(full, at::ones_like(sv), c / carried.clamp_min(1e-30));
    const Tensor gamma = at::where(full,  // gamma_i of eq. 19: the fresh noise left in the budget
                                      (c * c - carried * carried).clamp_min(0).sqrt(), at::zeros_like(sv));
    const Tensor h0 = H.Vt_head(x0);
    const Tensor correction = at::where(measured, lambda * (h0 * sv - u) / safe_sv, at::zeros_like(h0));
    const Tensor x0_hat = x0 - H.V(correction).view_as(x);
    ctx.report(i, x0_hat);
    if (sn <= 0) {
      x = x0_hat;
      continue;
    }
    // Fresh noise c z everywhere, reduced to gamma_i along the measured directions (eq. 19).
    const Tensor z = randn_like(x, gen);
    const Tensor zh = H.Vt_head(z);
    const Tensor noise = z * c + H.V(at::where(measured, zh * (gamma - c), at::zeros_like(zh))).view_as(x);
    x = x0_hat * a + x * k + noise;
  }
  return x;
}

}  // namespace diffinv

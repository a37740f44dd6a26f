// DDRM — Kawar et al., "Denoising Diffusion Restoration Models", NeurIPS 2022, eq. 7-8 (VE form,
// as in the paper). In the SVD domain, with x̄ = V^T x, ȳ_i = (U^T y)_i / s_i:
//   s_i = 0:                     x̄'_i = x̄0_i + sqrt(1-eta^2) s' (x̄_i - x̄0_i)/s + eta s' z
//   s' <  sigma_y/s_i:           x̄'_i = x̄0_i + sqrt(1-eta^2) s' (ȳ_i - x̄0_i)/(sigma_y/s_i) + eta s' z
//   s' >= sigma_y/s_i:           x̄'_i = (1-eta_b) x̄0_i + eta_b ȳ_i + sqrt(s'^2 - eta_b^2 sigma_y^2/s_i^2) z
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/rng.h"
#include "diffinv/samplers/ddrm.h"
#include "steps.h"

namespace diffinv {

void DdrmOptions::check(const std::string& who) const {
  require_in_range(eta, 0, 1, "eta", who);
  require_in_range(eta_b, 0, 1, "eta_b", who);
}

Tensor sample_ddrm(const SamplerContext& ctx, const DdrmOptions& o) {
  const auto& H = ctx.problem.svd("ddrm");
  at::Generator gen = ctx.generator;
  const double sy = ctx.problem.sigma_y;
  const auto spectrum = steps::spectrum_of(H);
  const Tensor &sv = spectrum.values, &measured = spectrum.measured, &safe_sv = spectrum.safe_values;
  const Tensor y_bar = H.Ut(ctx.problem.y) / safe_sv;
  const Tensor y_noise = sy / safe_sv;  // sigma_y / s_i: the noise of ȳ_i
  const double keep = std::sqrt(std::max(0.0, 1 - o.eta * o.eta));
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::denoise(ctx.denoiser, x, s);
    ctx.report(i, x0);
    // Unmeasured coordinates follow plain DDIM, which is the same formula in x-space; only the
    // m measured coordinates are then replaced (cheap when m << n).
    const Tensor z = randn_like(x, gen);
    const Tensor x_ddim = x0 + (x - x0) * (keep * sn / s) + z * (o.eta * sn);
    const Tensor h0 = H.Vt_head(x0), hd = H.Vt_head(x_ddim), zh = H.Vt_head(z);
    const Tensor noisy_y = y_noise > sn;  // y is noisier than the target level
    const Tensor safe_y_noise = at::where(noisy_y, y_noise, at::ones_like(y_noise));
    const Tensor below = h0 + (y_bar - h0) * (keep * sn) / safe_y_noise + zh * (o.eta * sn);
    const Tensor above = h0 * (1 - o.eta_b) + y_bar * o.eta_b +
                         zh * (sn * sn - o.eta_b * o.eta_b * y_noise * y_noise).clamp_min(0).sqrt();
    const Tensor head = at::where(measured, at::where(noisy_y, below, above), hd);
    x = x_ddim + H.V(head - hd).view_as(x);
  }
  return x;
}

}  // namespace diffinv

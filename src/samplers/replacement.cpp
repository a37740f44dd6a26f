// Measurement replacement — Song et al., "Score-Based Generative Modeling through Stochastic
// Differential Equations", ICLR 2021, App. I.2 (imputation: replace the known part of x_t by a
// noised copy of the measurement after every reverse step), and its linear-operator form in ILVR
// (Choi et al., ICCV 2021, Alg. 1: x_{t-1} <- (I - P) x'_{t-1} + P y_{t-1}, P the projector onto the
// measured part). For a linear A, P = A^+ A and P y_{t-1} = A^+ y_{t-1}; the VE derivation of the
// noised measurement is in guidance.h (replace_measured_part).
#include <ATen/ATen.h>

#include "diffinv/rng.h"
#include "diffinv/samplers/replacement.h"
#include "guidance.h"

namespace diffinv {

Tensor replace_measured_part(const LinearOperator& A, const Tensor& x, const Tensor& y, double sigma,
                             at::Generator& gen) {
  Tensor y_sigma = y;
  if (sigma > 0) y_sigma = y + A.forward(randn_like(x, gen)) * sigma;
  // (I - A^+ A) x + A^+ y_sigma = x - A^+ (A x - y_sigma): one pseudo-inverse.
  return x - A.pinv(A.forward(x) - y_sigma);
}

void ReplacementOptions::check(const std::string& who) const { require_in_range(eta, 0, 1, "eta", who); }

Tensor sample_replacement(const SamplerContext& ctx, const ReplacementOptions& o) {
  const auto& A = ctx.problem.linear("replacement");
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::denoise(ctx.denoiser, x, s);
    ctx.report(i, x0);
    x = replace_measured_part(A, steps::ddim(x, x0, s, sn, o.eta, gen), ctx.problem.y, sn, gen);
  }
  return x;
}

}  // namespace diffinv

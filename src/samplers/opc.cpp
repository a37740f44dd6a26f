// OPC — Peng, Qiu, Wang & Dai, "Improving Diffusion Models for Inverse Problems Using Optimal
// Posterior Covariance", ICML 2024. The posterior mean E[x0 | x_t, y] under the Gaussian
// approximation p(x0 | x_t) ≈ N(mu, Sigma), by Type I (eq. 9, likelihood score through a VJP) or
// Type II (eq. 10, proximal), inside a DDIM step, or inside Heun steps on a Karras grid
// (Karras et al. 2022, Alg. 2) as in the OPC code.
#include <cmath>

#include "diffinv/rng.h"
#include "diffinv/samplers.h"
#include "posterior_mean.h"

namespace diffinv {

namespace {
Tensor posterior_mean(const SamplerContext& ctx, const LinearOperator& A, int type, CovarianceSource source,
                      double lambda, const Tensor& x, double sigma) {
  const auto cov = make_covariance(source, ctx.denoiser, x, sigma, lambda);
  if (type == 1) {
    const auto t = steps::denoise_tracked(ctx.denoiser, x, sigma);
    return type1_posterior_mean(t, A, ctx.problem.y, ctx.problem.sigma_y, sigma, cov).detach();
  }
  return type2_posterior_mean(steps::denoise(ctx.denoiser, x, sigma), A, ctx.problem.y, ctx.problem.sigma_y, cov);
}

void check_type(int type) { require(type == 1 || type == 2, "opc: type must be 1 or 2, got " + std::to_string(type)); }
}  // namespace

Tensor sample_opc(const SamplerContext& ctx, const OpcOptions& o) {
  const auto& A = ctx.problem.linear("opc");
  check_type(o.type);
  const auto source = parse_covariance_source(o.covariance);
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  steps::for_each_step(ctx, [&](int i, double s, double sn) {
    const Tensor x0 = posterior_mean(ctx, A, o.type, source, o.lambda, x, s);
    ctx.report(i, x0);
    x = steps::ddim(x, x0, s, sn, o.eta, gen);
  });
  return x;
}

Tensor sample_opc_heun(const SamplerContext& ctx, const OpcHeunOptions& o) {
  const auto& A = ctx.problem.linear("opc-heun");
  check_type(o.type);
  const auto source = parse_covariance_source(o.covariance);
  at::Generator gen = ctx.generator;
  const int n = int(ctx.sigmas.size()) - 1;
  Tensor x = ctx.x_init;
  for (int i = 0; i < n; ++i) {
    double s = ctx.sigmas[i];
    const double sn = ctx.sigmas[i + 1];
    const double gamma = (s >= o.s_tmin && s <= o.s_tmax) ? std::min(o.churn / n, std::sqrt(2.0) - 1) : 0.0;
    if (gamma > 0) {
      const double s_hat = s * (1 + gamma);
      x = x + randn_like(x, gen) * (o.s_noise * std::sqrt(s_hat * s_hat - s * s));
      s = s_hat;
    }
    const Tensor x0 = posterior_mean(ctx, A, o.type, source, o.lambda, x, s);
    ctx.report(i, x0);
    const Tensor d = (x - x0) / s;
    Tensor next = x + d * (sn - s);
    if (sn > 0) {
      const Tensor d_next = (next - posterior_mean(ctx, A, o.type, source, o.lambda, next, sn)) / sn;
      next = x + (d + d_next) * (0.5 * (sn - s));
    }
    x = next;
  }
  return x;
}

}  // namespace diffinv

// OPC — Peng, Qiu, Wang & Dai, "Improving Diffusion Models for Inverse Problems Using Optimal
// Posterior Covariance", ICML 2024. The posterior mean E[x0 | x_t, y] under the Gaussian
// approximation p(x0 | x_t) ≈ N(mu, Sigma), by Type I (eq. 9, likelihood score through a VJP) or
// Type II (eq. 10, proximal), inside a DDIM step, or inside Heun steps on a Karras grid
// (Karras et al. 2022, Alg. 2) as in the OPC code.
//
// Covariance sources (posterior_mean.h): exact, dps, pigdm, diffpir, and the two OPC ones used
// below `threshold` (VE sigma, the OPC code's mle_sigma_thres = 0.2) with PiGDM's r_t^2 I above it:
//   convert  - per-pixel Var[x0 | x_t] = (Var_theta[x_{t-1} | x_t] - beta_tilde_t)/c1_t^2 (eq. 22) from
//              the network's learned reverse variance of the training step t -> t-1 nearest sigma,
//              computed in the same NFE as mu (EpsDenoiser::denoise_with_variance; derivation in
//              denoiser.h). Non-isotropic: C^{-1} by CG (cg_tol, cg_iters) or densely for small y.
//   analytic - mse(sigma) I, the per-sigma denoiser MSE on data (eq. 19-20), from `mse_table`,
//              interpolated in log-sigma (mse_table.h). Isotropic: the operator's closed-form solve.
#include <cmath>
#include <memory>

#include "diffinv/rng.h"
#include "diffinv/samplers/opc.h"
#include "posterior_mean.h"

namespace diffinv {

namespace {

// Everything an OPC run fixes once: the source, its settings (with the loaded table) and CG.
struct OpcSetup {
  int type = 2;
  CovarianceSource source = CovarianceSource::Exact;
  std::shared_ptr<const MseTable> table;
  CovarianceSettings settings;
  ConjugateGradientOptions cg;
};

// The settings of an options struct that prepare() has checked and loaded (the MSE table).
OpcSetup make_setup(int type, const OpcCovarianceOptions& o) {
  OpcSetup s;
  s.type = type;
  s.source = parse_covariance_source(o.covariance);
  s.settings.diffpir_lambda = o.lambda;
  s.settings.threshold = o.threshold;
  s.table = o.table;
  s.settings.mse_table = o.table.get();
  s.cg = o.cg.cg();
  return s;
}

void require_type(int type, const std::string& who) {
  require(type == 1 || type == 2, who + ": type must be 1 or 2, got " + std::to_string(type));
}

Tensor posterior_mean(const SamplerContext& ctx, const LinearOperator& A, const OpcSetup& s, const Tensor& x,
                      double sigma) {
  CovarianceSettings settings = s.settings;
  Tensor* variance = uses_learned_variance(s.source, sigma, settings) ? &settings.x0_variance : nullptr;
  const auto& y = ctx.problem.y;
  const double sigma_y = ctx.problem.sigma_y;
  if (s.type == 1) {
    const auto t = steps::denoise_tracked(ctx.denoiser, x, sigma, variance);
    const auto cov = make_covariance(s.source, ctx.denoiser, x, sigma, settings);
    return type1_posterior_mean(t, A, y, sigma_y, sigma, cov, &s.cg).detach();
  }
  const Tensor mu = steps::denoise(ctx.denoiser, x, sigma, variance);
  const auto cov = make_covariance(s.source, ctx.denoiser, x, sigma, settings);
  return type2_posterior_mean(mu, A, y, sigma_y, cov, &s.cg);
}

}  // namespace

void OpcCovarianceOptions::check(const std::string& who) const { cg.check(who); }

void OpcCovarianceOptions::prepare(const DenoiserCapabilities& capabilities, const std::string& who) {
  const CovarianceSource source = parse_covariance_source(covariance);
  if (source == CovarianceSource::Analytic) {
    require(!mse_table.empty(), who + ": covariance 'analytic' needs mse_table=FILE (diffinv estimate-variance)");
    table = std::make_shared<const MseTable>(MseTable::load(mse_table));
  }
  CovarianceSettings settings;
  settings.diffpir_lambda = lambda;
  settings.threshold = threshold;
  settings.mse_table = table.get();
  check_covariance_source(source, capabilities, settings, who);
}

void OpcOptions::check(const std::string& who) const {
  require_type(type, who);
  cov.check(who);
  require_in_range(eta, 0, 1, "eta", who);
  require_at_least(clip, 0, "clip", who);
}

void OpcHeunOptions::check(const std::string& who) const {
  require_type(type, who);
  cov.check(who);
  require_at_least(churn, 0, "churn", who);
  require_at_least(s_noise, 0, "s_noise", who);
  require_at_least(clip, 0, "clip", who);
}

Tensor sample_opc(const SamplerContext& ctx, const OpcOptions& o) {
  const auto& A = ctx.problem.linear("opc");
  const OpcSetup setup = make_setup(o.type, o.cov);
  at::Generator gen = ctx.generator;
  Tensor x = ctx.x_init;
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // step i: sigma_i = s -> sigma_{i+1} = sn
    const Tensor x0 = steps::clip_x0(posterior_mean(ctx, A, setup, x, s), o.clip);
    ctx.report(i, x0);
    x = steps::ddim(x, x0, s, sn, o.eta, gen);
  }
  return x;
}

Tensor sample_opc_heun(const SamplerContext& ctx, const OpcHeunOptions& o) {
  const auto& A = ctx.problem.linear("opc-heun");
  const OpcSetup setup = make_setup(o.type, o.cov);
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
    const Tensor x0 = steps::clip_x0(posterior_mean(ctx, A, setup, x, s), o.clip);
    ctx.report(i, x0);
    const Tensor d = (x - x0) / s;
    Tensor next = x + d * (sn - s);
    if (sn > 0) {
      const Tensor d_next = (next - steps::clip_x0(posterior_mean(ctx, A, setup, next, sn), o.clip)) / sn;
      next = x + (d + d_next) * (0.5 * (sn - s));
    }
    x = next;
  }
  return x;
}

}  // namespace diffinv

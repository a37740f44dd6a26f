// Every sampler as a typed function (DESIGN §5). The member initialisers are the published
// defaults; `visit` names and documents each field for the CLI and the sampler table.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// Unconditional DDIM (Song 2021, eq. 12) in VE form; eta = 1 is DDPM's ancestral step.
struct DdimOptions {
  double eta = 0.0;
  void visit(OptionVisitor& v) { v("eta", eta, "DDIM stochasticity: 0 deterministic, 1 = DDPM ancestral"); }
};
Tensor sample_ddim(const SamplerContext& ctx, const DdimOptions& o);

struct DdpmOptions {
  void visit(OptionVisitor&) {}
};
Tensor sample_ddpm(const SamplerContext& ctx, const DdpmOptions& o);

// DPS (Chung et al. 2023, Alg. 1): ancestral step, then x -= zeta * grad |y - A(mu)|.
struct DpsOptions {
  double zeta = 1.0;
  void visit(OptionVisitor& v) {
    v("zeta", zeta, "step size on the residual norm in VP units (paper: 0.3 SR/blur, 0.5 inpainting, 1.0 phase)");
  }
};
Tensor sample_dps(const SamplerContext& ctx, const DpsOptions& o);

// ΠGDM (Song et al. 2023, eq. 7-8), noisy form: Type I guidance with Sigma = r_t^2 I.
struct PigdmOptions {
  double eta = 1.0;
  void visit(OptionVisitor& v) { v("eta", eta, "DDIM stochasticity of the outer step"); }
};
Tensor sample_pigdm(const SamplerContext& ctx, const PigdmOptions& o);

// DDRM (Kawar et al. 2022, eq. 7-8): per-singular-value update in the SVD domain.
struct DdrmOptions {
  double eta = 0.85;
  double eta_b = 1.0;
  void visit(OptionVisitor& v) {
    v("eta", eta, "noise of the unmeasured and noisier-than-y components");
    v("eta_b", eta_b, "weight of the measurement where it is less noisy than x_t");
  }
};
Tensor sample_ddrm(const SamplerContext& ctx, const DdrmOptions& o);

// DDNM (Wang et al. 2023, eq. 13): x0 <- x0 - A^+(A x0 - y), then a DDIM step.
struct DdnmOptions {
  double eta = 0.85;
  void visit(OptionVisitor& v) { v("eta", eta, "DDIM stochasticity"); }
};
Tensor sample_ddnm(const SamplerContext& ctx, const DdnmOptions& o);
// DDNM+ (eq. 17-19): the correction scaled per singular value so that measurement noise is absorbed
// by the step's own noise budget.
Tensor sample_ddnm_plus(const SamplerContext& ctx, const DdnmOptions& o);

// DiffPIR (Zhu et al. 2023, Alg. 1): prox data step with rho_t = lambda sigma_y^2 / (4 sigma_t^2),
// then re-noise mixing the implied noise and fresh noise with zeta.
struct DiffpirOptions {
  double lambda = 1.0;
  double zeta = 1.0;
  void visit(OptionVisitor& v) {
    v("lambda", lambda, "weight of the prior in the data step (paper: 1-7)");
    v("zeta", zeta, "fraction of fresh noise when re-noising (paper: 0.1 SR/blur, 1.0 inpainting)");
  }
};
Tensor sample_diffpir(const SamplerContext& ctx, const DiffpirOptions& o);

// DMPS (Meng & Kabashima 2022, eq. 11-13): ancestral step plus the closed-form score of the
// uninformative-prior likelihood N(y; A x, sigma_y^2 I + sigma^2 A A^T).
struct DmpsOptions {
  double scale = 1.75;
  void visit(OptionVisitor& v) { v("scale", scale, "weight of the likelihood score"); }
};
Tensor sample_dmps(const SamplerContext& ctx, const DmpsOptions& o);

// covariance=exact reads Cov[x0|x] from the prior: only analytic priors (Gaussian, GMM) have it.
void check_covariance_source(const std::string& covariance, const DenoiserCapabilities& capabilities,
                             const std::string& who);

// OPC (Peng et al. 2024): Type I or Type II posterior mean with a chosen covariance, inside a
// DDIM step (sample_opc) or Heun steps on a Karras grid (sample_opc_heun, EDM Alg. 2).
struct OpcOptions {
  int type = 2;
  std::string covariance = "exact";
  double lambda = 1.0;
  double eta = 1.0;
  void visit(OptionVisitor& v) {
    v("type", type, "1: likelihood score through one VJP; 2: proximal, no VJP");
    v("covariance", covariance, {"exact", "dps", "pigdm", "diffpir"},
      "Sigma: exact Cov[x0|x] (analytic priors), 0 (DPS), r_t^2 I (PiGDM), sigma^2/lambda I (DiffPIR)");
    v("lambda", lambda, "lambda of the diffpir covariance");
    v("eta", eta, "DDIM stochasticity of the outer step");
  }
  void check_denoiser(const DenoiserCapabilities& c, const std::string& who) const {
    check_covariance_source(covariance, c, who);
  }
};
Tensor sample_opc(const SamplerContext& ctx, const OpcOptions& o);

struct OpcHeunOptions {
  int type = 2;
  std::string covariance = "exact";
  double lambda = 1.0;
  double churn = 0.0;
  double s_noise = 1.0;
  double s_tmin = 0.0;
  double s_tmax = 1e30;
  void visit(OptionVisitor& v) {
    v("type", type, "1: likelihood score through one VJP; 2: proximal, no VJP");
    v("covariance", covariance, {"exact", "dps", "pigdm", "diffpir"}, "posterior covariance source (see opc)");
    v("lambda", lambda, "lambda of the diffpir covariance");
    v("churn", churn, "EDM S_churn: total stochasticity over the grid (0 = deterministic ODE)");
    v("s_noise", s_noise, "EDM S_noise: std of the churn noise");
    v("s_tmin", s_tmin, "EDM S_tmin: churn only for sigma >= s_tmin");
    v("s_tmax", s_tmax, "EDM S_tmax: churn only for sigma <= s_tmax");
  }
  void check_denoiser(const DenoiserCapabilities& c, const std::string& who) const {
    check_covariance_source(covariance, c, who);
  }
};
Tensor sample_opc_heun(const SamplerContext& ctx, const OpcHeunOptions& o);

// The DPS -> DMPS hybrid: DPS until x0_hat stops moving (PSNR between consecutive estimates
// >= switch_psnr, per sample), DMPS after it, saving the VJPs.
struct HybridOptions {
  double zeta = 1.0;
  double scale = 1.75;
  double switch_psnr = 20.0;
  double peak = 2.0;
  void visit(OptionVisitor& v) {
    v("zeta", zeta, "DPS step size before the switch");
    v("scale", scale, "DMPS likelihood weight after the switch");
    v("switch_psnr", switch_psnr, "switch once PSNR(x0_hat_k, x0_hat_k-1) reaches this many dB");
    v("peak", peak, "peak-to-peak signal range in that PSNR (2 for images on [-1, 1])");
  }
};
Tensor sample_dps_dmps_hybrid(const SamplerContext& ctx, const HybridOptions& o);

}  // namespace diffinv

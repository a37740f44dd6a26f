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

// MCG (Chung et al. 2022): DPS's step, then the measured part replaced by the noised measurement.
struct McgOptions {
  double zeta = 1.0;
  void visit(OptionVisitor& v) {
    v("zeta", zeta, "step size on the residual norm in VP units (DPS code's 'mcg' scale default, MCG's alpha = 1)");
  }
};
Tensor sample_mcg(const SamplerContext& ctx, const McgOptions& o);

// Score-SDE / ILVR replacement: an unconditional DDIM(eta) step, then the measured part of x
// replaced by A^+ y + sigma_next A^+ A z.
struct ReplacementOptions {
  double eta = 1.0;
  void visit(OptionVisitor& v) { v("eta", eta, "stochasticity of the unconditional step: 1 = ancestral (the papers)"); }
};
Tensor sample_replacement(const SamplerContext& ctx, const ReplacementOptions& o);

// RED-diff (Mardani et al. 2023, Alg. 1): Adam on mu against |y - A mu|^2/2 plus
// lambda * sigma_t * <sg(eps_hat - eps), mu>; no VJP through the denoiser. Defaults: NVlabs/RED-diff
// _configs/algo/reddiff.yaml and algos/reddiff.py.
struct RedDiffOptions {
  double lr = 0.1;
  double lambda = 0.25;
  double obs_weight = 1.0;
  double beta1 = 0.9;
  double beta2 = 0.99;
  void visit(OptionVisitor& v) {
    v("lr", lr, "Adam learning rate");
    v("lambda", lambda, "weight of the denoiser regulariser (grad_term_weight), times sigma_t (1/SNR 'linear')");
    v("obs_weight", obs_weight, "weight of the data term |y - A mu|^2/2");
    v("beta1", beta1, "Adam beta1");
    v("beta2", beta2, "Adam beta2 (RED-diff uses 0.99, not torch's 0.999)");
  }
};
Tensor sample_red_diff(const SamplerContext& ctx, const RedDiffOptions& o);

// SNIPS (Kawar, Vaksman & Elad 2021, Alg. 1): annealed Langevin in the SVD domain of A with a
// step size per singular value. Defaults: snips_torch configs/celeba.yml (NCSNv2 CelebA).
struct SnipsOptions {
  double c = 3.3e-6;
  int steps_per_level = 5;
  bool denoise = true;
  void visit(OptionVisitor& v) {
    v("c", c, "Langevin step size at the smallest level (step_lr); level sigma steps c sigma^2/sigma_L^2");
    v("steps_per_level", steps_per_level, "Langevin steps per noise level (n_steps_each, tau)");
    v("denoise", denoise, "finish with D(x, sigma_L) (NCSN's final denoising, one more NFE)");
  }
};
Tensor sample_snips(const SamplerContext& ctx, const SnipsOptions& o);

// Annealed Langevin posterior sampling (Jalal et al. 2021): Langevin steps with
// score + A^T (y - A x) / (sigma_y^2 + sigma_t^2), several per level, step c sigma^2 / sigma_L^2.
struct LangevinOptions {
  double c = 3.3e-6;
  int steps_per_level = 5;
  bool denoise = true;
  void visit(OptionVisitor& v) {
    v("c", c, "Langevin step size at the smallest level (NCSNv2 CelebA step_lr)");
    v("steps_per_level", steps_per_level, "Langevin steps per noise level (NCSNv2 CelebA n_steps_each)");
    v("denoise", denoise, "finish with D(x, sigma_L) (NCSN's final denoising, one more NFE)");
  }
};
Tensor sample_langevin(const SamplerContext& ctx, const LangevinOptions& o);

}  // namespace diffinv

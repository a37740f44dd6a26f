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
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("zeta", zeta, "step size on the residual norm in VP units (paper: 0.3 SR/blur, 0.5 inpainting, 1.0 phase)");
    v("clip", clip, "> 0: clamp x0_hat to [-clip, clip] before the residual and the ancestral step, inside the "
                    "gradient (DPS code: clip_denoised); 0 = off (exact on analytic priors)");
  }
};
Tensor sample_dps(const SamplerContext& ctx, const DpsOptions& o);

// ΠGDM (Song et al. 2023, eq. 7-8), noisy form: Type I guidance with Sigma = r_t^2 I.
struct PigdmOptions {
  double eta = 1.0;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("eta", eta, "DDIM stochasticity of the outer step");
    v("clip", clip, "> 0: clamp the guided x0 estimate to [-clip, clip] (images: 1, as guided-diffusion's "
                    "clip_denoised); 0 = off (exact on analytic priors)");
  }
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
  int travel_length = 1;  // DDNM's time_travel defaults (T_sampling 100, travel_length 1, travel_repeat 1): off
  int travel_repeat = 1;
  void visit(OptionVisitor& v) {
    v("eta", eta, "DDIM stochasticity");
    v("travel_length", travel_length, "time travel (§3.4, Alg. 2): steps gone back by forward diffusion");
    v("travel_repeat", travel_repeat, "time travel: passes over each travel_length block (1 = no time travel;\n"
                                      "each extra pass costs travel_length NFE per block)");
  }
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
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("lambda", lambda, "weight of the prior in the data step (paper: 1-7)");
    v("zeta", zeta, "fraction of fresh noise when re-noising (paper: 0.1 SR/blur, 1.0 inpainting)");
    v("clip", clip, "> 0: clamp x0 to [-clip, clip] before the data step (DiffPIR code: clip_denoised); 0 = off");
  }
};
Tensor sample_diffpir(const SamplerContext& ctx, const DiffpirOptions& o);

// DMPS (Meng & Kabashima 2022, eq. 11-13): ancestral step plus the closed-form score of the
// uninformative-prior likelihood N(y; A x, sigma_y^2 I + sigma^2 A A^T).
struct DmpsOptions {
  double scale = 1.75;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("scale", scale, "weight of the likelihood score");
    v("clip", clip, "> 0: clamp x0 to [-clip, clip] in the ancestral step (DMPS code: clip_denoised); 0 = off");
  }
};
Tensor sample_dmps(const SamplerContext& ctx, const DmpsOptions& o);

// Conjugate-gradient settings of a non-isotropic C^{-1} = (sigma_y^2 I + A Sigma A^T)^{-1} (used when y
// has more than 64 entries per sample; smaller systems are solved densely). tol 1e-4 is the OPC
// code's (gpytorch linear_cg(tolerance=1e-4), relative residual). 200 iterations: with Sigma <= 1
// per pixel (data on [-1, 1]), |A| <= 1 and sigma_y = 0.05, cond(C) <= 1 + 1/0.05^2 = 401 and CG's
// bound 2 ((sqrt(k) - 1)/(sqrt(k) + 1))^n reaches 1e-4 after ~100 iterations; below OPC's 0.2
// threshold (Sigma <= 0.04) cond(C) <= 17 and ~20 suffice. A solve that stops above tol warns.
struct CgSettings {
  double cg_tol = 1e-4;
  int cg_iters = 200;
  void visit(OptionVisitor& v) {
    v("cg_tol", cg_tol, "CG relative residual tolerance for a non-isotropic C^-1 (OPC code: gpytorch linear_cg tolerance 1e-4)");
    v("cg_iters", cg_iters, "CG iteration cap (warns on stderr when reached above cg_tol)");
  }
  ConjugateGradientOptions cg() const;  // checks tol > 0, iters >= 1
};

// OPC's choice of Sigma ≈ Cov[x0 | x] (Peng et al. ICML 2024, Sec. 4; DESIGN §5).
struct OpcCovarianceOptions {
  std::string covariance = "exact";
  double lambda = 1.0;
  double threshold = 0.2;
  std::string mse_table;
  CgSettings cg;
  void visit(OptionVisitor& v) {
    v("covariance", covariance, {"exact", "dps", "pigdm", "diffpir", "convert", "analytic"},
      "Sigma: exact Cov[x0|x] (analytic priors), 0 (DPS), r_t^2 I (PiGDM), sigma^2/lambda I (DiffPIR), "
      "convert = (Var_theta[x_t-1|x_t] - beta_tilde_t)/c1_t^2 per pixel from a learned variance (OPC eq. 22), "
      "analytic = mse(sigma) I from mse_table (OPC Sec. 4.2, eq. 19-20)");
    v("lambda", lambda, "lambda of the diffpir covariance");
    v("threshold", threshold,
      "convert/analytic only for VE sigma < threshold, PiGDM's r_t^2 I above (OPC code's mle_sigma_thres = 0.2, "
      "compared with k-diffusion's VE sigma = sqrt((1-abar)/abar))");
    v("mse_table", mse_table, "JSON per-sigma MSE table for covariance=analytic (diffinv estimate-variance)");
    cg.visit(v);
  }
  // exact needs an analytic prior, convert a learned variance, analytic a readable mse_table.
  void check_denoiser(const DenoiserCapabilities& c, const std::string& who) const;
};

// OPC (Peng et al. 2024): Type I or Type II posterior mean with a chosen covariance, inside a
// DDIM step (sample_opc) or Heun steps on a Karras grid (sample_opc_heun, EDM Alg. 2).
struct OpcOptions {
  int type = 2;
  OpcCovarianceOptions cov;
  double eta = 1.0;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("type", type, "1: likelihood score through one VJP (OPC eq. 9); 2: proximal, no VJP (eq. 10)");
    cov.visit(v);
    v("eta", eta, "DDIM stochasticity of the outer step");
    v("clip", clip, "> 0: clamp the guided x0 to [-clip, clip] (OPC code: hat_x0.clip(-1, 1)); 0 = off");
  }
  void check_denoiser(const DenoiserCapabilities& c, const std::string& who) const {
    cov.check_denoiser(c, who);
  }
};
Tensor sample_opc(const SamplerContext& ctx, const OpcOptions& o);

struct OpcHeunOptions {
  int type = 2;
  OpcCovarianceOptions cov;
  double churn = 0.0;
  double s_noise = 1.0;
  double s_tmin = 0.0;
  double s_tmax = 1e30;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("type", type, "1: likelihood score through one VJP (OPC eq. 9); 2: proximal, no VJP (eq. 10)");
    cov.visit(v);
    v("clip", clip, "> 0: clamp the guided x0 to [-clip, clip] (OPC code: hat_x0.clip(-1, 1)); 0 = off");
    v("churn", churn, "EDM S_churn: total stochasticity over the grid (0 = deterministic ODE)");
    v("s_noise", s_noise, "EDM S_noise: std of the churn noise");
    v("s_tmin", s_tmin, "EDM S_tmin: churn only for sigma >= s_tmin");
    v("s_tmax", s_tmax, "EDM S_tmax: churn only for sigma <= s_tmax");
  }
  void check_denoiser(const DenoiserCapabilities& c, const std::string& who) const {
    cov.check_denoiser(c, who);
  }
};
Tensor sample_opc_heun(const SamplerContext& ctx, const OpcHeunOptions& o);

// CA-DPS (Hamidi & Yang, AAAI 2025, "Enhancing Diffusion Models for Inverse Problems with
// Covariance-Aware Posterior Sampling", eq. for Cov[x0|x_t] = (1-abar)/abar (I - sqrt(1-abar) d eps/dx)):
// Type I guidance (Peng et al. 2024 eq. 9) with Sigma = sigma^2 diag(J), J = dD/dx, the diagonal
// estimated by a finite difference along Rademacher probes v: diag(J) ≈ v ⊙ (D(x + h v) - D(x))/h,
// h = fd_step * sigma (one extra NFE per probe), clipped to [0, max_jacobian]; then DDPM's ancestral
// step from x0_y.
struct CaDpsOptions {
  double scale = 1.0;
  int probes = 1;
  double fd_step = 0.01;
  double max_jacobian = 1.0;
  double eta = 1.0;
  CgSettings cg;
  void visit(OptionVisitor& v) {
    v("scale", scale,
      "weight of the Gaussian likelihood score sigma^2 J^T A^T C^-1 r (1 = the exact Type I update; the paper: "
      "no tuning)");
    v("probes", probes, "Rademacher probes of the Jacobian diagonal, one extra NFE each (paper: finite differences, "
      "one extra NFE per step)");
    v("fd_step", fd_step, "finite-difference step h = fd_step * sigma (forward difference; error O(h/sigma))");
    v("max_jacobian", max_jacobian,
      "clip diag(J) to [0, max_jacobian]: Cov[x0|x] is PSD (>= 0); J <= I for log-concave priors (Gaussian: "
      "J = S (S + sigma^2 I)^-1)");
    v("eta", eta, "DDIM stochasticity of the outer step (1 = DDPM ancestral, as DPS)");
    cg.visit(v);
  }
};
Tensor sample_ca_dps(const SamplerContext& ctx, const CaDpsOptions& o);

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

// The options of the annealed Langevin samplers (SNIPS and Langevin). Defaults: NCSNv2 CelebA (step_lr,
// n_steps_each), as snips_torch configs/celeba.yml.
struct AnnealedLangevinOptions {
  double c = 3.3e-6;
  int steps_per_level = 5;
  bool denoise = true;
  void visit(OptionVisitor& v) {
    v("c", c, "Langevin step size at the smallest level (step_lr); level sigma steps c sigma^2/sigma_L^2");
    v("steps_per_level", steps_per_level, "Langevin steps per noise level (n_steps_each, SNIPS's tau)");
    v("denoise", denoise, "finish with D(x, sigma_L) (NCSN's final denoising, one more NFE)");
  }
};

// SNIPS (Kawar, Vaksman & Elad 2021, Alg. 1): annealed Langevin in the SVD domain of A with a
// step size per singular value.
Tensor sample_snips(const SamplerContext& ctx, const AnnealedLangevinOptions& o);

// Annealed Langevin posterior sampling (Jalal et al. 2021): Langevin steps with
// score + A^T (y - A x) / (sigma_y^2 + sigma_t^2), several per level, step c sigma^2 / sigma_L^2.
Tensor sample_langevin(const SamplerContext& ctx, const AnnealedLangevinOptions& o);

// DAPS (Zhang et al., CVPR 2025, "Improving Diffusion Inverse Problem Solving with Decoupled Noise
// Annealing", Alg. 1; github zhangbingliang2019/DAPS sampler.py, cores/mcmc.py, configs/): per level
// sigma_i of the grid, x0_hat = a few Euler steps of the probability-flow ODE from sigma_i down to
// ode_sigma_min; Langevin on x0 against |x0 - x0_hat|^2/(2 r_i^2) + data term, r_i = sigma_i (no network
// calls); then x_{i+1} = x0 + sigma_{i+1} z. Defaults: DAPS-1K (200 levels x 5 ODE steps = 1000 NFE).
struct DapsOptions {
  int ode_steps = 5;
  double ode_sigma_min = 0.01;
  int langevin_steps = 100;
  double lr = 1e-4;
  double lr_min_ratio = 0.01;
  double tau = 0.01;
  std::string tau_rule = "max";
  std::string data_term = "paper";
  void visit(OptionVisitor& v) {
    v("ode_steps", ode_steps, "Euler steps of the probability-flow ODE per level (DAPS: diffusion_scheduler num_steps 5; "
      "one NFE each), on a rho-7 grid from sigma_i down to ode_sigma_min");
    v("ode_sigma_min", ode_sigma_min, "where the ODE stops (DAPS: 0.01); levels at or below it use x0_hat = x (no NFE)");
    v("langevin_steps", langevin_steps, "Langevin steps on x0 per level (DAPS: mcmc num_steps 100; no NFE)");
    v("lr", lr, "Langevin step eta at the first level (DAPS: 1e-4; 5e-5 box inpainting, motion blur, phase), "
      "times min(r_i^2, tau_eff^2)/tau^2 (= 1 in the reference's setting r_i >= tau = tau_eff)");
    v("lr_min_ratio", lr_min_ratio, "eta decays linearly to lr * lr_min_ratio: factor 1 - (1 - lr_min_ratio) i/(N+1) "
      "at level i of N (DAPS: get_lr, lr_min_ratio 0.01)");
    v("tau", tau, "measurement scale of the data term (DAPS: 0.01)");
    v("tau_rule", tau_rule, {"max", "fixed"},
      "max: tau_eff = max(tau, sigma_y) (the true likelihood when sigma_y > tau); fixed: tau_eff = tau (the reference)");
    v("data_term", data_term, {"paper", "code"},
      "paper: |A(x0) - y|^2/(2 tau_eff^2) (DAPS paper's N(y; A(x0), tau^2 I), InverseBench's port); code: "
      "|A(x0) - y|^2/tau_eff^2 (DAPS code: -grad|r|^2/tau^2 in cores/mcmc.py)");
  }
  void check(const std::string& who) const;
  void check_denoiser(const DenoiserCapabilities&, const std::string& who) const { check(who); }
};
Tensor sample_daps(const SamplerContext& ctx, const DapsOptions& o);
// One DAPS level (exposed for tests): the ODE estimate, the Langevin chain (eta, r, tau_eff already
// resolved) and the re-noising to sigma_next. Returns {x_next, x0}.
struct DapsLevel {
  Tensor x_next, x0, x0_hat;
};
DapsLevel daps_level(const SamplerContext& ctx, const DapsOptions& o, const Tensor& x, double sigma,
                     double sigma_next, double eta, at::Generator& gen);

// PnP-DM (Wu, Sun, Chen, Zhang, Yue & Bouman, NeurIPS 2024, "Principled Probabilistic Imaging using
// Diffusion Models as Plug-and-Play Priors", Alg. 1; github zihuiwu/PnP-DM-public pnpdm/samplers/pnp_edm/,
// commands.sh): split Gibbs sampling of p(x, z | y) ∝ p(y | z) p(x) N(z; x, rho_k^2 I),
// rho_k = max(rho * rho_decay^k, rho_min): z ~ p(z | x, y) (likelihood step), then x ~ p(x0 | x0 + rho_k n = z)
// by the reverse SDE (EDM Euler-Maruyama) on the sampler's grid, entered at its first sigma below rho_k.
struct PnpDmOptions {
  int iterations = 100;
  double rho = 10.0;
  double rho_decay = 0.9;
  double rho_min = 0.3;
  int langevin_steps = 100;
  double langevin_lr = 1e-4;
  void visit(OptionVisitor& v) {
    v("iterations", iterations, "split-Gibbs iterations K (PnP-DM: num_iters 100)");
    v("rho", rho, "initial coupling rho_0 (PnP-DM commands.sh: 10)");
    v("rho_decay", rho_decay, "rho_k = max(rho rho_decay^k, rho_min) (commands.sh: 0.9; 1 = fixed rho)");
    v("rho_min", rho_min, "floor of rho_k (commands.sh: 0.3 deblur/SR; 0.1 phase retrieval)");
    v("langevin_steps", langevin_steps, "nonlinear operators only: Langevin steps of the likelihood step "
      "(PnP-DM phase_retrieval.py proximal_generator: 100)");
    v("langevin_lr", langevin_lr, "nonlinear operators only: their step gamma (PnP-DM: 1e-4)");
  }
  void check(const std::string& who) const;
  void check_denoiser(const DenoiserCapabilities&, const std::string& who) const { check(who); }
};
Tensor sample_pnp_dm(const SamplerContext& ctx, const PnpDmOptions& o);
// The two halves of one PnP-DM iteration (exposed for tests).
// Likelihood step: z ~ N(m, S), S = (A^T A / sigma_y^2 + I / rho^2)^-1, m = S (A^T y / sigma_y^2 + x / rho^2).
Tensor pnp_dm_likelihood_step(const SamplerContext& ctx, const PnpDmOptions& o, const Tensor& x, double rho,
                              at::Generator& gen);
// Prior step: the reverse SDE (EDM Euler-Maruyama) over the grid sigmas below rho, started at z.
Tensor pnp_dm_prior_step(const SamplerContext& ctx, const Tensor& z, double rho, at::Generator& gen);

}  // namespace diffinv

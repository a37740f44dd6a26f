// The options and entry point of src/samplers/opc.cpp.
#pragma once
#include <memory>
#include <string>

#include "diffinv/sampler.h"
#include "diffinv/samplers/cg_settings.h"

namespace diffinv {

class MseTable;

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
  std::shared_ptr<const MseTable> table;  // covariance=analytic: mse_table, read once by prepare()
  void check(const std::string& who) const;
  // exact needs an analytic prior, convert a learned variance, analytic a readable mse_table (read here).
  void prepare(const DenoiserCapabilities& c, const std::string& who);
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
  void check(const std::string& who) const;
  void prepare(const DenoiserCapabilities& c, const std::string& who) { cov.prepare(c, who); }
  bool needs_vjp() const { return type == 1; }  // Type I differentiates the denoiser
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
  void check(const std::string& who) const;
  void prepare(const DenoiserCapabilities& c, const std::string& who) { cov.prepare(c, who); }
  bool needs_vjp() const { return type == 1; }
};
Tensor sample_opc_heun(const SamplerContext& ctx, const OpcHeunOptions& o);

}  // namespace diffinv

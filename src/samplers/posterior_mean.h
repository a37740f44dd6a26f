// The two families of Peng et al. (ICML 2024), shared by PiGDM, DiffPIR-style and OPC samplers:
//   Type I : x0_y = mu + sigma^2 J^T A^T C^{-1} (y - A mu)   (one VJP, Sigma held fixed)
//   Type II: x0_y = mu + Sigma A^T C^{-1} (y - A mu)          (no VJP)
// with C = sigma_y^2 I + A Sigma A^T.
#pragma once
#include <string>

#include "diffinv/mse_table.h"
#include "diffinv/sampler.h"
#include "steps.h"

namespace diffinv {

// exact: Cov[x0 | x] of an analytic prior; dps: 0; pigdm: r_t^2 I; diffpir: sigma^2/lambda I;
// convert: the diagonal from a learned reverse variance (EpsDenoiser, OPC eq. 22);
// analytic: mse(sigma) I from a per-sigma MSE table (OPC Sec. 4.2).
enum class CovarianceSource { Exact, Dps, Pigdm, Diffpir, Convert, Analytic };
CovarianceSource parse_covariance_source(const std::string& name);
const std::vector<std::string>& covariance_source_names();

// What make_covariance needs besides the source.
struct CovarianceSettings {
  double diffpir_lambda = 1.0;
  // convert / analytic only below this sigma, PiGDM's r_t^2 I at and above it (OPC code's mle_sigma_thres).
  double threshold = 0.2;
  const MseTable* mse_table = nullptr;  // analytic
  Tensor x0_variance;                   // convert: Var[x0 | x] from the same NFE as mu (DenoiserVarianceOutput)
};
// Whether `source` at this sigma reads the denoiser's learned variance (so the NFE must produce it).
bool uses_learned_variance(CovarianceSource source, double sigma, const CovarianceSettings& settings);
// Throws, naming `who`, when the denoiser or the settings cannot serve `source` (checked once per run).
void check_covariance_source(CovarianceSource source, const DenoiserCapabilities& capabilities,
                             const CovarianceSettings& settings,
                             const std::string& who);

// Sigma ≈ Cov[x0 | x] for one step: a scalar times I, or a general product.
struct PosteriorCovariance {
  bool isotropic = true;
  double scale = 0.0;          // Sigma = scale * I when isotropic
  CovarianceProduct product;   // otherwise
  // A Sigma A^T as [B, m, m] for y shaped like y_like (general Sigma only).
  std::function<Tensor(const LinearOperator& A, const Tensor& y_like)> gram;
  Tensor apply(const Tensor& v) const { return isotropic ? v * scale : product(v); }
};

PosteriorCovariance make_covariance(CovarianceSource source, Denoiser& denoiser, const Tensor& x, double sigma,
                                    const CovarianceSettings& settings = {});
// A Sigma A^T as [B, m, m] (m = entries of one y, the shape of y_like) through m products with Sigma.
Tensor gram_through_products(const CovarianceProduct& sigma, const LinearOperator& A, const Tensor& y_like);
// The same for an isotropic mixture's covariance, sum_k r_k (c_k I + m_k m_k^T) - D D^T:
//   A Sigma A^T = (sum_k r_k c_k) A A^T + sum_k r_k (A m_k)(A m_k)^T - (A D)(A D)^T,
// with A m_k = a_k A x + (1 - a_k) A mu_k: O(B K m^2), no product in x-space.
Tensor isotropic_mixture_gram(const IsotropicMixtureCovariance& cov, const LinearOperator& A, const Tensor& y_like);

// Sigma = diag(variance) with variance shaped like x (per pixel, per sample); A Sigma A^T through
// gram_through_products when the dense solve needs it.
PosteriorCovariance diagonal_covariance(const Tensor& variance);

// C^{-1} r. Isotropic: the operator's Gram solve (closed form for SVD operators). General: a
// dense [B, m, m] solve when y has at most 64 entries per sample, conjugate gradient otherwise,
// with `cg` (null: the operator's own A.cg settings); CG warns on stderr when it stops above its
// tolerance (operator.h).
Tensor solve_measurement_covariance(const LinearOperator& A, const PosteriorCovariance& sigma_cov,
                                    double sigma_y, const Tensor& r, const ConjugateGradientOptions* cg = nullptr);

Tensor type1_posterior_mean(const steps::Tracked& t, const LinearOperator& A, const Tensor& y, double sigma_y,
                            double sigma, const PosteriorCovariance& sigma_cov,
                            const ConjugateGradientOptions* cg = nullptr);
Tensor type2_posterior_mean(const Tensor& mu, const LinearOperator& A, const Tensor& y, double sigma_y,
                            const PosteriorCovariance& sigma_cov, const ConjugateGradientOptions* cg = nullptr);

}  // namespace diffinv

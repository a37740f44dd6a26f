// The two families of Peng et al. (ICML 2024), shared by PiGDM, DiffPIR-style and OPC samplers:
//   Type I : x0_y = mu + sigma^2 J^T A^T C^{-1} (y - A mu)   (one VJP, Sigma held fixed)
//   Type II: x0_y = mu + Sigma A^T C^{-1} (y - A mu)          (no VJP)
// with C = sigma_y^2 I + A Sigma A^T.
#pragma once
#include <string>

#include "diffinv/sampler.h"
#include "steps.h"

namespace diffinv {

enum class CovarianceSource { Exact, Dps, Pigdm, Diffpir };
CovarianceSource parse_covariance_source(const std::string& name);

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
                                    double diffpir_lambda);

// C^{-1} r. Isotropic: the operator's Gram solve (closed form for SVD operators). General: a
// dense [B, m, m] solve when y has at most 64 entries per sample, conjugate gradient otherwise.
Tensor solve_measurement_covariance(const LinearOperator& A, const PosteriorCovariance& sigma_cov,
                                    double sigma_y, const Tensor& r);

Tensor type1_posterior_mean(const steps::Tracked& t, const LinearOperator& A, const Tensor& y, double sigma_y,
                            double sigma, const PosteriorCovariance& sigma_cov);
Tensor type2_posterior_mean(const Tensor& mu, const LinearOperator& A, const Tensor& y, double sigma_y,
                            const PosteriorCovariance& sigma_cov);

}  // namespace diffinv

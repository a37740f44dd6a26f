#include "posterior_mean.h"

#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/samplers.h"

namespace diffinv {

ConjugateGradientOptions CgSettings::cg() const {
  require(cg_tol > 0 && std::isfinite(cg_tol), "cg_tol must be positive");
  require(cg_iters >= 1, "cg_iters must be at least 1");
  ConjugateGradientOptions o;
  o.tolerance = cg_tol;
  o.max_iterations = cg_iters;
  return o;
}


const std::vector<std::string>& covariance_source_names() {
  static const std::vector<std::string> names = {"exact", "dps", "pigdm", "diffpir", "convert", "analytic"};
  return names;
}

CovarianceSource parse_covariance_source(const std::string& name) {
  const auto& names = covariance_source_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (name == names[i]) return static_cast<CovarianceSource>(i);
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown covariance source '" + name + "' (known: " + known + ")");
}

bool uses_learned_variance(CovarianceSource source, double sigma, const CovarianceSettings& settings) {
  return source == CovarianceSource::Convert && sigma < settings.threshold;
}

void check_covariance_source(CovarianceSource source, const DenoiserCapabilities& capabilities,
                             const CovarianceSettings& settings,
                             const std::string& who) {
  switch (source) {
    case CovarianceSource::Exact:
      require(capabilities.exact_posterior_covariance,
              who + ": covariance 'exact' needs a prior with an exact posterior covariance (Gaussian or GMM)");
      break;
    case CovarianceSource::Convert:
      require(capabilities.learned_variance,
              who + ": covariance 'convert' needs a denoiser with a learned reverse variance (a learn_sigma network, "
                    "6 output channels); this one has none (use covariance=analytic or pigdm)");
      break;
    case CovarianceSource::Analytic:
      require(settings.mse_table != nullptr && !settings.mse_table->empty(),
              who + ": covariance 'analytic' needs mse_table=FILE (written by diffinv estimate-variance)");
      break;
    case CovarianceSource::Diffpir:
      require(settings.diffpir_lambda > 0, who + ": the diffpir covariance needs lambda > 0");
      break;
    default: break;
  }
  require(settings.threshold >= 0, who + ": threshold must be >= 0");
}

PosteriorCovariance diagonal_covariance(const Tensor& variance) {
  PosteriorCovariance c;
  c.isotropic = false;
  c.product = [variance](const Tensor& v) { return v * variance; };
  return c;
}

PosteriorCovariance make_covariance(CovarianceSource source, Denoiser& denoiser, const Tensor& x, double sigma,
                                    const CovarianceSettings& settings) {
  PosteriorCovariance c;
  const double diffpir_lambda = settings.diffpir_lambda;
  // OPC's learned covariances hold only at small sigma; above the threshold PiGDM's r_t^2 I.
  if ((source == CovarianceSource::Convert || source == CovarianceSource::Analytic) && sigma >= settings.threshold)
    source = CovarianceSource::Pigdm;
  switch (source) {
    case CovarianceSource::Exact:
      require(denoiser.capabilities().exact_posterior_covariance,
              "covariance 'exact' needs a prior with an exact posterior covariance (Gaussian or GMM)");
      c.isotropic = false;
      c.product = denoiser.posterior_covariance(x, sigma);
      c.gram = [&denoiser, xd = x.detach(), sigma](const LinearOperator& A, const Tensor& y_like) {
        return denoiser.posterior_covariance_gram(xd, sigma, A, y_like);
      };
      break;
    case CovarianceSource::Dps: c.scale = 0.0; break;
    case CovarianceSource::Pigdm: c.scale = sigma * sigma / (1 + sigma * sigma); break;
    case CovarianceSource::Diffpir:
      require(diffpir_lambda > 0, "the diffpir covariance needs lambda > 0");
      c.scale = sigma * sigma / diffpir_lambda;
      break;
    case CovarianceSource::Convert:
      require(settings.x0_variance.defined(),
              "covariance 'convert': the denoiser's learned variance was not computed for this step");
      c = diagonal_covariance(settings.x0_variance.detach());
      break;
    case CovarianceSource::Analytic:
      require(settings.mse_table != nullptr, "covariance 'analytic' needs an MSE table");
      c.scale = settings.mse_table->at(sigma);
      break;
  }
  return c;
}

namespace {
constexpr int64_t kDenseLimit = 64;

Tensor dense_solve(const LinearOperator& A, const PosteriorCovariance& cov, double sigma_y, const Tensor& r) {
  const int64_t batch = r.size(0), m = r.numel() / batch;
  const Tensor gram = cov.gram ? cov.gram(A, r) : gram_through_products(cov.product, A, r);
  Tensor c = gram + at::eye(m, r.options()).unsqueeze(0) * (sigma_y * sigma_y);
  c = (c + c.transpose(1, 2)) * 0.5;
  const Tensor rhs = r.reshape({batch, m, 1});
  auto [sol, info] = at::linalg_solve_ex(c, rhs);
  // A pseudo-inverse keeps sigma_y = 0 with a rank-deficient A Sigma A^T well defined (100x slower).
  if (info.ne(0).any().item<bool>()) sol = at::matmul(at::linalg_pinv(c, 1e-12, /*hermitian=*/true), rhs);
  return sol.reshape(r.sizes());
}
}  // namespace

Tensor solve_measurement_covariance(const LinearOperator& A, const PosteriorCovariance& cov, double sigma_y,
                                    const Tensor& r, const ConjugateGradientOptions* cg) {
  if (cov.isotropic) return A.solve_gram(r, cov.scale, sigma_y * sigma_y);
  if (r.numel() / r.size(0) <= kDenseLimit) return dense_solve(A, cov, sigma_y, r);
  return conjugate_gradient(
      [&](const Tensor& v) { return A.forward(cov.apply(A.adjoint(v))) + v * (sigma_y * sigma_y); }, r,
      cg ? *cg : A.cg);
}

Tensor type1_posterior_mean(const steps::Tracked& t, const LinearOperator& A, const Tensor& y, double sigma_y,
                            double sigma, const PosteriorCovariance& cov, const ConjugateGradientOptions* cg) {
  const Tensor mu = t.mu.detach();
  const Tensor w = A.adjoint(solve_measurement_covariance(A, cov, sigma_y, y - A.forward(mu), cg));
  return mu + steps::vjp(t, w) * (sigma * sigma);
}

Tensor type2_posterior_mean(const Tensor& mu, const LinearOperator& A, const Tensor& y, double sigma_y,
                            const PosteriorCovariance& cov, const ConjugateGradientOptions* cg) {
  const Tensor w = A.adjoint(solve_measurement_covariance(A, cov, sigma_y, y - A.forward(mu), cg));
  return mu + cov.apply(w);
}

}  // namespace diffinv

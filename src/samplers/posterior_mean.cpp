#include "posterior_mean.h"

#include <ATen/ATen.h>

namespace diffinv {

CovarianceSource parse_covariance_source(const std::string& name) {
  if (name == "exact") return CovarianceSource::Exact;
  if (name == "dps") return CovarianceSource::Dps;
  if (name == "pigdm") return CovarianceSource::Pigdm;
  if (name == "diffpir") return CovarianceSource::Diffpir;
  throw Error("unknown covariance source '" + name + "' (known: exact, dps, pigdm, diffpir)");
}

void check_covariance_source(const std::string& covariance, const DenoiserCapabilities& capabilities,
                             const std::string& who) {
  require(covariance != "exact" || capabilities.exact_posterior_covariance,
          who + ": covariance=exact needs a prior with an exact posterior covariance (Gaussian or GMM); with a "
                "network use covariance=pigdm, dps or diffpir");
}

PosteriorCovariance make_covariance(CovarianceSource source, Denoiser& denoiser, const Tensor& x, double sigma,
                                    double diffpir_lambda) {
  PosteriorCovariance c;
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
                                    const Tensor& r) {
  if (cov.isotropic) return A.solve_gram(r, cov.scale, sigma_y * sigma_y);
  if (r.numel() / r.size(0) <= kDenseLimit) return dense_solve(A, cov, sigma_y, r);
  return conjugate_gradient(
      [&](const Tensor& v) { return A.forward(cov.apply(A.adjoint(v))) + v * (sigma_y * sigma_y); }, r, A.cg);
}

Tensor type1_posterior_mean(const steps::Tracked& t, const LinearOperator& A, const Tensor& y, double sigma_y,
                            double sigma, const PosteriorCovariance& cov) {
  const Tensor mu = t.mu.detach();
  const Tensor w = A.adjoint(solve_measurement_covariance(A, cov, sigma_y, y - A.forward(mu)));
  return mu + steps::vjp(t, w) * (sigma * sigma);
}

Tensor type2_posterior_mean(const Tensor& mu, const LinearOperator& A, const Tensor& y, double sigma_y,
                            const PosteriorCovariance& cov) {
  const Tensor w = A.adjoint(solve_measurement_covariance(A, cov, sigma_y, y - A.forward(mu)));
  return mu + cov.apply(w);
}

}  // namespace diffinv

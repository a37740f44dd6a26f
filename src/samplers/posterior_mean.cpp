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

PosteriorCovariance make_covariance(CovarianceSource source, Denoiser& denoiser, const Tensor& x, double sigma,
                                    double diffpir_lambda) {
  PosteriorCovariance c;
  switch (source) {
    case CovarianceSource::Exact:
      require(denoiser.capabilities().exact_posterior_covariance,
              "covariance 'exact' needs a prior with an exact posterior covariance (Gaussian or GMM)");
      c.isotropic = false;
      c.product = denoiser.posterior_covariance(x, sigma);
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
  // Column j of C is sigma_y^2 e_j + A Sigma A^T e_j: m products with Sigma per step.
  const int64_t batch = r.size(0), m = r.numel() / batch;
  auto basis_shape = r.sizes().vec();
  basis_shape[0] = m;
  const Tensor at_basis = A.adjoint(at::eye(m, r.options()).view(basis_shape));  // [m, x...]
  auto x_shape = at_basis.sizes().vec();
  x_shape[0] = batch;
  std::vector<Tensor> columns;
  for (int64_t j = 0; j < m; ++j)
    columns.push_back(A.forward(cov.apply(at_basis.narrow(0, j, 1).expand(x_shape))).reshape({batch, m}));
  Tensor c = at::stack(columns, 2) + at::eye(m, r.options()).unsqueeze(0) * (sigma_y * sigma_y);
  c = (c + c.transpose(1, 2)) * 0.5;
  // A pseudo-inverse keeps sigma_y = 0 with a rank-deficient A Sigma A^T well defined.
  const Tensor sol = at::matmul(at::linalg_pinv(c, 1e-12, /*hermitian=*/true), r.reshape({batch, m, 1}));
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

#include "posterior_mean.h"

#include <ATen/ATen.h>

#include <cmath>

namespace diffinv {

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

Tensor gram_through_products(const CovarianceProduct& sigma, const LinearOperator& A, const Tensor& y_like) {
  // Column j of A Sigma A^T is A Sigma A^T e_j.
  const int64_t batch = y_like.size(0), m = y_like.numel() / batch;
  auto basis_shape = y_like.sizes().vec();
  basis_shape[0] = m;
  const Tensor at_basis = A.adjoint(at::eye(m, y_like.options()).view(basis_shape));  // [m, x...]
  auto x_shape = at_basis.sizes().vec();
  x_shape[0] = batch;
  std::vector<Tensor> columns;
  for (int64_t j = 0; j < m; ++j)
    columns.push_back(A.forward(sigma(at_basis.narrow(0, j, 1).expand(x_shape))).reshape({batch, m}));
  return at::stack(columns, 2);
}

Tensor isotropic_mixture_gram(const IsotropicMixtureCovariance& cov, const LinearOperator& A, const Tensor& y_like) {
  at::NoGradGuard no_grad;
  const int64_t batch = cov.x.size(0), m = y_like.numel() / batch;
  const Tensor ax = A.forward(cov.x).reshape({batch, 1, m});
  const Tensor amu = A.forward(cov.means).reshape({1, -1, m});
  const Tensor a = cov.shrinks.view({1, -1, 1});
  const Tensor am = a * ax + (1 - a) * amu;  // A m_k: [B, K, m]
  const Tensor ad = at::einsum("bk,bkm->bm", {cov.responsibilities, am});
  auto basis_shape = y_like.sizes().vec();
  basis_shape[0] = m;
  const Tensor aat = A.forward(A.adjoint(at::eye(m, y_like.options()).view(basis_shape))).reshape({m, m});
  return (cov.responsibilities * cov.variances).sum(1).view({-1, 1, 1}) * aat.unsqueeze(0) +
         at::einsum("bk,bki,bkj->bij", {cov.responsibilities, am, am}) - ad.unsqueeze(2) * ad.unsqueeze(1);
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
      c.gram = [&denoiser, product = c.product, xd = x.detach(), sigma](const LinearOperator& A, const Tensor& y_like) {
        const auto structure = denoiser.posterior_covariance_structure(xd, sigma);
        return structure ? isotropic_mixture_gram(*structure, A, y_like) : gram_through_products(product, A, y_like);
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

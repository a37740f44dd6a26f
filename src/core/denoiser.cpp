#include "diffinv/denoiser.h"

#include <ATen/ATen.h>

#include "diffinv/operator.h"

namespace diffinv {

CovarianceProduct Denoiser::posterior_covariance(const Tensor&, double) {
  throw Error("this denoiser has no exact posterior covariance (covariance source 'exact' needs an analytic prior)");
}

DenoiserVarianceOutput Denoiser::denoise_with_variance(const Tensor&, double, double) {
  throw Error("this denoiser has no learned variance (covariance source 'convert' needs a learn_sigma network)");
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

Tensor Denoiser::posterior_covariance_gram(const Tensor& x, double sigma, const LinearOperator& A,
                                           const Tensor& y_like) {
  return gram_through_products(posterior_covariance(x, sigma), A, y_like);
}

}  // namespace diffinv

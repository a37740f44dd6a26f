#include <ATen/ATen.h>

#include "diffinv/operator.h"

namespace diffinv {

DenseOperator::DenseOperator(Tensor matrix) : a_(std::move(matrix)) {
  require(a_.dim() == 2, "a dense operator needs a [d_y, d] matrix");
  require(a_.size(0) <= a_.size(1), "a dense operator needs d_y <= d");
  require(at::isfinite(a_).all().item<bool>(), "the operator matrix has NaN or Inf entries");
  auto [u, s, vh] = at::linalg_svd(a_, /*full_matrices=*/true);
  u_ = u;
  s_ = s;
  vh_ = vh;
}

Tensor DenseOperator::forward(const Tensor& x) const {
  require(x.dim() == 2 && x.size(1) == a_.size(1),
          "dense operator expects x of shape [B, " + std::to_string(a_.size(1)) + "]");
  return at::matmul(x, a_.t());
}
Tensor DenseOperator::adjoint(const Tensor& y) const {
  require(y.dim() == 2 && y.size(1) == a_.size(0),
          "dense operator expects y of shape [B, " + std::to_string(a_.size(0)) + "]");
  return at::matmul(y, a_);
}
Tensor DenseOperator::Vt(const Tensor& x) const { return at::matmul(x, vh_.t()); }
Tensor DenseOperator::Vt_head(const Tensor& x) const { return at::matmul(x, vh_.narrow(0, 0, s_.size(0)).t()); }
Tensor DenseOperator::V(const Tensor& c) const { return at::matmul(c, vh_.narrow(0, 0, c.size(1))); }
Tensor DenseOperator::Ut(const Tensor& y) const { return at::matmul(y, u_); }
Tensor DenseOperator::U(const Tensor& c) const { return at::matmul(c, u_.t()); }

}  // namespace diffinv

// Measurement operators (DESIGN §2, §4): A(x); linear ones add At, pinv, prox and Gram solves;
// SVD ones expose V, Vt, U, Ut and the singular values ("H functions", never a dense matrix for
// images). Every method works on batches: x is [B, ...], y is [B, ...].
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

class Operator {
 public:
  virtual ~Operator() = default;
  virtual std::string name() const = 0;
  virtual Tensor forward(const Tensor& x) const = 0;  // A(x)
};

// Settings of the conjugate-gradient fallbacks.
struct ConjugateGradientOptions {
  double tolerance = 1e-6;  // stop when |residual| <= tolerance * |rhs| for every sample
  int max_iterations = 200;
  bool warn = true;  // say on stderr when a solve stops above the tolerance (first 3 times per process)
};

class LinearOperator : public Operator {
 public:
  virtual Tensor adjoint(const Tensor& y) const = 0;  // At(y)
  // A^+ y (minimum-norm least squares). Default: CG on A^T A x = A^T y.
  virtual Tensor pinv(const Tensor& y) const;
  // argmin_x |Ax - y|^2 / 2 + |x - z|^2 / (2 gamma); gamma = +inf projects z onto {Ax = y}.
  // Default: CG on (gamma A^T A + I) x = gamma A^T y + z.
  virtual Tensor prox(const Tensor& z, const Tensor& y, double gamma) const;
  // (alpha A A^T + beta I)^{-1} r, with 1/0 read as 0 on a zero eigenvalue. Default: CG.
  virtual Tensor solve_gram(const Tensor& r, double alpha, double beta) const;

  ConjugateGradientOptions cg;
};

class SvdOperator : public LinearOperator {
 public:
  // A = U diag(s) V^T restricted to the first m = numel(y) spectral coordinates.
  // Vt: x [B, ...] -> [B, n] spectral coordinates (n = numel of one x). V is its inverse and
  // also takes [B, k] with k <= n, reading the missing trailing coordinates as zero.
  virtual Tensor Vt(const Tensor& x) const = 0;
  virtual Tensor V(const Tensor& coefficients) const = 0;
  // The measured coordinates Vt(x)[:, :m]; override where that is cheaper than the full Vt.
  virtual Tensor Vt_head(const Tensor& x) const;
  // Ut: y [B, ...] -> [B, m]; U is its inverse.
  virtual Tensor Ut(const Tensor& y) const = 0;
  virtual Tensor U(const Tensor& coefficients) const = 0;
  // [m] (shared by the batch) or [B, m]: sorted or not, zeros allowed.
  virtual Tensor singular_values() const = 0;

  // Closed forms through the SVD.
  Tensor adjoint(const Tensor& y) const override;
  Tensor pinv(const Tensor& y) const override;
  Tensor prox(const Tensor& z, const Tensor& y, double gamma) const override;
  Tensor solve_gram(const Tensor& r, double alpha, double beta) const override;

  // Singular values as [B, m] or [1, m], ready to broadcast against spectral coordinates.
  Tensor singular_values_2d() const;
};

// A dense matrix [d_y, d] acting on vectors x [B, d] (vector problems; the GMM benchmark).
class DenseOperator : public SvdOperator {
 public:
  explicit DenseOperator(Tensor matrix);
  std::string name() const override { return "dense"; }
  Tensor forward(const Tensor& x) const override;
  Tensor adjoint(const Tensor& y) const override;
  Tensor Vt(const Tensor& x) const override;
  Tensor V(const Tensor& c) const override;
  Tensor Vt_head(const Tensor& x) const override;
  Tensor Ut(const Tensor& y) const override;
  Tensor U(const Tensor& c) const override;
  Tensor singular_values() const override { return s_; }
  const Tensor& matrix() const { return a_; }

 private:
  Tensor a_, u_, s_, vh_;
};

// Batched conjugate gradient for a symmetric positive (semi-)definite `apply`; each sample of the
// batch is its own system. Returns the solution; `converged` (if given) says whether every sample
// met the tolerance.
Tensor conjugate_gradient(const std::function<Tensor(const Tensor&)>& apply, const Tensor& rhs,
                          const ConjugateGradientOptions& options, bool* converged = nullptr);
// How many solves so far stopped above their tolerance with warnings on (only the first 3 print).
int conjugate_gradient_warnings();

}  // namespace diffinv

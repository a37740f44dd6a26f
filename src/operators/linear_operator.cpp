#include <ATen/ATen.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>

#include "diffinv/operator.h"

namespace diffinv {

namespace {
std::atomic<int> cg_warnings{0};
}  // namespace

int conjugate_gradient_warnings() { return cg_warnings.load(); }

Tensor conjugate_gradient(const std::function<Tensor(const Tensor&)>& apply, const Tensor& rhs,
                          const ConjugateGradientOptions& options, bool* converged) {
  Tensor x = at::zeros_like(rhs);
  Tensor r = rhs.clone();
  Tensor p = r.clone();
  Tensor rr = batch_dot(r, r);
  const Tensor stop = batch_dot(rhs, rhs) * (options.tolerance * options.tolerance);
  bool done = false;
  for (int it = 0; it < options.max_iterations; ++it) {
    // A sample that has met its tolerance is frozen (alpha = 0). Without this, the iterations run
    // between two host checks keep going on rounding noise, and on a singular system (A^T A of an
    // underdetermined A, i.e. every default pinv) the noise has a component in the null space where
    // p^T A p ~ 0, so alpha = rr / pap explodes and x is destroyed (seen: |x| ~ 1e17).
    const Tensor active = rr > stop;
    if (it % 8 == 0 && !active.any().item<bool>()) {  // a host sync only every 8 iterations
      done = true;
      break;
    }
    const Tensor ap = apply(p);
    const Tensor pap = batch_dot(p, ap);
    const Tensor alpha = at::where(active.logical_and(pap > 0), rr / pap, at::zeros_like(rr));
    x = x + per_sample(alpha, x) * p;
    r = r - per_sample(alpha, r) * ap;
    const Tensor rr_next = batch_dot(r, r);
    const Tensor beta = at::where(active.logical_and(rr > 0), rr_next / rr, at::zeros_like(rr));
    p = r + per_sample(beta, p) * p;
    rr = rr_next;
  }
  if (!done) done = (rr <= stop).all().item<bool>();
  if (!done && options.warn) {
    const int n = cg_warnings++;
    if (n < 3)
      std::fprintf(stderr,
                   "warning: conjugate gradient stopped after %d iterations above its tolerance %g "
                   "(results may be inaccurate: raise max_iterations or the tolerance)%s\n",
                   options.max_iterations, options.tolerance, n == 2 ? "; further warnings suppressed" : "");
  }
  if (converged) *converged = done;
  return x;
}

Tensor LinearOperator::pinv(const Tensor& y) const {
  const Tensor rhs = adjoint(y);
  return conjugate_gradient([&](const Tensor& v) { return adjoint(forward(v)); }, rhs, cg);
}

Tensor LinearOperator::prox(const Tensor& z, const Tensor& y, double gamma) const {
  require(gamma >= 0, "prox needs gamma >= 0");
  if (std::isinf(gamma)) return z + pinv(y - forward(z));
  const Tensor rhs = adjoint(y) * gamma + z;
  return conjugate_gradient([&](const Tensor& v) { return adjoint(forward(v)) * gamma + v; }, rhs, cg);
}

Tensor LinearOperator::solve_gram(const Tensor& r, double alpha, double beta) const {
  return conjugate_gradient([&](const Tensor& v) { return forward(adjoint(v)) * alpha + v * beta; }, r, cg);
}

Tensor SvdOperator::Vt_head(const Tensor& x) const { return Vt(x).narrow(1, 0, singular_values_2d().size(1)); }

Tensor SvdOperator::singular_values_2d() const {
  const Tensor s = singular_values();
  return s.dim() == 1 ? s.unsqueeze(0) : s;
}

namespace {
// 1/v where v != 0, else 0: the pseudo-inverse of a diagonal.
Tensor safe_reciprocal(const Tensor& v) {
  return at::where(v != 0, v.reciprocal(), at::zeros_like(v));
}
}  // namespace

Tensor SvdOperator::adjoint(const Tensor& y) const {
  return V(singular_values_2d() * Ut(y));  // A^T y = V [diag(s) U^T y; 0]
}

Tensor SvdOperator::pinv(const Tensor& y) const {
  return V(safe_reciprocal(singular_values_2d()) * Ut(y));
}

Tensor SvdOperator::prox(const Tensor& z, const Tensor& y, double gamma) const {
  require(gamma >= 0, "prox needs gamma >= 0");
  // Only the measured coordinates move: z + V(solved - head), no full Vt.
  const Tensor s = singular_values_2d();
  const Tensor head = Vt_head(z);
  const Tensor u = Ut(y);
  Tensor solved;
  if (std::isinf(gamma)) {
    solved = at::where(s != 0, u * safe_reciprocal(s), head);
  } else {
    solved = (u * s * gamma + head) / (s * s * gamma + 1);
  }
  return z + V(solved - head).view_as(z);
}

Tensor SvdOperator::solve_gram(const Tensor& r, double alpha, double beta) const {
  const Tensor s = singular_values_2d();
  return U(Ut(r) * safe_reciprocal(s * s * alpha + beta));
}

}  // namespace diffinv

// Linear operators (DESIGN §2): the dense SVD operator's closed forms, the conjugate-gradient
// fallbacks of LinearOperator, and conjugate_gradient itself. Double precision throughout.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "diffinv/operator.h"
#include "foundation_helpers.h"

using namespace diffinv;
using namespace diffinv::testing;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Only forward and adjoint: pinv, prox and solve_gram come from LinearOperator's CG defaults.
class MatrixOnlyOperator : public LinearOperator {
 public:
  explicit MatrixOnlyOperator(Tensor a) : a_(std::move(a)) {
    cg.tolerance = 1e-13;
    cg.max_iterations = 500;
  }
  std::string name() const override { return "matrix-only"; }
  Tensor forward(const Tensor& x) const override { return at::matmul(x, a_.t()); }
  Tensor adjoint(const Tensor& y) const override { return at::matmul(y, a_); }

 private:
  Tensor a_;
};

struct Fixture {
  int64_t m = 3, n = 7, batch = 5;
  Tensor A, x, y, z;
  explicit Fixture(uint64_t seed) {
    auto gen = make_generator(seed);
    A = randn({m, n}, f64(), gen);
    x = randn({batch, n}, f64(), gen);
    y = randn({batch, m}, f64(), gen);
    z = randn({batch, n}, f64(), gen);
  }
};

// (gamma A^T A + I)^{-1} (gamma A^T y + z) per sample: the normal equations of the prox.
Tensor prox_normal_equations(const Tensor& A, const Tensor& z, const Tensor& y, double gamma) {
  const int64_t n = A.size(1);
  const Tensor lhs = gamma * at::matmul(A.t(), A) + at::eye(n, f64());
  const Tensor rhs = gamma * at::matmul(y, A) + z;  // [B, n]
  return at::linalg_solve(lhs, rhs.t()).t();
}

Tensor gram_direct(const Tensor& A, const Tensor& r, double alpha, double beta) {
  const Tensor lhs = alpha * at::matmul(A, A.t()) + beta * at::eye(A.size(0), f64());
  return at::linalg_solve(lhs, r.t()).t();
}

}  // namespace

TEST(DenseOperator, Adjointness) {
  Fixture f(11);
  DenseOperator op(f.A);
  const Tensor lhs = batch_dot(op.forward(f.x), f.y);
  const Tensor rhs = batch_dot(f.x, op.adjoint(f.y));
  EXPECT_LT(max_abs(lhs - rhs), 1e-12 * (1 + max_abs(lhs)));
  // And the SVD operator's generic adjoint V(s * U^T y) agrees with the dense one.
  EXPECT_LT(max_abs(op.SvdOperator::adjoint(f.y) - op.adjoint(f.y)), 1e-12);
  EXPECT_LT(max_abs(op.forward(f.x) - at::matmul(f.x, f.A.t())), 1e-12);
}

TEST(DenseOperator, SvdIdentities) {
  Fixture f(12);
  DenseOperator op(f.A);
  const Tensor c = op.Vt(f.x);
  ASSERT_EQ(c.sizes(), (at::IntArrayRef{f.batch, f.n}));
  EXPECT_LT(max_abs(op.V(c) - f.x), 1e-12);           // V V^T = I
  EXPECT_LT(max_abs(op.Vt(op.V(c)) - c), 1e-12);      // V^T V = I
  EXPECT_LT(max_abs(batch_norm2(c) - batch_norm2(f.x)), 1e-12);
  const Tensor u = op.Ut(f.y);
  ASSERT_EQ(u.sizes(), (at::IntArrayRef{f.batch, f.m}));
  EXPECT_LT(max_abs(op.U(u) - f.y), 1e-12);
  EXPECT_LT(max_abs(op.Ut(op.U(u)) - u), 1e-12);
  // A x = U(s * Vt(x)[:, :m]).
  const Tensor s = op.singular_values();
  ASSERT_EQ(s.sizes(), (at::IntArrayRef{f.m}));
  EXPECT_LT(max_abs(op.U(s * c.narrow(1, 0, f.m)) - op.forward(f.x)), 1e-12);
  // Singular values are those of A.
  EXPECT_LT(max_abs(std::get<0>(at::sort(s)) - std::get<0>(at::sort(at::linalg_svdvals(f.A)))), 1e-12);
  // V on fewer coordinates reads the missing trailing ones as zero.
  const Tensor head = c.narrow(1, 0, 4);
  EXPECT_LT(max_abs(op.V(head) - op.V(at::cat({head, at::zeros({f.batch, f.n - 4}, f64())}, 1))), 1e-14);
  // The trailing n - m coordinates span the null space of A.
  EXPECT_LT(max_abs(op.forward(op.V(at::cat({at::zeros({f.batch, f.m}, f64()), c.narrow(1, f.m, f.n - f.m)}, 1)))),
            1e-12);
}

TEST(DenseOperator, PinvEqualsLinalgPinv) {
  Fixture f(13);
  DenseOperator op(f.A);
  const Tensor expected = at::matmul(f.y, at::linalg_pinv(f.A).t());
  EXPECT_LT(max_abs(op.pinv(f.y) - expected), 1e-11);
  MatrixOnlyOperator cg_op(f.A);
  EXPECT_LT(max_abs(cg_op.pinv(f.y) - expected), 1e-9);
  // With the default CG settings (relative tolerance 1e-6) too: A^T A is singular here (d_y < d).
  MatrixOnlyOperator loose(f.A);
  loose.cg = ConjugateGradientOptions{};
  EXPECT_LT(max_abs(loose.pinv(f.y) - expected), 1e-5 * (1 + max_abs(expected)));
  EXPECT_LT(max_abs(loose.prox(f.z, f.y, kInf) - f.z - at::matmul(f.y - op.forward(f.z), at::linalg_pinv(f.A).t())),
            1e-5 * (1 + max_abs(f.z)));
  // Minimum norm: A^+ y lies in the row space of A, and A A^+ y = y (full row rank).
  EXPECT_LT(max_abs(op.forward(op.pinv(f.y)) - f.y), 1e-11);
}

TEST(DenseOperator, ProxMatchesNormalEquations) {
  Fixture f(14);
  DenseOperator op(f.A);
  MatrixOnlyOperator cg_op(f.A);
  for (double gamma : {0.0, 0.01, 1.0, 37.0}) {
    const Tensor expected = prox_normal_equations(f.A, f.z, f.y, gamma);
    EXPECT_LT(max_abs(op.prox(f.z, f.y, gamma) - expected), 1e-11) << gamma;
    EXPECT_LT(max_abs(cg_op.prox(f.z, f.y, gamma) - expected), 1e-9) << gamma;
  }
  // gamma = 0 returns z; gamma = inf projects z onto {A x = y}: A x = y, x - z in the row space.
  EXPECT_LT(max_abs(op.prox(f.z, f.y, 0.0) - f.z), 1e-14);
  for (const LinearOperator* lin : {static_cast<const LinearOperator*>(&op), static_cast<const LinearOperator*>(&cg_op)}) {
    const Tensor p = lin->prox(f.z, f.y, kInf);
    EXPECT_LT(max_abs(lin->forward(p) - f.y), 1e-9) << lin->name();
    const Tensor expected = f.z + at::matmul(f.y - op.forward(f.z), at::linalg_pinv(f.A).t());
    EXPECT_LT(max_abs(p - expected), 1e-9) << lin->name();
    // Large gamma approaches the projection.
    EXPECT_LT(max_abs(lin->prox(f.z, f.y, 1e9) - p), 1e-6) << lin->name();
  }
  expect_error([&] { op.prox(f.z, f.y, -1.0); }, {"gamma"});
  expect_error([&] { cg_op.prox(f.z, f.y, -1.0); }, {"gamma"});
}

TEST(DenseOperator, SolveGramMatchesDirectSolve) {
  Fixture f(15);
  DenseOperator op(f.A);
  MatrixOnlyOperator cg_op(f.A);
  for (auto [alpha, beta] : std::vector<std::pair<double, double>>{{1.0, 0.0}, {0.3, 0.09}, {2.0, 1.0}, {0.0, 0.5}}) {
    const Tensor expected = gram_direct(f.A, f.y, alpha, beta);
    EXPECT_LT(max_abs(op.solve_gram(f.y, alpha, beta) - expected), 1e-10) << alpha << " " << beta;
    EXPECT_LT(max_abs(cg_op.solve_gram(f.y, alpha, beta) - expected), 1e-9) << alpha << " " << beta;
  }
}

TEST(ConjugateGradient, ConvergesToDirectSolve) {
  auto gen = make_generator(16);
  const int64_t n = 8, batch = 3;
  const Tensor M = random_spd(n, gen, 0.05);
  const Tensor rhs = randn({batch, n}, f64(), gen);
  const auto apply = [&](const Tensor& v) { return at::matmul(v, M); };
  ConjugateGradientOptions opt;
  opt.tolerance = 1e-12;
  opt.max_iterations = 200;
  bool converged = false;
  const Tensor x = conjugate_gradient(apply, rhs, opt, &converged);
  EXPECT_TRUE(converged);
  EXPECT_LT(max_abs(x - at::linalg_solve(M, rhs.t()).t()), 1e-9);
  // Each sample is its own system: a zero right-hand side gives zero.
  Tensor rhs0 = rhs.clone();
  rhs0[1].zero_();
  const Tensor x0 = conjugate_gradient(apply, rhs0, opt, &converged);
  EXPECT_TRUE(converged);
  EXPECT_EQ(max_abs(x0[1]), 0.0);
  EXPECT_LT(max_abs(x0[0] - x[0]), 1e-12);
  // Too few iterations: reported as not converged.
  opt.max_iterations = 2;
  conjugate_gradient(apply, rhs, opt, &converged);
  EXPECT_FALSE(converged);
}

TEST(DenseOperator, BadInputsThrow) {
  expect_error([] { DenseOperator(at::zeros({3}, f64())); }, {"[d_y, d]"});
  expect_error([] { DenseOperator(at::zeros({4, 3}, f64())); }, {"d_y <= d"});
  expect_error([] { DenseOperator(at::full({2, 3}, NAN, f64())); }, {"NaN"});
  DenseOperator op(at::ones({2, 3}, f64()));
  expect_error([&] { op.forward(at::zeros({4, 2}, f64())); }, {"[B, 3]"});
  expect_error([&] { op.adjoint(at::zeros({4, 3}, f64())); }, {"[B, 2]"});
}

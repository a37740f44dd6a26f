// The GMM benchmark's problems follow DESIGN §7, and its numbers are reproducible.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "diffinv/gmm_benchmark.h"
#include "diffinv/noise.h"
#include "diffinv/operator.h"
#include "diffinv/rng.h"

using namespace diffinv;

namespace {
GmmBenchmarkConfig small_config(int d, int dy, int problems, int samples, int steps, std::vector<std::string> methods) {
  GmmBenchmarkConfig c;
  c.dims = {d};
  c.dys = {dy};
  c.problems = problems;
  c.samples = samples;
  c.steps = steps;
  c.methods = std::move(methods);
  return c;
}
}  // namespace

TEST(GmmBenchmark, ProblemFollowsTheProtocol) {
  const GmmProblem p = make_gmm_problem(6, 2, 42, at::kDouble);
  ASSERT_EQ(p.prior.num_components(), 25);
  ASSERT_TRUE(p.prior.is_isotropic());
  EXPECT_TRUE(at::allclose(p.prior.scales(), at::ones({25}, at::kDouble)));
  // Means (8i, 8j, 8i, 8j, 8i, 8j) for i, j in -2..2.
  const Tensor m = p.prior.means();
  for (int k = 0; k < 25; ++k) {
    const double i = 8.0 * (k / 5 - 2), j = 8.0 * (k % 5 - 2);
    for (int c = 0; c < 6; ++c) EXPECT_EQ(m[k][c].item<double>(), c % 2 == 0 ? i : j);
  }
  const Tensor s = at::linalg_svdvals(p.A);
  EXPECT_TRUE((s > 0).all().item<bool>() && (s < 1).all().item<bool>()) << s;
  EXPECT_GE(s[0].item<double>(), s[1].item<double>());
  EXPECT_GT(p.sigma_y, 0);
  EXPECT_LE(p.sigma_y, s[0].item<double>());
  EXPECT_NEAR(p.posterior.weights().sum().item<double>(), 1.0, 1e-12);
  // Same seed, same problem; another seed, another problem.
  const GmmProblem again = make_gmm_problem(6, 2, 42, at::kDouble);
  EXPECT_TRUE(at::equal(again.A, p.A) && at::equal(again.y, p.y));
  EXPECT_FALSE(at::equal(make_gmm_problem(6, 2, 43, at::kDouble).A, p.A));
  EXPECT_THROW(make_gmm_problem(7, 2, 1, at::kDouble), Error);
}

TEST(GmmBenchmark, ReproducibleAcrossRunsAndWorkerCounts) {
  GmmBenchmarkConfig c = small_config(4, 1, 3, 300, 20, {"ddnm", "opc2-exact"});
  c.jobs = 1;
  const auto a = run_gmm_benchmark(c);
  c.jobs = 2;
  const auto b = run_gmm_benchmark(c);
  ASSERT_EQ(a.cells.size(), 3u);
  for (size_t i = 0; i < a.cells.size(); ++i) EXPECT_EQ(a.cells[i].values, b.cells[i].values) << a.cells[i].method;
  // The floor (two exact sample sets) sits well below any sampler at these sizes.
  const auto& floor = a.cells.back();
  ASSERT_EQ(floor.method, GmmBenchmarkResult::kFloorLabel);
  for (size_t i = 0; i + 1 < a.cells.size(); ++i) EXPECT_LT(floor.mean, a.cells[i].mean) << a.cells[i].method;
  EXPECT_EQ(a.cells[0].nfe, 20);
}

TEST(GmmBenchmark, ChunkedSamplesKeepTheLawAndTheNfe) {
  // Samples are independent, so running 600 of them as chunks of 64 (the last one 24) changes only the
  // random streams: the same NFE per sample set, every value finite, and a distance to the exact posterior
  // within the spread of the unchunked run (SW at 600 samples varies by ~20% between seeds here).
  GmmBenchmarkConfig c = small_config(40, 2, 2, 600, 20, {"ddnm", "opc1-exact"});
  const auto whole = run_gmm_benchmark(c);
  c.chunk = 64;
  EXPECT_EQ(gmm_chunk_rows(c, 40), 64);
  const auto chunked = run_gmm_benchmark(c);
  for (size_t i = 0; i + 1 < whole.cells.size(); ++i) {
    EXPECT_EQ(chunked.cells[i].nfe, 20) << whole.cells[i].method;
    EXPECT_EQ(chunked.cells[i].diverged, 0) << whole.cells[i].method;
    EXPECT_NE(chunked.cells[i].values, whole.cells[i].values) << "chunks draw other random streams";
    EXPECT_NEAR(chunked.cells[i].mean, whole.cells[i].mean, 0.5 * whole.cells[i].mean) << whole.cells[i].method;
  }
  // Automatic: about 2^16 numbers per chunk, never more rows than samples.
  c.chunk = 0;
  EXPECT_EQ(gmm_chunk_rows(c, 800), 81);
  EXPECT_EQ(gmm_chunk_rows(c, 8), 600);
  c.chunk = -1;
  EXPECT_THROW(run_gmm_benchmark(c), Error);
}

TEST(GmmBenchmark, ExactCovarianceBeatsIsotropicHeuristics) {
  // On a multimodal posterior the exact Cov[x0|x] is the whole point of OPC (Peng et al. 2024,
  // Table 1): Type II with it must beat the same Type with PiGDM's r_t^2 I on average.
  GmmBenchmarkConfig c = small_config(8, 2, 6, 500, 50, {"opc2-exact", "opc2-pigdm"});
  const auto r = run_gmm_benchmark(c);
  EXPECT_LT(r.cells[0].mean, r.cells[1].mean);
}

TEST(GaussianNoise, AddsSeededNoiseOfTheGivenStd) {
  auto gen = make_generator(3);
  const Tensor clean = at::zeros({20000}, at::kDouble);
  const Tensor y = GaussianNoise{0.5}.apply(clean, gen);
  EXPECT_NEAR(y.std().item<double>(), 0.5, 0.02);  // se of a std estimate: 0.5 / sqrt(2 n) = 0.0025
  auto again = make_generator(3);
  EXPECT_TRUE(at::equal(GaussianNoise{0.5}.apply(clean, again), y));
  EXPECT_TRUE(at::equal(GaussianNoise{0.0}.apply(clean, gen), clean));
  EXPECT_THROW(GaussianNoise{-1.0}.apply(clean, gen), Error);
}

TEST(ConjugateGradient, WarnsWhenItStopsAboveTheTolerance) {
  // An ill-conditioned SPD system that 2 iterations cannot solve.
  const Tensor diag = at::logspace(0, 2, 20, 10.0, at::kDouble);
  const Tensor rhs = at::ones({1, 20}, at::kDouble);
  ConjugateGradientOptions options;
  options.max_iterations = 2;
  bool converged = true;
  const int before = conjugate_gradient_warnings();
  ::testing::internal::CaptureStderr();
  conjugate_gradient([&](const Tensor& v) { return v * diag; }, rhs, options, &converged);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(converged);
  EXPECT_EQ(conjugate_gradient_warnings(), before + 1);
  if (before < 3) EXPECT_NE(err.find("conjugate gradient stopped after 2 iterations"), std::string::npos) << err;
  // Enough iterations: converged, silent, and the right answer.
  options.max_iterations = 200;
  ::testing::internal::CaptureStderr();
  const Tensor x = conjugate_gradient([&](const Tensor& v) { return v * diag; }, rhs, options, &converged);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_TRUE(converged);
  EXPECT_EQ(conjugate_gradient_warnings(), before + 1);
  EXPECT_TRUE(at::allclose(x, rhs / diag, 1e-5, 1e-9));
}

// Exact priors (DESIGN §6): the Gaussian-mixture denoiser, its posterior covariance, the closed-form
// linear-Gaussian posterior, log_prob and sampling. Double precision throughout.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffinv/gmm.h"
#include "foundation_helpers.h"

using namespace diffinv;
using namespace diffinv::testing;

namespace {

// A 3-component mixture in d = 3 with full covariances, components ~2-3 apart so that the
// responsibilities are neither 0/1 nor uniform at the sigmas tested.
GaussianMixture full_mixture(at::Generator& gen, int64_t d = 3) {
  const int64_t k = 3;
  const Tensor w = at::tensor({0.5, 0.3, 0.2}, f64());
  const Tensor means = 1.5 * randn({k, d}, f64(), gen);
  std::vector<Tensor> covs;
  for (int64_t i = 0; i < k; ++i) covs.push_back(random_spd(d, gen, 0.1, 0.5));
  return GaussianMixture(w, means, at::stack(covs));
}

GaussianMixture iso_mixture(at::Generator& gen, int64_t d = 3) {
  const Tensor w = at::tensor({0.2, 0.45, 0.35}, f64());
  return GaussianMixture::isotropic(w, 1.5 * randn({3, d}, f64(), gen), at::tensor({0.3, 0.6, 1.1}, f64()));
}

// Log N(x; mean, cov) for x [n, d], one Gaussian, by a direct formula (inverse and determinant).
Tensor gauss_logpdf(const Tensor& x, const Tensor& mean, const Tensor& cov) {
  const int64_t d = mean.size(0);
  const Tensor diff = x - mean;
  const Tensor maha = (at::matmul(diff, at::linalg_inv(cov)) * diff).sum(1);
  return -0.5 * (maha + at::logdet(cov) + d * std::log(2 * M_PI));
}

// E[x0 | x] by self-normalised importance sampling: x0 ~ prior, weights N(x; x0, sigma^2 I).
void check_denoise_mc(GaussianMixturePrior& prior, const Tensor& x, double sigma, at::Generator& gen) {
  const int64_t n = 200000;
  const Tensor x0 = prior.mixture().sample(n, gen);
  const Tensor exact = prior.denoise(x, sigma);
  for (int64_t b = 0; b < x.size(0); ++b) {
    const Tensor log_w = -0.5 * (x0 - x[b]).pow(2).sum(1) / (sigma * sigma);
    auto [est, se] = snis(log_w, x0);
    // SNIS is asymptotically normal with the delta-method standard error `se`; 5 se bounds a
    // correct estimate with probability 1 - 6e-7 per coordinate (and the seed is fixed). Its
    // O(1/n) bias is far below se at the effective sample sizes here (thousands).
    expect_within(exact[b], est, se, 5.0, 1e-12, "denoise vs importance sampling, sigma " + std::to_string(sigma));
    // The test must be able to fail: the standard error has to be small against the scale of the
    // problem (components ~2 apart).
    EXPECT_LT(se.max().item<double>(), 0.05);
  }
}

// Cov[x0 | x] e_i against sigma^2 d D / dx^T e_i by autograd, for every basis vector.
void check_covariance_is_jacobian(GaussianMixturePrior& prior, const Tensor& x, double sigma) {
  const int64_t d = x.size(1);
  const auto cov = prior.posterior_covariance(x, sigma);
  for (int64_t i = 0; i < d; ++i) {
    const Tensor e = at::zeros_like(x);
    e.select(1, i).fill_(1.0);
    Tensor xg = x.detach().clone().requires_grad_(true);
    const Tensor out = prior.denoise(xg, sigma);
    // Samples are independent, so the gradient of sum_b D_i(x_b) is row i of each sample's J.
    const Tensor row = torch::autograd::grad({out.select(1, i).sum()}, {xg})[0];
    const Tensor col = cov(e);
    EXPECT_LT(max_abs(col - row * (sigma * sigma)), 1e-8 * (1 + max_abs(col))) << "sigma " << sigma << " i " << i;
  }
}

}  // namespace

TEST(GmmPrior, DenoiseMatchesImportanceSampling) {
  auto gen = make_generator(1);
  for (bool iso : {true, false}) {
    GaussianMixturePrior prior(iso ? iso_mixture(gen) : full_mixture(gen));
    const Tensor x = prior.mixture().sample(3, gen) + 0.5 * randn({3, 3}, f64(), gen);
    for (double sigma : {0.4, 1.0, 2.5}) check_denoise_mc(prior, x, sigma, gen);
  }
}

TEST(GmmPrior, DenoiseEqualsPosteriorWithIdentityOperator) {
  // E[x0 | x] is the posterior mean for y = I x0 + N(0, sigma^2 I): a second closed form.
  auto gen = make_generator(2);
  for (bool iso : {true, false}) {
    GaussianMixturePrior prior(iso ? iso_mixture(gen, 4) : full_mixture(gen, 4));
    const Tensor x = prior.mixture().sample(4, gen) + randn({4, 4}, f64(), gen);
    for (double sigma : {0.05, 0.7, 3.0}) {
      const Tensor d = prior.denoise(x, sigma);
      const auto cov = prior.posterior_covariance(x, sigma);
      const Tensor eye = at::eye(4, f64());
      for (int64_t b = 0; b < 4; ++b) {
        const auto post = prior.mixture().posterior(eye, x[b], sigma);
        EXPECT_LT(max_abs(d[b] - post.mean()), 1e-9) << sigma;
        // Cov[x0 | x] as a matrix: its columns are cov(e_i) for this sample.
        std::vector<Tensor> cols;
        for (int64_t i = 0; i < 4; ++i) cols.push_back(cov(x.new_zeros({4, 4}).index_fill_(1, at::tensor({i}), 1.0))[b]);
        EXPECT_LT(max_abs(at::stack(cols, 1) - post.covariance()), 1e-9) << sigma;
      }
    }
  }
}

TEST(GmmPrior, PosteriorCovarianceIsSigmaSquaredTimesJacobian) {
  auto gen = make_generator(3);
  for (bool iso : {true, false}) {
    GaussianMixturePrior prior(iso ? iso_mixture(gen) : full_mixture(gen));
    const Tensor x = prior.mixture().sample(5, gen) + 0.7 * randn({5, 3}, f64(), gen);
    for (double sigma : {0.1, 0.8, 4.0}) check_covariance_is_jacobian(prior, x, sigma);
  }
}

TEST(GmmPrior, FullAndIsotropicPathsAgreeOnScalarCovariances) {
  auto gen = make_generator(4);
  const int64_t d = 3;
  const Tensor w = at::tensor({1.0, 2.0, 3.0}, f64());
  const Tensor means = 2 * randn({3, d}, f64(), gen);
  const Tensor scales = at::tensor({0.2, 0.9, 1.7}, f64());
  const auto iso_mix = GaussianMixture::isotropic(w, means, scales);
  const auto full_mix = GaussianMixture(w, means, scales.view({-1, 1, 1}) * at::eye(d, f64()));
  ASSERT_TRUE(iso_mix.is_isotropic());
  ASSERT_FALSE(full_mix.is_isotropic());
  GaussianMixturePrior iso(iso_mix), full(full_mix);
  const Tensor x = 2 * randn({6, d}, f64(), gen);
  for (double sigma : {0.0, 0.3, 1.0, 10.0}) {
    EXPECT_LT(max_abs(iso.denoise(x, sigma) - full.denoise(x, sigma)), 1e-12) << sigma;
    const Tensor v = randn({6, d}, f64(), gen);
    EXPECT_LT(max_abs(iso.posterior_covariance(x, sigma)(v) - full.posterior_covariance(x, sigma)(v)), 1e-12);
  }
  EXPECT_LT(max_abs(iso_mix.log_prob(x) - full_mix.log_prob(x)), 1e-12);
  EXPECT_LT(max_abs(iso_mix.covariance() - full_mix.covariance()), 1e-12);
  const Tensor A = randn({2, d}, f64(), gen), y = randn({2}, f64(), gen);
  const auto pi = iso_mix.posterior(A, y, 0.4), pf = full_mix.posterior(A, y, 0.4);
  EXPECT_LT(max_abs(pi.weights() - pf.weights()), 1e-12);
  EXPECT_LT(max_abs(pi.means() - pf.means()), 1e-12);
  EXPECT_LT(max_abs(pi.covariances() - pf.covariances()), 1e-12);
}

TEST(GmmPrior, SingleGaussianPosteriorIsTheConjugateFormula) {
  auto gen = make_generator(5);
  const int64_t d = 4;
  const Tensor m = randn({d}, f64(), gen), S = random_spd(d, gen);
  const auto g = GaussianMixture::gaussian(m, S);
  const Tensor A = randn({2, d}, f64(), gen), y = randn({2}, f64(), gen);
  for (double sy : {0.05, 0.3, 2.0}) {
    // DESIGN §6: C = (S^-1 + A^T A / sy^2)^-1, m' = C (A^T y / sy^2 + S^-1 m).
    const Tensor Si = at::linalg_inv(S);
    const Tensor C = at::linalg_inv(Si + at::matmul(A.t(), A) / (sy * sy));
    const Tensor mp = at::matmul(C, at::matmul(A.t(), y) / (sy * sy) + at::matmul(Si, m));
    const auto post = g.posterior(A, y, sy);
    ASSERT_EQ(post.num_components(), 1);
    EXPECT_NEAR(post.weights()[0].item<double>(), 1.0, 1e-14);
    EXPECT_LT(max_abs(post.means()[0] - mp), 1e-10) << sy;
    EXPECT_LT(max_abs(post.covariances()[0] - C), 1e-10) << sy;
  }
  // sigma_y = 0 (Woodbury form): the posterior lives on {A x = y}.
  const auto exact = g.posterior(A, y, 0.0);
  EXPECT_LT(max_abs(at::matmul(A, exact.means()[0]) - y), 1e-10);
  EXPECT_LT(max_abs(at::matmul(A, exact.covariances()[0])), 1e-10);
}

TEST(GmmPrior, MixturePosteriorWeightsFollowTheEvidence) {
  // w_k ∝ w_k N(y; A mu_k, sy^2 I + A S_k A^T), each component updated by the conjugate formula.
  auto gen = make_generator(6);
  const auto mix = full_mixture(gen, 4);
  const Tensor A = randn({2, 4}, f64(), gen), y = randn({2}, f64(), gen);
  const double sy = 0.5;
  const auto post = mix.posterior(A, y, sy);
  std::vector<Tensor> logw;
  for (int64_t k = 0; k < 3; ++k) {
    const Tensor Sk = mix.covariances()[k];
    const Tensor M = sy * sy * at::eye(2, f64()) + at::matmul(A, at::matmul(Sk, A.t()));
    logw.push_back(std::log(mix.weights()[k].item<double>()) +
                   gauss_logpdf(y.unsqueeze(0), at::matmul(A, mix.means()[k]), M)[0]);
    const auto single = GaussianMixture::gaussian(mix.means()[k], Sk).posterior(A, y, sy);
    EXPECT_LT(max_abs(post.means()[k] - single.means()[0]), 1e-12);
    EXPECT_LT(max_abs(post.covariances()[k] - single.covariances()[0]), 1e-12);
  }
  EXPECT_LT(max_abs(post.weights() - at::softmax(at::stack(logw), 0)), 1e-12);
}

TEST(GmmPrior, PosteriorMatchesImportanceSampling) {
  auto gen = make_generator(7);
  for (bool iso : {true, false}) {
    const auto mix = iso ? iso_mixture(gen) : full_mixture(gen);
    const Tensor A = randn({2, 3}, f64(), gen);
    const Tensor x_true = mix.sample(1, gen)[0];
    const double sy = 0.5;
    const Tensor y = at::matmul(A, x_true) + sy * randn({2}, f64(), gen);
    const auto post = mix.posterior(A, y, sy);
    const int64_t n = 400000;
    const Tensor x0 = mix.sample(n, gen);
    const Tensor log_w = -0.5 * (at::matmul(x0, A.t()) - y).pow(2).sum(1) / (sy * sy);
    auto [mean, mean_se] = snis(log_w, x0);
    // Covariance entries as SNIS estimates of (x - m)_i (x - m)_j around the closed-form mean (the
    // estimated mean differs from it by O(se), which moves the covariance by O(se^2) only).
    const Tensor c = x0 - post.mean();
    auto [second, second_se] = snis(log_w, (c.unsqueeze(2) * c.unsqueeze(1)).flatten(1));
    // 5 standard errors: see check_denoise_mc.
    expect_within(mean, post.mean(), mean_se, 5.0, 1e-12, "posterior mean");
    expect_within(second.view({3, 3}), post.covariance(), second_se.view({3, 3}), 5.0, 1e-12, "posterior covariance");
    EXPECT_LT(mean_se.max().item<double>(), 0.02);
  }
}

TEST(GmmPrior, LogProbIsNormalisedAndMatchesTheDirectFormula) {
  // 1-D mixture: direct formula and a Riemann sum over [-15, 15] (tails beyond ~8 std are < 1e-14).
  const Tensor w = at::tensor({0.2, 0.5, 0.3}, f64());
  const Tensor mu = at::tensor({-2.0, 0.5, 3.0}, f64()).unsqueeze(1);
  const Tensor var = at::tensor({0.3, 1.2, 0.6}, f64());
  const auto mix = GaussianMixture(w, mu, var.view({3, 1, 1}));
  const auto iso = GaussianMixture::isotropic(w, mu, var);
  const Tensor x = at::linspace(-15, 15, 30001, f64()).unsqueeze(1);
  const Tensor direct =
      (w / (2 * M_PI * var).sqrt() * at::exp(-0.5 * (x - mu.t()).pow(2) / var)).sum(1);
  EXPECT_LT(max_abs(mix.log_prob(x).exp() - direct), 1e-13);
  EXPECT_LT(max_abs(iso.log_prob(x).exp() - direct), 1e-13);
  const double dx = 30.0 / 30000;
  EXPECT_NEAR(mix.log_prob(x).exp().sum().item<double>() * dx, 1.0, 1e-10);
  // d = 3 full covariances against an explicit inverse/determinant.
  auto gen = make_generator(8);
  const auto full = full_mixture(gen);
  const Tensor xs = 2 * randn({50, 3}, f64(), gen);
  std::vector<Tensor> comps;
  for (int64_t k = 0; k < 3; ++k)
    comps.push_back(std::log(full.weights()[k].item<double>()) + gauss_logpdf(xs, full.means()[k], full.covariances()[k]));
  EXPECT_LT(max_abs(full.log_prob(xs) - at::logsumexp(at::stack(comps, 1), 1)), 1e-10);
}

TEST(GmmPrior, SampleHasTheMixtureMoments) {
  auto gen = make_generator(9);
  for (bool iso : {true, false}) {
    const auto mix = iso ? iso_mixture(gen) : full_mixture(gen);
    const int64_t n = 200000;
    const Tensor x = mix.sample(n, gen);
    ASSERT_EQ(x.sizes(), (at::IntArrayRef{n, 3}));
    const auto m = moments(x);
    // 5 empirical standard errors (fixed seed; see moments()).
    expect_within(m.mean, mix.mean(), m.mean_se, 5.0, 0.0, "sample mean");
    expect_within(m.cov, mix.covariance(), m.cov_se, 5.0, 0.0, "sample covariance");
    // The same seed gives the same samples.
    auto g1 = make_generator(42), g2 = make_generator(42);
    EXPECT_TRUE(at::equal(mix.sample(100, g1), mix.sample(100, g2)));
  }
}

TEST(GmmPrior, MixtureMeanAndCovarianceFormulas) {
  auto gen = make_generator(10);
  const auto mix = full_mixture(gen);
  // Law of total covariance by explicit loops.
  Tensor mean = at::zeros({3}, f64()), second = at::zeros({3, 3}, f64());
  for (int64_t k = 0; k < 3; ++k) {
    const double wk = mix.weights()[k].item<double>();
    mean += wk * mix.means()[k];
    second += wk * (mix.covariances()[k] + at::outer(mix.means()[k], mix.means()[k]));
  }
  EXPECT_LT(max_abs(mix.mean() - mean), 1e-12);
  EXPECT_LT(max_abs(mix.covariance() - (second - at::outer(mean, mean))), 1e-12);
  // Weights are normalised.
  const auto unnorm = GaussianMixture(at::tensor({2.0, 6.0}, f64()), at::zeros({2, 2}, f64()),
                                      at::eye(2, f64()).expand({2, 2, 2}).clone());
  EXPECT_LT(max_abs(unnorm.weights() - at::tensor({0.25, 0.75}, f64())), 1e-15);
}

TEST(GmmPrior, BadInputsThrowNamingTheProblem) {
  const Tensor eye = at::eye(2, f64()).expand({2, 2, 2}).clone();
  const Tensor means = at::zeros({2, 2}, f64());
  expect_error([&] { GaussianMixture(at::tensor({0.5, -0.1}, f64()), means, eye); }, {"weights", "non-negative"});
  expect_error([&] { GaussianMixture(at::tensor({0.0, 0.0}, f64()), means, eye); }, {"weights", "positive sum"});
  expect_error([&] { GaussianMixture(at::tensor({0.5, NAN}, f64()), means, eye); }, {"weights", "NaN"});
  expect_error([&] { GaussianMixture(at::tensor({0.5, 0.5}, f64()), at::zeros({3, 2}, f64()), eye); }, {"means", "[K, d]"});
  expect_error([&] { GaussianMixture(at::tensor({0.5, 0.5}, f64()), means, at::ones({2, 3, 3}, f64())); },
               {"covariances", "[2, 2, 2]"});
  Tensor nan_means = means.clone();
  nan_means[0][1] = NAN;
  expect_error([&] { GaussianMixture(at::tensor({0.5, 0.5}, f64()), nan_means, eye); }, {"means", "NaN"});
  Tensor nan_cov = eye.clone();
  nan_cov[1][0][0] = NAN;
  expect_error([&] { GaussianMixture(at::tensor({0.5, 0.5}, f64()), means, nan_cov); }, {"covariances", "NaN"});
  expect_error([&] { GaussianMixture::isotropic(at::tensor({0.5, 0.5}, f64()), means, at::tensor({1.0, -1.0}, f64())); },
               {"scales", "positive"});
  expect_error([&] { GaussianMixture::isotropic(at::tensor({0.5, 0.5}, f64()), means, at::tensor({1.0}, f64())); },
               {"scales", "[K]"});
  expect_error([&] { GaussianMixture::gaussian(at::zeros({2, 2}, f64()), at::eye(2, f64())); }, {"mean", "[d]"});
  // Not positive definite.
  Tensor indefinite = eye.clone();
  indefinite[0][1][1] = -1.0;
  expect_error([&] { GaussianMixturePrior(GaussianMixture(at::tensor({0.5, 0.5}, f64()), means, indefinite)); },
               {"positive definite"});
  expect_error([&] { GaussianMixture(at::tensor({0.5, 0.5}, f64()), means, indefinite).log_prob(means); },
               {"positive definite"});
  const auto mix = GaussianMixture(at::tensor({0.5, 0.5}, f64()), means, eye);
  GaussianMixturePrior prior(mix);
  expect_error([&] { prior.denoise(at::zeros({4, 3}, f64()), 1.0); }, {"shape", "[B, 2]"});
  expect_error([&] { prior.denoise(at::zeros({4}, f64()), 1.0); }, {"shape"});
  expect_error([&] { prior.denoise(at::zeros({4, 2}, f64()), -1.0); }, {"sigma"});
  expect_error([&] { prior.denoise(at::zeros({4, 2}, f64()), NAN); }, {"sigma"});
  expect_error([&] { mix.log_prob(at::zeros({4, 3}, f64())); }, {"log_prob", "[n, 2]"});
  expect_error([&] { mix.posterior(at::zeros({1, 3}, f64()), at::zeros({1}, f64()), 0.1); }, {"A must be"});
  expect_error([&] { mix.posterior(at::zeros({1, 2}, f64()), at::zeros({2}, f64()), 0.1); }, {"y must be"});
  expect_error([&] { mix.posterior(at::zeros({1, 2}, f64()), at::zeros({1}, f64()), -0.1); }, {"sigma_y"});
  expect_error([&] { mix.posterior(at::zeros({1, 2}, f64()), at::full({1}, NAN, f64()), 0.1); }, {"measurement", "NaN"});
}

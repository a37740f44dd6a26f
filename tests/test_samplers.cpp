// Samplers (DESIGN §2, §5) on exact priors: every table entry's contract (seeded determinism,
// independent noise per sample, finite output, speed), exactness of OPC with the exact posterior
// covariance on a Gaussian prior, hard data consistency of DDNM/DDRM, unconditional DDPM on a
// GMM, and the option/table error paths. Double precision throughout.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <set>

#include "diffinv/counting_denoiser.h"
#include "diffinv/gmm.h"
#include "diffinv/samplers.h"
#include "../src/samplers/steps.h"
#include "foundation_helpers.h"
#include "sampler_helpers.h"

using namespace diffinv;
using namespace diffinv::testing;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Samplers whose default options add no noise after x_init.
bool deterministic_by_default(const std::string& name) { return name == "ddim" || name == "opc-heun"; }

constexpr int kTableSteps = 20;

}  // namespace

TEST(SamplerTable, EveryEntryIsSeededFiniteAndDrawsIndependentNoise) {
  auto gen = make_generator(21);
  const int64_t d = 6, batch = 4;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.1, gen);
  const auto problem = p.inverse(batch);
  std::set<std::string> names;
  ASSERT_GE(sampler_table().size(), 12u);
  for (const auto& info : sampler_table()) {
    SCOPED_TRACE(info.name);
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate name";
    EXPECT_FALSE(info.summary.empty());
    EXPECT_FALSE(info.paper.empty());
    EXPECT_GT(info.default_steps, 0);
    ASSERT_TRUE(bool(info.prepare));  // every row can be prepared and run (SamplerInfo::run prepares)
    EXPECT_NO_THROW(check_sampler_fits(info, p.op.get()));
    const auto sigmas = make_sigma_grid(p.prior->schedule(), info.grid, kTableSteps);
    const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);

    const auto t0 = std::chrono::steady_clock::now();
    const Tensor a = run_sampler(info, *p.prior, problem, x_init, sigmas, 7);
    // 20 steps at d = 6 take 3-50 ms on a free core; the bound only catches pathologies, since
    // wall-clock time on a shared, oversubscribed machine varies by 100x.
    EXPECT_LT(seconds_since(t0), 10.0);
    const Tensor b = run_sampler(info, *p.prior, problem, x_init, sigmas, 7);
    ASSERT_EQ(a.sizes(), x_init.sizes());
    EXPECT_EQ(a.scalar_type(), at::kDouble);
    EXPECT_TRUE(at::isfinite(a).all().item<bool>());
    EXPECT_TRUE(at::equal(a, b)) << "same seed, different output";
    // The input is not modified in place.
    EXPECT_TRUE(at::isfinite(x_init).all().item<bool>());

    // One starting point repeated over the batch: stochastic samplers must give B different samples
    // (each sample draws its own noise); deterministic ones B copies.
    const Tensor same = x_init[0].unsqueeze(0).expand({batch, d}).contiguous();
    const Tensor out = run_sampler(info, *p.prior, problem, same, sigmas, 8);
    EXPECT_TRUE(at::isfinite(out).all().item<bool>());
    const Tensor dist = at::cdist(out, out) + at::eye(batch, f64()) * 1e9;
    if (deterministic_by_default(info.name)) {
      EXPECT_LT(max_abs(out - out[0]), 1e-10);
      EXPECT_TRUE(at::equal(run_sampler(info, *p.prior, problem, x_init, sigmas, 9), a)) << "seed must not matter";
    } else {
      EXPECT_GT(dist.min().item<double>(), 1e-3) << "two samples of the batch coincide:\n" << out;
      EXPECT_FALSE(at::equal(run_sampler(info, *p.prior, problem, x_init, sigmas, 9), a)) << "seed ignored";
    }
  }
}

TEST(SamplerTable, DocumentedDefaultsAreTheDefaults) {
  // Passing every option at its documented default value changes nothing (the docs come from the
  // same visit() as the parser, and the printed defaults parse back to the same values).
  auto gen = make_generator(22);
  const int64_t d = 4, batch = 2;
  Problem p = make_problem(small_gmm(d, gen), 2, 0.2, gen);
  const auto problem = p.inverse(batch);
  for (const auto& info : sampler_table()) {
    SCOPED_TRACE(info.name);
    OptionMap all;
    for (const auto& o : info.options) {
      EXPECT_FALSE(o.help.empty()) << o.name;
      all[o.name] = o.default_value;
    }
    const auto sigmas = make_sigma_grid(p.prior->schedule(), info.grid, 5);
    const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
    EXPECT_TRUE(at::equal(run_sampler(info, *p.prior, problem, x_init, sigmas, 3, all),
                          run_sampler(info, *p.prior, problem, x_init, sigmas, 3)));
  }
}

namespace {

// The law of an OPC sampler's output on a Gaussian prior. With p(x0 | y) = N(m, P), the posterior
// mean the sampler computes is exactly x0_y(x) = E[x0 | x_t = x, y] = m + G_s (x - m) with
// G_s = P (P + s^2 I)^{-1}: the Gaussian approximation of p(x0 | x_t) is exact, the exact covariance
// is Cov[x0 | x_t] = s^2 J, so Type I and Type II both give the exact conditional mean. Every step
// is then affine in x - m plus independent Gaussian noise, and the output is Gaussian with mean m
// (exactly, for any grid, when x_init ~ p(x_T | y) has mean m) and a covariance obtained by
// propagating the covariance through the steps.
//
// DDPM (eta = 1) step: x' = x0_y + k (x - x0_y) + c z, k = s'^2/s^2, c^2 = s'^2 (1 - k).
Tensor ddpm_law(const Tensor& P, const std::vector<double>& sigmas) {
  const int64_t d = P.size(0);
  const Tensor I = at::eye(d, f64());
  Tensor V = P + sigmas.front() * sigmas.front() * I;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const double s = sigmas[i], sn = sigmas[i + 1];
    const Tensor G = at::matmul(P, at::linalg_inv(P + s * s * I));
    const double k = sn * sn / (s * s), c2 = sn * sn * (1 - k);
    const Tensor M = G + k * (I - G);
    V = at::matmul(M, at::matmul(V, M.t())) + c2 * I;
  }
  return V;
}

// Heun (EDM Alg. 2, no churn) on dx/ds = (x - x0_y(x, s)) / s: x' = x + (s' - s)(d + d') / 2 with an
// Euler predictor; the last step (s' = 0) is Euler, x' = x0_y(x, s).
Tensor heun_law(const Tensor& P, const std::vector<double>& sigmas) {
  const int64_t d = P.size(0);
  const Tensor I = at::eye(d, f64());
  auto G = [&](double s) { return at::matmul(P, at::linalg_inv(P + s * s * I)); };
  Tensor V = P + sigmas.front() * sigmas.front() * I;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const double s = sigmas[i], sn = sigmas[i + 1];
    const Tensor D = (I - G(s)) / s;  // d = D (x - m)
    Tensor H;
    if (sn > 0) {
      const Tensor euler = I + (sn - s) * D;
      H = I + 0.5 * (sn - s) * (D + at::matmul((I - G(sn)) / sn, euler));
    } else {
      H = G(s);
    }
    V = at::matmul(H, at::matmul(V, H.t()));
  }
  return V;
}

struct GaussianCase {
  Problem p;
  GaussianMixture post;
  Tensor m, P;
};

GaussianCase gaussian_case(uint64_t seed) {
  auto gen = make_generator(seed);
  const int64_t d = 4;
  auto mix = GaussianMixture::gaussian(randn({d}, f64(), gen), random_spd(d, gen, 0.2));
  Problem p = make_problem(mix, 2, 0.3, gen);
  auto post = p.prior->mixture().posterior(p.A, p.y1, p.sigma_y);
  const Tensor m = post.mean(), P = post.covariance();
  return {std::move(p), std::move(post), m, P};
}

// x_init ~ p(x_T | y) = N(m, P + sigma_T^2 I): the exact start.
Tensor exact_start(const GaussianCase& g, int64_t n, double sigma_T, at::Generator& gen) {
  return g.post.sample(n, gen) + sigma_T * randn({n, g.m.size(0)}, f64(), gen);
}

// Relative size of a covariance error: |V - P|_ij / sqrt(P_ii P_jj).
double relative_cov_error(const Tensor& V, const Tensor& P) {
  const Tensor sd = P.diagonal().sqrt();
  return max_abs((V - P) / at::outer(sd, sd));
}

}  // namespace

TEST(SamplerExactness, OpcWithExactCovarianceSamplesTheGaussianPosterior) {
  auto g = gaussian_case(31);
  const int64_t n = 4000, steps = 200;
  const auto sigmas = make_sigma_grid(g.p.prior->schedule(), GridKind::Uniform, steps);
  const auto law = ddpm_law(g.P, sigmas);
  // DDPM's ancestral step uses the noise of q(x_{t-1} | x_t, x0) and drops the (1-k)^2 Cov[x0 | x_t, y]
  // a plugged-in x0_y leaves out: an O(1/steps) covariance bias (the mean is unaffected). It is a
  // property of the method, not of the code: check it shrinks with the steps, and compare the
  // samples with the exact law of the sampler (which then tends to the posterior).
  EXPECT_LT(relative_cov_error(law, g.P), 0.25);
  EXPECT_LT(relative_cov_error(ddpm_law(g.P, make_sigma_grid(g.p.prior->schedule(), GridKind::Uniform, 1000)), g.P),
            0.08);
  auto gen = make_generator(32);
  const Tensor x_init = exact_start(g, n, sigmas.front(), gen);
  const auto problem = g.p.inverse(n);
  for (const char* type : {"1", "2"}) {
    SCOPED_TRACE(std::string("type ") + type);
    const Tensor x = run_sampler(find_sampler("opc"), *g.p.prior, problem, x_init, sigmas, 33,
                                 {{"type", type}, {"covariance", "exact"}, {"eta", "1"}});
    const auto mo = moments(x);
    // Tolerances: 5 Monte-Carlo standard errors estimated from the samples (se(mean_i) =
    // sd_i/sqrt(n), se(cov_ij) = sd of the centred products / sqrt(n), ~ sqrt((V_ii V_jj + V_ij^2)/n)
    // for Gaussian samples); the seed is fixed, and 5 se leaves a 6e-7 chance per entry.
    expect_within(mo.mean, g.m, mo.mean_se, 5.0, 0.0, "opc sample mean vs posterior mean");
    expect_within(mo.cov, law, mo.cov_se, 5.0, 0.0, "opc sample covariance vs the sampler's exact law");
    // And against the posterior itself, allowing the discretisation bias computed above.
    expect_within(mo.cov, g.P, mo.cov_se * 5.0 + (law - g.P).abs(), 1.0, 0.0, "opc sample covariance vs posterior");
    // The test has power: the posterior is much tighter than the prior in the measured directions.
    EXPECT_GT(max_abs(g.p.prior->mixture().covariance() - g.P), 20 * mo.cov_se.max().item<double>());
    EXPECT_GT(max_abs(g.p.prior->mixture().mean() - g.m), 10 * mo.mean_se.max().item<double>());
  }
}

TEST(SamplerExactness, OpcHeunDeterministicHasThePosteriorMean) {
  auto g = gaussian_case(41);
  const int64_t n = 4000, steps = 50;
  const auto sigmas = make_sigma_grid(g.p.prior->schedule(), GridKind::Karras, steps);
  // The probability-flow ODE with the exact conditional denoiser transports p(x_T | y) to p(x0 | y);
  // Heun's method is affine here, so the mean stays exactly m for any grid, and the covariance is
  // off only by the second-order discretisation error.
  const auto law = heun_law(g.P, sigmas);
  EXPECT_LT(relative_cov_error(law, g.P), 0.02);
  auto gen = make_generator(42);
  const Tensor x_init = exact_start(g, n, sigmas.front(), gen);
  for (const char* type : {"1", "2"}) {
    SCOPED_TRACE(std::string("type ") + type);
    const Tensor x = run_sampler(find_sampler("opc-heun"), *g.p.prior, g.p.inverse(n), x_init, sigmas, 43,
                                 {{"type", type}, {"covariance", "exact"}});
    const auto mo = moments(x);
    // 5 Monte-Carlo standard errors (see above).
    expect_within(mo.mean, g.m, mo.mean_se, 5.0, 0.0, "opc-heun sample mean vs posterior mean");
    expect_within(mo.cov, law, mo.cov_se, 5.0, 0.0, "opc-heun sample covariance vs the sampler's exact law");
    expect_within(mo.cov, g.P, mo.cov_se * 5.0 + (law - g.P).abs(), 1.0, 0.0, "opc-heun covariance vs posterior");
  }
}

TEST(SamplerExactness, DdnmAndDdrmAreDataConsistentWithoutNoise) {
  auto gen = make_generator(51);
  const int64_t d = 6, batch = 16;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.0, gen);
  const auto problem = p.inverse(batch);
  for (const char* name : {"ddnm", "ddrm"}) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    const auto sigmas = make_sigma_grid(p.prior->schedule(), info.grid, 30);
    const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
    OptionMap options{{"eta", "0.85"}};
    if (info.name == "ddrm") options["eta_b"] = "1";  // eta_b = 1: the measured part is y itself
    const Tensor x = run_sampler(info, *p.prior, problem, x_init, sigmas, 52, options);
    EXPECT_LT(max_abs(p.op->forward(x) - problem.y), 1e-6);
    // ... while the unmeasured part still varies over the batch (the prior fills it in).
    EXPECT_GT(x.std(0).max().item<double>(), 0.05);
  }
}

TEST(TimeTravel, IndicesFollowRePaintsJumpSchedule) {
  // RePaint's get_schedule_jump(10, 3, 2) is t = 9 8 7 6 7 8 9 8 7 6 5 4 3 4 5 6 5 4 3 2 1 0 1 2 3 2 1 0 -1;
  // the grid index is 9 - t.
  const std::vector<int> expected{0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 5, 4, 3, 4, 5, 6, 7,
                                  8, 9, 8, 7, 6, 7, 8, 9, 10};
  EXPECT_EQ(steps::time_travel_indices(10, 3, 2, "t"), expected);
  EXPECT_EQ(steps::time_travel_indices(4, 1, 1, "t"), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(steps::time_travel_indices(4, 9, 1, "t"), (std::vector<int>{0, 1, 2, 3, 4}));  // no travel: any length
  expect_error([] { steps::time_travel_indices(10, 0, 2, "ddnm"); }, {"ddnm", "travel_length must be >= 1"});
  expect_error([] { steps::time_travel_indices(10, 3, 0, "ddnm"); }, {"ddnm", "travel_repeat must be >= 1"});
  expect_error([] { steps::time_travel_indices(10, 10, 2, "ddnm"); }, {"travel_length 10", "shorter than the 10 steps"});
}

TEST(TimeTravel, DdnmStaysDataConsistentAndSpendsTheExtraSteps) {
  // 10 steps with travel_length 3, travel_repeat 2: three blocks re-run once, 10 + 3 * 3 = 19 NFE; with
  // sigma_y = 0 the output still satisfies A x = y exactly, and the extra passes change the samples.
  auto gen = make_generator(57);
  const int64_t d = 6, batch = 16;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.0, gen);
  const auto problem = p.inverse(batch);
  for (const char* name : {"ddnm", "ddnm+"}) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    const auto sigmas = make_sigma_grid(p.prior->schedule(), info.grid, 10);
    const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
    CountingDenoiser counted(*p.prior);
    const Tensor travelled =
        run_sampler(info, counted, problem, x_init, sigmas, 58, {{"travel_length", "3"}, {"travel_repeat", "2"}});
    EXPECT_EQ(counted.count(), 19);
    EXPECT_LT(max_abs(p.op->forward(travelled) - problem.y), 1e-6);
    const Tensor plain = run_sampler(info, *p.prior, problem, x_init, sigmas, 58);
    EXPECT_GT(max_abs(travelled - plain), 1e-3);
  }
}

TEST(SamplerExactness, UnconditionalDdpmReproducesAGmmPrior) {
  // Four well-separated components (means 8 apart, std 0.5): nearest-mean assignment is exact up
  // to a 1e-15 tail.
  const Tensor w = at::tensor({0.1, 0.2, 0.3, 0.4}, f64());
  const Tensor mu = at::tensor({-4.0, -4.0, -4.0, 4.0, 4.0, -4.0, 4.0, 4.0}, f64()).view({4, 2});
  const Tensor scale = at::tensor({0.25, 0.25, 0.25, 0.25}, f64());
  GaussianMixturePrior prior(GaussianMixture::isotropic(w, mu, scale));
  const int64_t n = 4000;
  const auto sigmas = make_sigma_grid(prior.schedule(), GridKind::Uniform, 200);
  auto gen = make_generator(61);
  const Tensor x_init = prior.mixture().sample(n, gen) + sigmas.front() * randn({n, 2}, f64(), gen);
  InverseProblem none;
  const Tensor x = run_sampler(find_sampler("ddpm"), prior, none, x_init, sigmas, 62);
  ASSERT_TRUE(at::isfinite(x).all().item<bool>());
  const Tensor nearest = at::cdist(x, mu).argmin(1);
  for (int64_t k = 0; k < 4; ++k) {
    SCOPED_TRACE(k);
    const Tensor mask = nearest == k;
    const int64_t nk = mask.sum().item<int64_t>();
    const double wk = w[k].item<double>();
    // Binomial frequency: 5 standard errors sqrt(w (1 - w) / n) (~0.02-0.04 here).
    EXPECT_NEAR(double(nk) / n, wk, 5 * std::sqrt(wk * (1 - wk) / n));
    const auto mo = moments(x.index({mask}));
    expect_within(mo.mean, mu[k], mo.mean_se, 5.0, 0.0, "component mean");
    // Samples stay near their component (std 0.5): nothing collapsed or exploded.
    EXPECT_GT(mo.cov.diagonal().min().item<double>(), 0.15);
    EXPECT_LT(mo.cov.diagonal().max().item<double>(), 0.35);
  }
}

TEST(SamplerOptions, UnknownAndMalformedOptionsThrow) {
  auto gen = make_generator(71);
  Problem p = make_problem(small_gmm(4, gen), 2, 0.2, gen);
  const auto problem = p.inverse(2);
  const auto sigmas = make_sigma_grid(p.prior->schedule(), GridKind::Uniform, 3);
  const Tensor x_init = sigmas.front() * randn({2, 4}, f64(), gen);
  const auto& opc = find_sampler("opc");
  auto run = [&](const SamplerInfo& info, OptionMap o) { run_sampler(info, *p.prior, problem, x_init, sigmas, 1, o); };
  expect_error([&] { run(opc, {{"bogus", "1"}}); }, {"unknown option 'bogus'", "opc", "type", "covariance", "lambda", "eta"});
  expect_error([&] { run(find_sampler("ddpm"), {{"eta", "1"}}); }, {"unknown option 'eta'", "none"});
  expect_error([&] { run(opc, {{"eta", "abc"}}); }, {"eta", "number", "abc"});
  expect_error([&] { run(opc, {{"eta", "1.0x"}}); }, {"eta", "1.0x"});
  expect_error([&] { run(opc, {{"eta", "nan"}}); }, {"eta", "finite"});
  expect_error([&] { run(opc, {{"type", "1.5"}}); }, {"type", "integer"});
  expect_error([&] { run(opc, {{"type", "3"}}); }, {"type", "1 or 2"});
  expect_error([&] { run(opc, {{"covariance", "diagonal"}}); }, {"covariance", "diagonal", "exact", "pigdm"});
  expect_error([&] { run(find_sampler("diffpir"), {{"zeta", "2"}}); }, {"zeta"});
  OptionMap into;
  parse_key_value("eta=0.5", into);
  EXPECT_EQ(into.at("eta"), "0.5");
  expect_error([&] { parse_key_value("eta", into); }, {"key=value", "eta"});
  expect_error([&] { parse_key_value("=1", into); }, {"key=value"});
  expect_error([&] { parse_key_value("eta=", into); }, {"key=value"});
}

TEST(SamplerOptions, FindSamplerAndOperatorFit) {
  expect_error([] { find_sampler("nope"); }, {"unknown sampler 'nope'", "ddpm", "dps", "opc", "ddrm", "dps-dmps"});
  EXPECT_EQ(find_sampler("ddnm+").name, "ddnm+");

  class NonLinear : public Operator {
   public:
    std::string name() const override { return "square"; }
    Tensor forward(const Tensor& x) const override { return x * x; }
  };
  class LinearOnly : public LinearOperator {
   public:
    std::string name() const override { return "linear-only"; }
    Tensor forward(const Tensor& x) const override { return x; }
    Tensor adjoint(const Tensor& y) const override { return y; }
  };
  NonLinear square;
  LinearOnly lin;
  DenseOperator dense(at::eye(2, f64()));
  expect_error([&] { check_sampler_fits(find_sampler("ddrm"), &lin); }, {"ddrm", "SVD", "linear-only"});
  expect_error([&] { check_sampler_fits(find_sampler("ddnm+"), &lin); }, {"ddnm+", "SVD"});
  expect_error([&] { check_sampler_fits(find_sampler("pigdm"), &square); }, {"pigdm", "linear", "square"});
  expect_error([&] { check_sampler_fits(find_sampler("dps"), nullptr); }, {"dps", "operator"});
  EXPECT_NO_THROW(check_sampler_fits(find_sampler("dps"), &square));
  EXPECT_NO_THROW(check_sampler_fits(find_sampler("pigdm"), &lin));
  EXPECT_NO_THROW(check_sampler_fits(find_sampler("ddrm"), &dense));
  EXPECT_NO_THROW(check_sampler_fits(find_sampler("ddpm"), nullptr));
  // The samplers themselves refuse too (a caller that skipped the check).
  GaussianMixturePrior prior(GaussianMixture::gaussian(at::zeros({2}, f64()), at::eye(2, f64())));
  InverseProblem prob;
  prob.op = &lin;
  prob.y = at::zeros({1, 2}, f64());
  const std::vector<double> sigmas{1.0, 0.0};
  expect_error([&] { run_sampler(find_sampler("ddrm"), prior, prob, at::zeros({1, 2}, f64()), sigmas, 1); },
               {"ddrm", "SVD"});
  prob.op = nullptr;
  expect_error([&] { run_sampler(find_sampler("opc"), prior, prob, at::zeros({1, 2}, f64()), sigmas, 1); },
               {"opc", "operator"});
  EXPECT_EQ(describe_needs(find_sampler("dps")), "any operator, VJP");
  EXPECT_EQ(describe_needs(find_sampler("ddrm")), "operator with SVD");
}

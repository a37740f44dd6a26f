// DAPS (Zhang et al. CVPR 2025) and PnP-DM (Wu et al. NeurIPS 2024), issue 17: one DAPS level with no
// Langevin step is the ODE estimate plus re-noising; DAPS's Langevin chain targets the paper's data
// term |A x0 - y|^2/(2 tau^2); PnP-DM's likelihood step has the closed-form mean and covariance; the
// whole PnP-DM chain on a Gaussian prior follows its exact law (an affine Gaussian recursion computed
// here), which at a fixed rho converges, as the grid refines, to the relaxed posterior
// p(x) N(y; A x, sigma_y^2 I + rho^2 A A^T), and whose distance to p(x | y) shrinks with rho_min;
// seeded determinism; option errors; the Gaussian benchmark's closed forms.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "diffinv/counting_denoiser.h"
#include "diffinv/gaussian_benchmark.h"
#include "sampler_helpers.h"

using namespace diffinv;
using namespace diffinv::testing;

namespace {

// A Gaussian prior N(m, S0) in d = 4 seen through a dense A [2, 4].
struct GaussianCase {
  Problem p;
  Tensor m, S0;
};
GaussianCase gaussian_case(uint64_t seed, double sigma_y) {
  auto gen = make_generator(seed);
  GaussianCase g;
  g.m = randn({4}, f64(), gen);
  g.S0 = random_spd(4, gen, 0.2, 1.0);
  g.p = make_problem(GaussianMixture::gaussian(g.m, g.S0), 2, sigma_y, gen);
  return g;
}

Tensor eye4() { return at::eye(4, f64()); }

// G_s = S0 (S0 + s^2 I)^-1: D(x, s) = m + G_s (x - m) for the Gaussian prior.
Tensor shrink(const Tensor& S0, double s) { return at::matmul(S0, at::inverse(S0 + eye4() * (s * s))); }

// Posterior of N(m, S0) under y = A x + N(0, noise_cov).
std::pair<Tensor, Tensor> gaussian_posterior_of(const GaussianCase& g, const Tensor& noise_cov) {
  const Tensor Ni = at::inverse(noise_cov);
  const Tensor C = at::inverse(at::inverse(g.S0) + at::matmul(at::matmul(g.p.A.t(), Ni), g.p.A));
  const Tensor mu = at::matmul(C, at::matmul(at::inverse(g.S0), g.m) + at::matmul(at::matmul(g.p.A.t(), Ni), g.p.y1));
  return {mu, C};
}

// The exact law (mean, covariance) of PnP-DM's x after each iteration on the Gaussian prior: every
// step is affine in the state plus independent Gaussian noise.
struct PnpDmLaw {
  const GaussianCase& g;
  std::vector<double> sigmas;
  Tensor mean = at::zeros({4}, f64()), cov = at::eye(4, f64());  // x_0 = x_init / sigma_max ~ N(0, I)

  void likelihood(double rho) {
    const double sy2 = g.p.sigma_y * g.p.sigma_y;
    const Tensor S = at::inverse(at::matmul(g.p.A.t(), g.p.A) / sy2 + eye4() / (rho * rho));
    const Tensor M = S / (rho * rho);
    mean = at::matmul(S, at::matmul(g.p.A.t(), g.p.y1) / sy2) + at::matmul(M, mean);
    cov = at::matmul(at::matmul(M, cov), M.t()) + S;
  }
  // The prior step from grid index i is x' - m = M_i (z - m) + N(0, Q_i); computed for every i at once,
  // from the end of the grid: M_i = M_{i+1} T_i, Q_i = M_{i+1} N_i M_{i+1}^T + Q_{i+1}.
  std::vector<Tensor> M, Q;
  void prior(double rho) {
    if (M.empty()) {
      M.assign(sigmas.size(), eye4());
      Q.assign(sigmas.size(), at::zeros({4, 4}, f64()));
      for (size_t i = sigmas.size() - 1; i-- > 0;) {
        const double s = sigmas[i], sn = sigmas[i + 1];
        const Tensor T = eye4() - (eye4() - shrink(g.S0, s)) * (2 * (s - sn) / s);
        M[i] = at::matmul(M[i + 1], T);
        Q[i] = Q[i + 1] + (sn > 0 ? at::matmul(M[i + 1], M[i + 1].t()) * (2 * s * (s - sn)) : at::zeros({4, 4}, f64()));
      }
    }
    size_t start = 0;
    while (start + 1 < sigmas.size() && sigmas[start] >= rho) ++start;
    mean = at::matmul(M[start], mean - g.m) + g.m;
    cov = at::matmul(at::matmul(M[start], cov), M[start].t()) + Q[start];
  }
  void run(double rho0, double decay, double rho_min, int iterations) {
    for (int k = 0; k < iterations; ++k) {
      const double rho = std::max(rho0 * std::pow(decay, k), rho_min);
      likelihood(rho);
      prior(rho);
    }
  }
};

std::string num(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

}  // namespace

TEST(DapsPnpDm, TableRowsDocumentTheReferenceDefaults) {
  for (const std::string name : {"daps", "pnp-dm"}) {
    const auto& info = find_sampler(name);
    EXPECT_NE(info.paper.find("Alg. 1"), std::string::npos);
    EXPECT_EQ(info.operator_needs, Needs::AnyOperator);
    EXPECT_FALSE(info.needs_vjp) << "neither differentiates the network";
    EXPECT_EQ(info.grid, GridKind::Karras);
  }
  auto default_of = [](const std::string& sampler, const std::string& key) {
    for (const auto& doc : find_sampler(sampler).options)
      if (doc.name == key) return doc.default_value;
    return std::string("missing");
  };
  EXPECT_EQ(find_sampler("daps").default_steps * std::stoi(default_of("daps", "ode_steps")), 1000) << "DAPS-1K";
  EXPECT_EQ(std::stod(default_of("daps", "lr")), 1e-4);
  EXPECT_EQ(std::stod(default_of("daps", "tau")), 0.01);
  EXPECT_EQ(std::stoi(default_of("daps", "langevin_steps")), 100);
  EXPECT_EQ(std::stod(default_of("daps", "lr_min_ratio")), 0.01);
  EXPECT_EQ(std::stod(default_of("pnp-dm", "rho")), 10.0);
  EXPECT_EQ(std::stod(default_of("pnp-dm", "rho_decay")), 0.9);
  EXPECT_EQ(std::stod(default_of("pnp-dm", "rho_min")), 0.3);
  EXPECT_EQ(std::stoi(default_of("pnp-dm", "iterations")), 100);
}

TEST(DapsPnpDm, BadOptionsAreRefusedBeforeSampling) {
  auto gen = make_generator(3);
  GaussianCase g = gaussian_case(3, 0.1);
  auto setup = [&](const std::string& name, const OptionMap& o) {
    check_sampler_setup(find_sampler(name), g.p.op.get(), *g.p.prior, o);
  };
  expect_error([&] { setup("daps", {{"lr", "-1"}}); }, {"daps", "lr must be finite and > 0"});
  expect_error([&] { setup("daps", {{"ode_steps", "0"}}); }, {"ode_steps must be >= 1"});
  expect_error([&] { setup("daps", {{"lr_min_ratio", "2"}}); }, {"lr_min_ratio must be in (0, 1]"});
  expect_error([&] { setup("daps", {{"data_term", "half"}}); }, {"data_term"});
  expect_error([&] { setup("pnp-dm", {{"rho_decay", "0"}}); }, {"pnp-dm", "rho_decay must be in (0, 1]"});
  expect_error([&] { setup("pnp-dm", {{"rho_min", "20"}}); }, {"rho_min must be in [0, rho]"});
  expect_error([&] { setup("pnp-dm", {{"iterations", "0"}}); }, {"iterations must be >= 1"});
  setup("daps", {});
  setup("pnp-dm", {});
}

TEST(DapsPnpDm, SeededAndIndependentPerSample) {
  auto gen = make_generator(5);
  GaussianCase g = gaussian_case(5, 0.2);
  const int64_t batch = 4;
  for (const std::string name : {"daps", "pnp-dm"}) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    const auto sigmas = make_sigma_grid(g.p.prior->schedule(), info.grid, 8);
    const OptionMap o = name == "daps" ? OptionMap{{"langevin_steps", "5"}} : OptionMap{{"iterations", "4"}};
    const Tensor x_init = sigmas.front() * randn({batch, 4}, f64(), gen);
    const Tensor a = run_sampler(info, *g.p.prior, g.p.inverse(batch), x_init, sigmas, 11, o);
    EXPECT_TRUE(at::isfinite(a).all().item<bool>());
    EXPECT_TRUE(at::equal(a, run_sampler(info, *g.p.prior, g.p.inverse(batch), x_init, sigmas, 11, o)));
    EXPECT_FALSE(at::equal(a, run_sampler(info, *g.p.prior, g.p.inverse(batch), x_init, sigmas, 12, o)));
    const Tensor same = x_init[0].unsqueeze(0).expand({batch, 4}).contiguous();
    const Tensor out = run_sampler(info, *g.p.prior, g.p.inverse(batch), same, sigmas, 13, o);
    EXPECT_GT((at::cdist(out, out) + at::eye(batch, f64()) * 1e9).min().item<double>(), 1e-6);
  }
}

// Step 1 and 3 of DAPS with M = 0 Langevin steps: x0 = x0_hat = the Euler solution of the PF-ODE on
// DAPS's rho-7 grid from sigma to ode_sigma_min (here the affine map of the Gaussian prior's exact
// denoiser, computed independently), x_next = x0 + sigma_next z with z the generator's next draw;
// ode_steps NFE. A level at or below ode_sigma_min keeps x0_hat = x and spends no NFE.
TEST(DapsPnpDm, DapsLevelWithoutLangevinIsTheOdeEstimatePlusRenoising) {
  GaussianCase g = gaussian_case(21, 0.1);
  auto gen = make_generator(22);
  const Tensor x = randn({6, 4}, f64(), gen) * 3.0 + g.m;
  CountingDenoiser counted(*g.p.prior);
  SamplerContext ctx{counted, g.p.inverse(6), x, {3.0, 1.5, 0.0}, make_generator(1), {}};
  DapsOptions o;
  o.langevin_steps = 0;
  auto level_gen = make_generator(99);
  const DapsLevel level = daps_level(ctx, o, x, 3.0, 1.5, 1e-4, level_gen);
  EXPECT_EQ(counted.count(), o.ode_steps);
  // Independent transcription: Euler on (sigma_max^(1/7) + t (sigma_min^(1/7) - sigma_max^(1/7)))^7, t = k/5.
  Tensor u = (x - g.m).t();
  const double a = std::pow(3.0, 1 / 7.0), b = std::pow(0.01, 1 / 7.0);
  for (int k = 0; k < 5; ++k) {
    const double s = std::pow(a + k / 5.0 * (b - a), 7), sn = std::pow(a + (k + 1) / 5.0 * (b - a), 7);
    u = u + at::matmul(eye4() - shrink(g.S0, s), u) * ((sn - s) / s);
  }
  const Tensor expected = u.t() + g.m;
  EXPECT_LT(max_abs(level.x0_hat - expected), 1e-10);
  EXPECT_TRUE(at::equal(level.x0, level.x0_hat));
  auto z_gen = make_generator(99);
  const Tensor z = randn_like(x, z_gen);
  EXPECT_LT(max_abs(level.x_next - (level.x0 + z * 1.5)), 1e-12);
  // The last level (sigma_next = 0) returns x0 itself.
  auto gen2 = make_generator(99);
  EXPECT_TRUE(at::equal(daps_level(ctx, o, x, 3.0, 0.0, 1e-4, gen2).x_next, level.x0));
  counted.reset();
  auto gen3 = make_generator(99);
  EXPECT_TRUE(at::equal(daps_level(ctx, o, x, 0.005, 0.0, 1e-4, gen3).x0_hat, x));
  EXPECT_EQ(counted.count(), 0);
}

// DAPS's Langevin (step 2) on a Gaussian target is ULA on N(mu, P^-1) with P = I/r^2 + w A^T A and
// mu = P^-1 (x0_hat/r^2 + w A^T y): its stationary mean is exactly mu (for any stable step). The paper's
// data term |A x0 - y|^2/(2 tau^2) has w = 1/tau^2; the DAPS code's |A x0 - y|^2/tau^2 has w = 2/tau^2.
// r = 0.2 and tau = 0.5 make both terms count (1/r^2 = 25, w s^2 ~ 4-50); eta = 0.005 contracts every
// direction by at least eta/r^2 = 0.125 per step, so 200 steps leave e^-25 of the start: 4000 chains'
// mean within 5 standard errors of mu, and more than 10 from the other data term's mean.
TEST(DapsPnpDm, DapsLangevinTargetsThePapersDataTerm) {
  GaussianCase g = gaussian_case(31, 0.05);
  const int64_t n = 4000;
  auto gen = make_generator(32);
  const double tau = 0.5, eta = 0.005, r = 0.2;
  const Tensor x = (randn({1, 4}, f64(), gen) * r + g.m).expand({n, 4}).contiguous();
  SamplerContext ctx{*g.p.prior, g.p.inverse(n), x, {r, 0.0}, make_generator(1), {}};
  auto mean_for = [&](const std::string& term, const Tensor& x0_hat) {
    const double w = (term == "paper" ? 1.0 : 2.0) / (tau * tau);
    const Tensor P = eye4() / (r * r) + at::matmul(g.p.A.t(), g.p.A) * w;
    return at::matmul(at::inverse(P), x0_hat / (r * r) + at::matmul(g.p.A.t(), g.p.y1) * w);
  };
  for (const std::string term : {"paper", "code"}) {
    SCOPED_TRACE(term);
    DapsOptions o;
    o.tau = tau;
    o.tau_rule = "fixed";
    o.data_term = term;
    o.langevin_steps = 200;
    auto level_gen = make_generator(33);
    const DapsLevel level = daps_level(ctx, o, x, r, 0.0, eta, level_gen);
    const auto mo = moments(level.x0);
    const Tensor mu = mean_for(term, level.x0_hat[0]);
    const Tensor other = mean_for(term == "paper" ? "code" : "paper", level.x0_hat[0]);
    expect_within(mo.mean, mu, mo.mean_se, 5.0, 1e-9, "Langevin mean vs the target's");
    EXPECT_GT(max_abs(mo.mean - other), 10 * mo.mean_se.max().item<double>()) << "the two data terms are told apart";
  }
}

// The likelihood step z ~ N(m, S), S = (A^T A/sigma_y^2 + I/rho^2)^-1, m = S (A^T y/sigma_y^2 + x/rho^2), on a
// dense operator (DenseOperator's prox is its exact SVD form): 20000 draws from one x; mean and every
// covariance entry within 5 Monte-Carlo standard errors (moments(); fixed seed).
TEST(DapsPnpDm, PnpDmLikelihoodStepHasTheClosedFormMoments) {
  auto gen = make_generator(41);
  const int64_t d = 6, n = 20000;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.2, gen);
  const double rho = 0.7, sy2 = 0.04;
  const Tensor x1 = randn({d}, f64(), gen);
  const Tensor x = x1.unsqueeze(0).expand({n, d}).contiguous();
  SamplerContext ctx{*p.prior, p.inverse(n), x, {1.0, 0.0}, make_generator(1), {}};
  auto step_gen = make_generator(42);
  const Tensor z = pnp_dm_likelihood_step(ctx, PnpDmOptions{}, x, rho, step_gen);
  const Tensor S = at::inverse(at::matmul(p.A.t(), p.A) / sy2 + at::eye(d, f64()) / (rho * rho));
  const Tensor m = at::matmul(S, at::matmul(p.A.t(), p.y1) / sy2 + x1 / (rho * rho));
  const auto mo = moments(z);
  expect_within(mo.mean, m, mo.mean_se, 5.0, 0.0, "likelihood-step mean");
  expect_within(mo.cov, S, mo.cov_se, 5.0, 0.0, "likelihood-step covariance");
  // Power: the prior-free least-squares fit's covariance is far off.
  EXPECT_GT(max_abs(mo.cov - at::eye(d, f64()) * (rho * rho)), 20 * mo.cov_se.max().item<double>());
}

// The whole chain on a Gaussian prior: 4000 PnP-DM runs (fixed rho = 0.5, 15 iterations on a 60-level
// grid) against the exact law of those 15 iterations (PnpDmLaw): mean and covariance within 5 standard
// errors. Then the method: at a fixed rho the chain's limit is the relaxed posterior
// p(x) N(y; A x, sigma_y^2 I + rho^2 A A^T) up to the prior step's Euler-Maruyama error; that error is
// computed here on 60-, 240- and 960-level grids and must shrink about linearly (first-order scheme),
// and on the 240-level grid stay below kTol = 0.02 (computed: 0.054 / 0.0045 / 0.0014 on 60 / 240 / 960
// levels, printed), itself under a fifth of the relaxed-vs-true gap (the test's power).
TEST(DapsPnpDm, PnpDmFollowsItsExactLawAndTargetsTheRelaxedPosterior) {
  GaussianCase g = gaussian_case(51, 0.3);
  const double rho = 0.5;
  const int iterations = 15;
  const auto& info = find_sampler("pnp-dm");
  const auto sigmas = make_sigma_grid(g.p.prior->schedule(), GridKind::Karras, 60);
  const int64_t n = 4000;
  auto gen = make_generator(52);
  const Tensor x_init = sigmas.front() * randn({n, 4}, f64(), gen);
  const OptionMap o{{"rho", num(rho)}, {"rho_decay", "1"}, {"rho_min", num(rho)}, {"iterations", std::to_string(iterations)}};
  const Tensor x = run_sampler(info, *g.p.prior, g.p.inverse(n), x_init, sigmas, 53, o);
  PnpDmLaw law{g, sigmas};
  law.run(rho, 1.0, rho, iterations);
  const auto mo = moments(x);
  expect_within(mo.mean, law.mean, mo.mean_se, 5.0, 0.0, "PnP-DM sample mean vs its exact law");
  expect_within(mo.cov, law.cov, mo.cov_se, 5.0, 0.0, "PnP-DM sample covariance vs its exact law");

  const double sy2 = g.p.sigma_y * g.p.sigma_y;
  const auto relaxed = gaussian_posterior_of(g, at::eye(2, f64()) * sy2 + at::matmul(g.p.A, g.p.A.t()) * (rho * rho));
  const auto truth = gaussian_posterior_of(g, at::eye(2, f64()) * sy2);
  auto gap = [&](int levels) {  // the stationary law (200 iterations) against the relaxed posterior
    PnpDmLaw l{g, make_sigma_grid(g.p.prior->schedule(), GridKind::Karras, levels)};
    l.run(rho, 1.0, rho, 200);
    return std::max(max_abs(l.mean - relaxed.first), max_abs(l.cov - relaxed.second));
  };
  const double g60 = gap(60), g240 = gap(240), g960 = gap(960);
  std::cout << "[ PnP-DM fixed rho " << rho << ": |stationary law - relaxed posterior|_max on 60/240/960-level grids: "
            << g60 << " / " << g240 << " / " << g960 << " ]\n";
  constexpr double kTol = 0.02;
  EXPECT_LT(g240, kTol) << "gaps: 60 levels " << g60 << ", 240 " << g240 << ", 960 " << g960;
  EXPECT_LT(g240, 0.6 * g60) << "gaps: 60 levels " << g60 << ", 240 " << g240;
  EXPECT_LT(g960, 0.6 * g240) << "gaps: 240 levels " << g240 << ", 960 " << g960;
  const double relaxed_vs_true =
      std::max(max_abs(relaxed.first - truth.first), max_abs(relaxed.second - truth.second));
  EXPECT_GT(relaxed_vs_true, 5 * kTol);
}

// Annealing: the law after 100 iterations of rho_k = max(10 * 0.9^k, rho_min) gets closer to p(x | y) (W2
// and KL, closed forms) as rho_min decreases; the relaxed posterior at rho_min does too.
TEST(DapsPnpDm, PnpDmDistanceToThePosteriorShrinksWithRhoMin) {
  GaussianCase g = gaussian_case(61, 0.3);
  const double sy2 = g.p.sigma_y * g.p.sigma_y;
  const auto truth = gaussian_posterior_of(g, at::eye(2, f64()) * sy2);
  const auto sigmas = make_sigma_grid(g.p.prior->schedule(), GridKind::Karras, 400);
  double last_w2 = 1e30, last_kl = 1e30, first_w2 = -1;
  for (double rho_min : {2.0, 1.0, 0.5, 0.25}) {
    SCOPED_TRACE("rho_min " + std::to_string(rho_min));
    PnpDmLaw law{g, sigmas};
    law.run(10.0, 0.9, rho_min, 100);
    const double w2 = gaussian_w2(law.mean, law.cov, truth.first, truth.second);
    const double kl = gaussian_kl(law.mean, law.cov, truth.first, truth.second);
    std::cout << "[ PnP-DM rho_min " << rho_min << ": W2 " << w2 << ", KL " << kl << " to p(x | y) ]\n";
    if (first_w2 < 0) first_w2 = w2;
    EXPECT_LT(w2, last_w2);
    EXPECT_LT(kl, last_kl);
    last_w2 = w2;
    last_kl = kl;
  }
  EXPECT_LT(last_w2, 0.5 * first_w2) << "annealing to 0.25 instead of 2 halves the distance at least";
}

TEST(DapsPnpDm, GaussianClosedForms) {
  auto gen = make_generator(71);
  const Tensor m1 = randn({4}, f64(), gen), m2 = randn({4}, f64(), gen);
  const Tensor s1 = random_spd(4, gen), s2 = random_spd(4, gen);
  EXPECT_NEAR(gaussian_kl(m1, s1, m1, s1), 0.0, 1e-10);
  EXPECT_NEAR(gaussian_w2(m1, s1, m1, s1), 0.0, 1e-6);
  // Diagonal (commuting) covariances: W2^2 = |dm|^2 + sum (sqrt(a) - sqrt(b))^2; KL per coordinate.
  const Tensor a = at::tensor({1.0, 2.0, 0.5, 3.0}, f64()), b = at::tensor({2.0, 1.0, 0.25, 3.0}, f64());
  const double w2 = std::sqrt((m1 - m2).pow(2).sum().item<double>() + (a.sqrt() - b.sqrt()).pow(2).sum().item<double>());
  EXPECT_NEAR(gaussian_w2(m1, at::diag(a), m2, at::diag(b)), w2, 1e-9);
  const double kl = 0.5 * ((a / b).sum() + ((m2 - m1).pow(2) / b).sum() - 4 + (b / a).log().sum()).item<double>();
  EXPECT_NEAR(gaussian_kl(m1, at::diag(a), m2, at::diag(b)), kl, 1e-9);
  EXPECT_GT(gaussian_kl(m1, s1, m2, s2), 0.0);
}

TEST(DapsPnpDm, GaussianBenchmarkRunsAndHasAFloor) {
  GaussianBenchmarkConfig c;
  c.d = 10;
  c.d_y = 5;
  c.problems = 1;
  c.samples = 400;
  c.steps = 10;
  c.methods = {"opc2-exact", "daps", "pnp-dm"};
  c.overrides["daps"] = {{"langevin_steps", "10"}};
  c.overrides["pnp-dm"] = {{"iterations", "10"}};
  const auto r = run_gaussian_benchmark(c);
  ASSERT_EQ(r.rows.size(), 4u);
  EXPECT_EQ(r.rows[1].nfe, 10 * 5) << "DAPS: levels x ode_steps";
  for (const auto& row : r.rows) {
    SCOPED_TRACE(row.method);
    EXPECT_TRUE(std::isfinite(row.kl_mean) && std::isfinite(row.w2_mean));
  }
  // The floor is the finite-sample bias of a fitted Gaussian: E KL(fit || truth) ≈ d (d + 3)/(4 n) = 0.081 here.
  EXPECT_GT(r.rows.back().kl_mean, 0.03);
  EXPECT_LT(r.rows.back().kl_mean, 0.2);
  EXPECT_NE(gaussian_markdown(r).find("| daps |"), std::string::npos);
}

// The reference's Langevin step assumes |A| <= 1 (images on [-1, 1]: masks, pooling, blurs); with a
// Gaussian A of norm ~3 the unscaled step would diverge (eta |A|^2/tau^2 > 2). DAPS scales the step by
// 1/max(1, |A|^2) (power iteration), so the default options stay finite there.
TEST(DapsPnpDm, DapsStaysStableForAnOperatorWithNormAboveOne) {
  auto gen = make_generator(81);
  GaussianCase g = gaussian_case(81, 0.01);
  const Tensor A3 = g.p.A / at::linalg_matrix_norm(g.p.A, 2).item<double>() * 3.0;
  DenseOperator op(A3);
  InverseProblem problem{&op, at::matmul(g.m, A3.t()).unsqueeze(0).expand({16, 2}).contiguous(), 0.01};
  const auto sigmas = make_sigma_grid(g.p.prior->schedule(), GridKind::Karras, 10);
  const Tensor x_init = sigmas.front() * randn({16, 4}, f64(), gen);
  const Tensor x = run_sampler(find_sampler("daps"), *g.p.prior, problem, x_init, sigmas, 3);
  ASSERT_TRUE(at::isfinite(x).all().item<bool>());
  EXPECT_LT(max_abs(at::matmul(x, A3.t()) - problem.y), 0.2) << "fits y";
}

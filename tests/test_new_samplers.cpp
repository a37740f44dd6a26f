// The samplers of issue #5 (MCG, measurement replacement, RED-diff, SNIPS, annealed Langevin) and
// the CCDF warm start: seeded determinism and independent samples, hard data consistency of the
// replacement methods, the Gaussian posterior mean of the Langevin samplers, RED-diff's fixed point
// without a prior, and the warm start's grid, start and NFE. Double precision, small problems.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "diffinv/counting_denoiser.h"
#include "diffinv/gmm_benchmark.h"
#include "diffinv/image_operators.h"
#include "diffinv/warm_start.h"
#include "sampler_helpers.h"
// replace_measured_part is internal to the samplers.
#include "../src/samplers/guidance.h"

using namespace diffinv;
using namespace diffinv::testing;

namespace {

const std::vector<std::string> kNewSamplers = {"mcg", "replacement", "red-diff", "snips", "langevin"};

// The exact denoiser of an i.i.d. N(0, v) image prior [B, 3, 8, 8]: D(x, sigma) = x v / (v + sigma^2).
class ShrinkImageDenoiser : public Denoiser {
 public:
  Tensor denoise(const Tensor& x, double sigma) override { return x * (kVariance / (kVariance + sigma * sigma)); }
  std::vector<int64_t> sample_shape() const override { return {3, 8, 8}; }
  c10::TensorOptions tensor_options() const override { return f64(); }
  static constexpr double kVariance = 0.25;
};

// The grid a test runs a sampler on: few levels, so that every test stays fast.
std::vector<double> grid_for(const SamplerInfo& info, const Denoiser& den, int steps) {
  return make_sigma_grid(den.schedule(), info.grid, steps);
}

// The Gaussian-posterior test: levels, Langevin step c and steps per level, allowed annealing lag.
// With the defaults (c = 3.3e-6, 5 steps) the computed lag is 0.19 here: this prior has a direction
// of variance 2.5 that y barely measures, and at small sigma the steps c sigma^2/sigma_L^2 are too
// short to move along it. c = 1e-5 with 20 steps per level brings the exact lag to 0.044 (0.027 with
// 200 levels); c = 3e-5 is unstable for Langevin (the likelihood curvature |A|^2/(sigma_y^2 + sigma^2)).
// kLag = 0.1 covers the computed lags (Langevin 0.071, SNIPS 0.050; SNIPS 0.076 on the second problem)
// and is under a tenth of the prior-to-posterior distances (1.90, 1.26). The problems are drawn with
// diffinv::randn, so these numbers change with its stream (they were 0.044-0.060 with libtorch's).
constexpr int kGaussianLevels = 100;
constexpr double kGaussianC = 1e-5;
constexpr int kGaussianStepsPerLevel = 20;
constexpr double kLag = 0.1;

}  // namespace

TEST(NewSamplers, SeededFiniteAndIndependentPerSample) {
  auto gen = make_generator(101);
  const int64_t d = 6, batch = 5;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.1, gen);
  const auto problem = p.inverse(batch);
  for (const auto& name : kNewSamplers) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    EXPECT_NE(info.paper.find("Alg. 1"), std::string::npos) << "the table cites the algorithm";
    const auto sigmas = grid_for(info, *p.prior, 15);
    const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
    const Tensor a = run_sampler(info, *p.prior, problem, x_init, sigmas, 5);
    ASSERT_EQ(a.sizes(), x_init.sizes());
    EXPECT_TRUE(at::isfinite(a).all().item<bool>());
    EXPECT_TRUE(at::equal(a, run_sampler(info, *p.prior, problem, x_init, sigmas, 5))) << "same seed, different output";
    EXPECT_FALSE(at::equal(a, run_sampler(info, *p.prior, problem, x_init, sigmas, 6))) << "seed ignored";
    // One start repeated over the batch: every sample draws its own noise, so no two coincide.
    const Tensor same = x_init[0].unsqueeze(0).expand({batch, d}).contiguous();
    const Tensor out = run_sampler(info, *p.prior, problem, same, sigmas, 7);
    EXPECT_TRUE(at::isfinite(out).all().item<bool>());
    const Tensor dist = at::cdist(out, out) + at::eye(batch, f64()) * 1e9;
    EXPECT_GT(dist.min().item<double>(), 1e-3) << "two samples of the batch coincide:\n" << out;
  }
}

// guided-diffusion's clip_denoised as the reference codes use it (README: "The x0 range in each
// method's reference code"): a bound no x0 reaches changes nothing, bit for bit; clip = 1 on a
// prior whose means lie near +-2 changes the samples; a negative clip is refused.
TEST(NewSamplers, ClipOptionClampsX0OnlyWhenReached) {
  auto gen = make_generator(131);
  const int64_t d = 6, batch = 3;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.1, gen);
  const auto problem = p.inverse(batch);
  for (const std::string name : {"dps", "diffpir", "dmps", "opc", "opc-heun", "pigdm"}) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    const auto sigmas = grid_for(info, *p.prior, 12);
    const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
    const Tensor off = run_sampler(info, *p.prior, problem, x_init, sigmas, 5);
    EXPECT_TRUE(at::equal(off, run_sampler(info, *p.prior, problem, x_init, sigmas, 5, {{"clip", "1e6"}})));
    EXPECT_FALSE(at::equal(off, run_sampler(info, *p.prior, problem, x_init, sigmas, 5, {{"clip", "1"}})));
    try {
      run_sampler(info, *p.prior, problem, x_init, sigmas, 5, {{"clip", "-1"}});
      ADD_FAILURE() << "clip=-1 accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("clip"), std::string::npos) << e.what();
    }
  }
}

TEST(NewSamplers, ReplacementAndMcgAreDataConsistentWithoutNoise) {
  // The last replacement is at sigma = 0: x <- x - A^+ (A x - y), so A x = A A^+ y = y for y in the
  // range of A (sigma_y = 0), whatever the prior did before.
  auto gen = make_generator(102);
  const int64_t d = 6, batch = 8;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.0, gen);
  const auto problem = p.inverse(batch);
  // Images: a pixel mask, y = the kept pixels of a random image.
  ShrinkImageDenoiser image_prior;
  InpaintingOperator mask(random_pixel_mask(1, 8, 8, 0.5, 0.5, gen), 3);
  const Tensor clean = randn({2, 3, 8, 8}, f64(), gen) * 0.5;
  const InverseProblem image_problem{&mask, mask.forward(clean), 0.0};
  for (const char* name : {"replacement", "mcg"}) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    const auto sigmas = grid_for(info, *p.prior, 30);
    const Tensor x = run_sampler(info, *p.prior, problem, sigmas.front() * randn({batch, d}, f64(), gen), sigmas, 3);
    EXPECT_LT(max_abs(p.op->forward(x) - problem.y), 1e-4);
    EXPECT_GT(x.std(0).max().item<double>(), 0.05) << "the unmeasured part still varies over the batch";

    const Tensor x_img =
        run_sampler(info, image_prior, image_problem, sigmas.front() * randn({2, 3, 8, 8}, f64(), gen), sigmas, 4);
    EXPECT_LT(max_abs(mask.forward(x_img) - image_problem.y), 1e-4);
    EXPECT_GT(max_abs(x_img - clean), 0.1) << "the hidden pixels are the prior's, not the clean image's";
  }
}

TEST(NewSamplers, ReplacementDrawsTheMeasuredPartAtTheRightNoiseLevel) {
  // x <- x - A^+ (A x - y - sigma A z): the unmeasured part (I - A^+ A) x is kept, and A x becomes
  // y + sigma A z, whose covariance is sigma^2 A A^T, that of A x_sigma = A x0 + sigma A n.
  auto gen = make_generator(110);
  const int64_t n = 4000, d = 6, m = 3;
  const Tensor A = randn({m, d}, f64(), gen);
  DenseOperator op(A);
  const Tensor y = randn({m}, f64(), gen).expand({n, m}).contiguous();
  const Tensor x = randn({n, d}, f64(), gen) * 3.0;
  const double sigma = 0.7;
  const Tensor out = replace_measured_part(op, x, y, sigma, gen);
  const Tensor moved = out - x;
  EXPECT_LT(max_abs(moved - op.pinv(op.forward(moved))), 1e-10) << "the unmeasured part changed";
  const auto mo = moments(op.forward(out) - y);
  expect_within(mo.mean, at::zeros({m}, f64()), mo.mean_se, 5.0, 0.0, "mean of A x - y");
  expect_within(mo.cov, sigma * sigma * at::matmul(A, A.t()), mo.cov_se, 5.0, 0.0, "covariance of A x - y");
  EXPECT_TRUE(at::equal(replace_measured_part(op, x, y, 0.0, gen), x - op.pinv(op.forward(x) - y)));
}

TEST(NewSamplers, McgIsDpsFollowedByTheReplacement) {
  // One MCG step is DPS's step (whose VP step size test_vp_transcription checks) and then
  // replace_measured_part at sigma_next, drawing from the same generator stream.
  auto gen = make_generator(111);
  const int64_t d = 6, batch = 3;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.1, gen);
  const auto problem = p.inverse(batch);
  const std::vector<double> step{2.0, 0.5};
  const Tensor x_init = 2.0 * randn({batch, d}, f64(), gen);
  for (const char* zeta : {"0.3", "1"}) {
    SCOPED_TRACE(zeta);
    at::Generator stream = make_generator(5);
    SamplerContext dps{*p.prior, problem, x_init, step, stream, {}};
    const Tensor after_dps = find_sampler("dps").run(dps, {{"zeta", zeta}});
    const Tensor expected = replace_measured_part(*p.op, after_dps, problem.y, step[1], stream);
    EXPECT_TRUE(at::allclose(run_sampler(find_sampler("mcg"), *p.prior, problem, x_init, step, 5, {{"zeta", zeta}}),
                             expected, 1e-12, 1e-12));
  }
}

TEST(NewSamplers, RedDiffStartsAtThePseudoInverseAndIgnoresXInit) {
  // With both loss terms off Adam's steps are 0/(0 + eps): the output is the start, A^+ y, whatever
  // x_init is. (With lambda = 0 alone it is not: Adam's normalised steps of size ~lr oscillate
  // around the least-squares solution once the gradient exceeds Adam's eps.)
  auto gen = make_generator(103);
  const int64_t d = 6, batch = 3;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.1, gen);
  const auto problem = p.inverse(batch);
  const auto& info = find_sampler("red-diff");
  const auto sigmas = grid_for(info, *p.prior, 20);
  const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
  const Tensor pinv = p.op->pinv(problem.y);
  const OptionMap off{{"lambda", "0"}, {"obs_weight", "0"}};
  EXPECT_TRUE(at::equal(run_sampler(info, *p.prior, problem, x_init, sigmas, 1, off), pinv));
  EXPECT_TRUE(at::equal(run_sampler(info, *p.prior, problem, x_init, sigmas, 1),
                        run_sampler(info, *p.prior, problem, x_init * 2, sigmas, 1)));
  EXPECT_GT(max_abs(run_sampler(info, *p.prior, problem, x_init, sigmas, 1) - pinv), 0.05);
}

namespace {

// A denoiser that fails the test when it is asked for a graph: the samplers without a VJP must
// call it with grad mode off.
class NoGraphDenoiser : public Denoiser {
 public:
  explicit NoGraphDenoiser(Denoiser& inner) : inner_(inner) {}
  Tensor denoise(const Tensor& x, double sigma) override {
    EXPECT_FALSE(at::GradMode::is_enabled()) << "grad mode on while denoising";
    return inner_.denoise(x, sigma);
  }
  std::vector<int64_t> sample_shape() const override { return inner_.sample_shape(); }
  c10::TensorOptions tensor_options() const override { return inner_.tensor_options(); }

 private:
  Denoiser& inner_;
};

}  // namespace

TEST(NewSamplers, OnlyMcgDifferentiatesTheDenoiser) {
  auto gen = make_generator(108);
  const int64_t d = 6, batch = 2;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.1, gen);
  NoGraphDenoiser no_graph(*p.prior);
  for (const auto& name : kNewSamplers) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    EXPECT_EQ(info.needs_vjp, name == "mcg");
    if (info.needs_vjp) continue;
    const auto sigmas = grid_for(info, *p.prior, 5);
    run_sampler(info, no_graph, p.inverse(batch), sigmas.front() * randn({batch, d}, f64(), gen), sigmas, 1);
  }
}

namespace {

// A Gaussian prior N(m0, C0) with y = A x + N(0, 0.3^2), A [2, 4]: the posterior N(m, P) is exact.
struct GaussianPosterior {
  Problem p;
  Tensor m, P;
};

GaussianPosterior gaussian_posterior(uint64_t seed, double sigma_y, double a_scale) {
  auto gen = make_generator(seed);
  const int64_t d = 4, m = 2;
  auto mix = GaussianMixture::gaussian(randn({d}, f64(), gen), random_spd(d, gen, 0.2));
  Problem p;
  p.A = a_scale * randn({m, d}, f64(), gen);
  const Tensor x_true = mix.sample(1, gen)[0];  // drawn before the noise (operands are unsequenced)
  p.y1 = at::matmul(p.A, x_true) + sigma_y * randn({m}, f64(), gen);
  p.sigma_y = sigma_y;
  p.op = std::make_unique<DenseOperator>(p.A);
  p.prior = std::make_unique<GaussianMixturePrior>(std::move(mix));
  const auto post = p.prior->mixture().posterior(p.A, p.y1, p.sigma_y);
  return {std::move(p), post.mean(), post.covariance()};
}

}  // namespace

namespace {

// The exact mean of the Langevin samplers' output on a Gaussian prior N(m0, C0). Every update is
// affine in x plus independent zero-mean noise, so the mean follows the same recursion with the
// noise left out, started from E[x_init] = 0: a transcription of each algorithm on one vector.
// The score of p_sigma = N(m0, C0 + sigma^2 I) is (C0 + sigma^2 I)^{-1} (m0 - x), and the final
// D(x, sigma_L) = m0 + C0 (C0 + sigma_L^2 I)^{-1} (x - m0).
struct LangevinMeanLaw {
  Tensor m0, C0, A, y;
  double sigma_y;
  std::vector<double> sigmas;
  double c;
  int steps_per_level;

  Tensor score(const Tensor& e, double s) const {
    return at::linalg_solve(C0 + s * s * at::eye(C0.size(0), f64()), m0 - e);
  }
  Tensor finish(const Tensor& e) const {
    const double sl = sigmas[sigmas.size() - 2];
    return m0 + at::matmul(C0, at::linalg_solve(C0 + sl * sl * at::eye(C0.size(0), f64()), e - m0));
  }
  double h(double s) const {
    const double sl = sigmas[sigmas.size() - 2];
    return c * s * s / (sl * sl);
  }
  // Jalal et al.: e += h (score + A^T (y - A e) / (sigma_y^2 + sigma^2)).
  Tensor langevin() const {
    Tensor e = at::zeros_like(m0);
    for (size_t i = 0; i + 1 < sigmas.size(); ++i)
      for (int k = 0; k < steps_per_level; ++k) {
        const double s = sigmas[i];
        e = e + h(s) * (score(e, s) + at::matmul(A.t(), y - at::matmul(A, e)) / (sigma_y * sigma_y + s * s));
      }
    return finish(e);
  }
  // SNIPS, spectral coordinates of a dense SVD: see snips.cpp's table of regimes.
  Tensor snips() const {
    auto [U, S, Vh] = at::linalg_svd(A, /*full_matrices=*/true);
    const int64_t m = S.size(0);
    const Tensor y_bar = at::matmul(U.t(), y);
    const double sl = sigmas[sigmas.size() - 2], alpha = c / (sl * sl), sy2 = sigma_y * sigma_y;
    Tensor e = at::zeros_like(m0);
    for (size_t i = 0; i + 1 < sigmas.size(); ++i)
      for (int k = 0; k < steps_per_level; ++k) {
        const double s = sigmas[i];
        const Tensor e_bar = at::matmul(Vh, e), score_bar = at::matmul(Vh, score(e, s));
        Tensor next = e_bar + alpha * s * s * score_bar;  // unmeasured coordinates
        for (int64_t j = 0; j < m; ++j) {
          const double sj = S[j].item<double>(), yj = y_bar[j].item<double>(), ej = e_bar[j].item<double>();
          if (sj * s >= sigma_y)
            next[j] = ej + alpha * (yj / sj - ej);
          else
            next[j] = ej + alpha * s * s * (1 - sj * sj * s * s / sy2) * score_bar[j].item<double>() +
                      alpha * s * s * sj * (yj - sj * ej) / sy2;
        }
        e = at::matmul(Vh.t(), next);
      }
    return finish(e);
  }
};

}  // namespace

TEST(NewSamplers, LangevinAndSnipsApproachTheGaussianPosteriorMean) {
  // Two checks per sampler: (1) the sample mean of 1000 samples matches the exact mean of the
  // sampler's law (LangevinMeanLaw) within 5 Monte-Carlo standard errors, which tests the code;
  // (2) that law mean is within kLag of the exact posterior mean m, which tests the method: ULA's
  // stationary mean on a Gaussian target is exact, the targets p_sigma(x | y) tend to p(x | y), and
  // what is left is the lag of the annealing, computed exactly by the recursion (and checked to
  // shrink with more steps per level).
  // Two problems: y 0.3-noisy through A ~ N(0, 1) (most levels are in SNIPS's "noisier than y"
  // regime, where its prior score is dropped), and y 0.5-noisy through A ~ N(0, 1/16) (most levels
  // below sigma_y / s_j, where SNIPS combines the prior score and the likelihood; SNIPS only: there
  // Langevin's isotropic sigma_y^2 + sigma^2 overstates the noise sigma^2 s_j^2 of A x_t and its
  // exact lag is 0.19).
  struct Case {
    uint64_t seed;
    double sigma_y, a_scale;
    std::vector<const char*> samplers;
  };
  for (const Case& c : {Case{104, 0.3, 1.0, {"langevin", "snips"}}, Case{109, 0.5, 0.25, {"snips"}}}) {
    SCOPED_TRACE("sigma_y " + std::to_string(c.sigma_y));
    auto g = gaussian_posterior(c.seed, c.sigma_y, c.a_scale);
    const int64_t n = 1000;
    auto gen = make_generator(c.seed + 1);
    for (const char* name : c.samplers) {
      SCOPED_TRACE(name);
      const auto& info = find_sampler(name);
      const auto sigmas = grid_for(info, *g.p.prior, kGaussianLevels);
      const auto& mix = g.p.prior->mixture();
      LangevinMeanLaw law{mix.mean(), mix.covariance(), g.p.A, g.p.y1, g.p.sigma_y, sigmas, kGaussianC, kGaussianStepsPerLevel};
      const bool is_snips = std::string(name) == "snips";
      const Tensor law_mean = is_snips ? law.snips() : law.langevin();
      const Tensor x_init = sigmas.front() * randn({n, 4}, f64(), gen);
      std::ostringstream c_text;
      c_text.precision(17);
      c_text << kGaussianC;
      const OptionMap options{{"c", c_text.str()}, {"steps_per_level", std::to_string(kGaussianStepsPerLevel)}};
      const Tensor x = run_sampler(info, *g.p.prior, g.p.inverse(n), x_init, sigmas, c.seed + 2, options);
      const auto mo = moments(x);
      expect_within(mo.mean, law_mean, mo.mean_se, 5.0, 0.0, std::string(name) + " sample mean vs the sampler's exact mean");
      EXPECT_LT(max_abs(law_mean - g.m), kLag) << "the annealing lag";
      law.steps_per_level = 1;
      EXPECT_GT(max_abs((is_snips ? law.snips() : law.langevin()) - g.m), max_abs(law_mean - g.m)) << "no lag to shrink";
      // The test has power: the prior mean is outside twice the allowed errors around m.
      EXPECT_GT(max_abs(mix.mean() - g.m), 2 * (kLag + 5 * mo.mean_se.max().item<double>()));
    }
  }
}

TEST(NewSamplers, CcdfWarmStartTruncatesTheGridAndStartsFromTheEstimate) {
  auto gen = make_generator(107);
  const int64_t d = 6, batch = 4;
  Problem p = make_problem(small_gmm(d, gen), 3, 0.1, gen);
  const auto problem = p.inverse(batch);
  const Tensor like = at::zeros({batch, d}, f64());
  const Tensor x_hat = ccdf_initial_estimate(problem, like);
  EXPECT_TRUE(at::allclose(x_hat, p.op->pinv(problem.y)));
  CountingDenoiser counted(*p.prior);
  for (const char* name : {"ddim", "dps", "ddnm"}) {
    SCOPED_TRACE(name);
    const auto& info = find_sampler(name);
    const auto sigmas = grid_for(info, *p.prior, 20);
    auto run = [&](const std::vector<double>& grid, const Tensor& x_init, at::Generator g) {
      counted.reset();
      SamplerContext ctx{counted, problem, x_init, grid, g, {}};
      const Tensor out = info.run(ctx, {});
      return std::make_pair(out, counted.count());
    };
    // t0 = 1: exactly the plain sampler started from sigma_max z with the same generator.
    auto plain_gen = make_generator(9);
    const Tensor plain_init = randn_like(x_hat, plain_gen) * sigmas.front();
    const auto plain = run(sigmas, plain_init, plain_gen);
    auto full_gen = make_generator(9);
    const auto full = ccdf_warm_start(sigmas, 1.0, x_hat, full_gen);
    EXPECT_EQ(full.sigmas, sigmas);
    const auto warm_full = run(full.sigmas, full.x_init, full_gen);
    EXPECT_TRUE(at::equal(warm_full.first, plain.first));
    EXPECT_EQ(warm_full.second, plain.second);

    // t0 = 0.3: the last 6 of 20 steps, from x_hat + sigma_start z, 6 NFE instead of 20.
    auto half_gen = make_generator(9);
    const auto part = ccdf_warm_start(sigmas, 0.3, x_hat, half_gen);
    ASSERT_EQ(part.sigmas.size(), 7u);
    EXPECT_TRUE(std::equal(part.sigmas.begin(), part.sigmas.end(), sigmas.end() - 7));
    auto z_gen = make_generator(9);
    EXPECT_TRUE(at::allclose(part.x_init, x_hat + randn_like(x_hat, z_gen) * part.sigmas.front()));
    const auto warm_part = run(part.sigmas, part.x_init, half_gen);
    EXPECT_EQ(warm_part.second, 6);
    EXPECT_LT(warm_part.second, plain.second);
    EXPECT_TRUE(at::isfinite(warm_part.first).all().item<bool>());
    // Deterministic with the generator.
    auto again_gen = make_generator(9);
    const auto again = ccdf_warm_start(sigmas, 0.3, x_hat, again_gen);
    EXPECT_TRUE(at::equal(again.x_init, part.x_init));
    EXPECT_TRUE(at::equal(run(again.sigmas, again.x_init, again_gen).first, warm_part.first));
  }
  auto g = make_generator(1);
  expect_error([&] { ccdf_warm_start({1.0, 0.0}, 0.0, x_hat, g); }, {"t0", "(0, 1]"});
  expect_error([&] { ccdf_warm_start({1.0, 0.0}, 1.5, x_hat, g); }, {"t0"});
  // The smallest t0 still keeps one step.
  EXPECT_EQ(ccdf_warm_start({3.0, 2.0, 1.0, 0.0}, 0.01, x_hat, g).sigmas, (std::vector<double>{1.0, 0.0}));
  class Square : public Operator {
   public:
    std::string name() const override { return "square"; }
    Tensor forward(const Tensor& x) const override { return x * x; }
  } square;
  InverseProblem nonlinear{&square, problem.y, 0.1};
  expect_error([&] { ccdf_initial_estimate(nonlinear, like); }, {"nonlinear", "square"});
}

TEST(NewSamplers, OperatorNeeds) {
  class LinearOnly : public LinearOperator {
   public:
    std::string name() const override { return "linear-only"; }
    Tensor forward(const Tensor& x) const override { return x; }
    Tensor adjoint(const Tensor& y) const override { return y; }
  } lin;
  expect_error([&] { check_sampler_fits(find_sampler("snips"), &lin); }, {"snips", "SVD"});
  for (const char* name : {"mcg", "replacement", "red-diff", "langevin"}) EXPECT_NO_THROW(check_sampler_fits(find_sampler(name), &lin));
  EXPECT_EQ(describe_needs(find_sampler("mcg")), "linear operator, VJP");
  EXPECT_EQ(describe_needs(find_sampler("red-diff")), "linear operator");
}

TEST(NewSamplers, GmmBenchmarkSelectsThemButDoesNotRunThemByDefault) {
  const auto defaults = default_gmm_methods();
  for (const auto& name : kNewSamplers) {
    EXPECT_EQ(std::find(defaults.begin(), defaults.end(), name), defaults.end()) << name;
    EXPECT_EQ(resolve_method(name).sampler, name);
  }
}

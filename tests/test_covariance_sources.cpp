// OPC's learned covariance sources (convert, analytic), CA-DPS and `diffinv estimate-variance`
// (DESIGN §5 OPC and CA-DPS rows): CG against closed forms, analytic == exact on an isotropic Gaussian
// prior, convert recovering a known Sigma, CA-DPS's Jacobian diagonal, the MSE table and the CLI.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "../src/samplers/guidance.h"
#include "../src/samplers/posterior_mean.h"
#include "cli_runner.h"
#include "diffinv/eps_denoiser.h"
#include "diffinv/gmm.h"
#include "diffinv/image_io.h"
#include "diffinv/image_operators.h"
#include "diffinv/mse_table.h"
#include "diffinv/samplers.h"
#include "diffinv/text_file.h"
#include "diffinv/unet.h"
#include "foundation_helpers.h"

using namespace diffinv;
using namespace diffinv::testing;
namespace fs = std::filesystem;

namespace {

Tensor run_sampler(const std::string& name, Denoiser& den, const InverseProblem& problem, const Tensor& x_init,
                   const std::vector<double>& sigmas, uint64_t seed, const OptionMap& options = {}) {
  SamplerContext ctx{den, problem, x_init, sigmas, make_generator(seed), {}};
  return find_sampler(name).run(ctx, options);
}

InverseProblem dense_problem(const DenseOperator& op, const Tensor& y1, double sigma_y, int64_t batch) {
  InverseProblem p;
  p.op = &op;
  p.y = y1.unsqueeze(0).expand({batch, y1.size(0)}).contiguous();
  p.sigma_y = sigma_y;
  return p;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffinv_covariance_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A Gaussian prior N(m, diag(S)) whose "network" also reports a learned reverse variance: the one of
// the DDPM step t -> t-1 whose x0 variance is the exact diag Cov[x0 | x] = S sigma^2 / (S + sigma^2).
class LearnedVarianceGaussian : public Denoiser {
 public:
  LearnedVarianceGaussian(Tensor mean, Tensor s)
      : s_(s), prior_(GaussianMixture::gaussian(mean, at::diag(s))) {}
  Tensor exact_variance(double sigma) const { return s_ * (sigma * sigma) / (s_ + sigma * sigma); }
  Tensor denoise(const Tensor& x, double sigma) override { return prior_.denoise(x, sigma); }
  std::vector<int64_t> sample_shape() const override { return prior_.sample_shape(); }
  c10::TensorOptions tensor_options() const override { return prior_.tensor_options(); }
  DenoiserCapabilities capabilities() const override {
    DenoiserCapabilities c;
    c.learned_variance = true;
    c.exact_posterior_covariance = true;
    return c;
  }
  CovarianceProduct posterior_covariance(const Tensor& x, double sigma) override {
    return prior_.posterior_covariance(x, sigma);
  }
  DenoiserVarianceOutput denoise_with_variance(const Tensor& x, double sigma, double sigma_prev) override {
    const auto c = reverse_step_coefficients(schedule(), sigma, sigma_prev);
    DenoiserVarianceOutput out;
    out.x0 = denoise(x, sigma);
    const Tensor var = exact_variance(sigma).expand_as(x);
    out.reverse_log_variance = (c.beta_tilde + c.c1 * c.c1 * var).log();
    out.x0_variance = x0_variance_from_reverse(out.reverse_log_variance, c);
    ++calls;
    return out;
  }
  int calls = 0;

 private:
  Tensor s_;
  GaussianMixturePrior prior_;
};

// Per-pixel Gaussian shrinkage on any shape (images included): x0 ~ N(0, s I), D = s/(s + sigma^2) x.
class ShrinkageDenoiser : public Denoiser {
 public:
  ShrinkageDenoiser(std::vector<int64_t> shape, double s) : shape_(std::move(shape)), s_(s) {}
  Tensor denoise(const Tensor& x, double sigma) override { return x * (s_ / (s_ + sigma * sigma)); }
  std::vector<int64_t> sample_shape() const override { return shape_; }
  c10::TensorOptions tensor_options() const override { return f64(); }

 private:
  std::vector<int64_t> shape_;
  double s_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Conjugate gradient for C^{-1} = (sigma_y^2 I + A Sigma A^T)^{-1}

TEST(CovarianceSources, CgMatchesTheClosedFormForADiagonalSigmaAndAMask) {
  auto gen = make_generator(1);
  const int64_t batch = 2;
  const Tensor mask = (at::rand({1, 1, 12, 12}, gen, f64()) > 0.4).to(at::kDouble);
  InpaintingOperator A(mask, 3);
  const Tensor variance = at::rand({batch, 3, 12, 12}, gen, f64()) * 0.99 + 0.01;  // per pixel, per sample
  const double sigma_y = 0.1;
  const Tensor r = A.forward(randn({batch, 3, 12, 12}, f64(), gen));  // 432 entries: the CG path
  ConjugateGradientOptions cg;
  cg.tolerance = 1e-12;
  cg.max_iterations = 500;
  const Tensor got = solve_measurement_covariance(A, diagonal_covariance(variance), sigma_y, r, &cg);
  // C is diagonal here: (sigma_y^2 + m_i Sigma_i)^{-1} r_i.
  const Tensor want = r / (sigma_y * sigma_y + mask * variance);
  EXPECT_LT(max_abs(got - want), 1e-8 * max_abs(want));

  // The options flow through: one iteration cannot solve it, and the stop is reported.
  const int warnings = conjugate_gradient_warnings();
  cg.max_iterations = 1;
  const Tensor rough = solve_measurement_covariance(A, diagonal_covariance(variance), sigma_y, r, &cg);
  EXPECT_GT(max_abs(rough - want), 1e-3 * max_abs(want));
  EXPECT_EQ(conjugate_gradient_warnings(), warnings + 1);
}

TEST(CovarianceSources, CgMatchesADirectSolveForADenseOperator) {
  auto gen = make_generator(2);
  const int64_t d = 90, m = 80, batch = 3;  // m > 64: CG, not the dense fallback
  const Tensor Amat = randn({m, d}, f64(), gen) / std::sqrt(double(d));
  DenseOperator A(Amat);
  const Tensor S = random_spd(d, gen, 0.05, 0.5);
  PosteriorCovariance cov;
  cov.isotropic = false;
  cov.product = [&](const Tensor& v) { return at::matmul(v, S); };
  const double sigma_y = 0.2;
  const Tensor r = randn({batch, m}, f64(), gen);
  ConjugateGradientOptions cg;
  cg.tolerance = 1e-12;
  cg.max_iterations = 1000;
  const Tensor got = solve_measurement_covariance(A, cov, sigma_y, r, &cg);
  const Tensor C = at::matmul(Amat, at::matmul(S, Amat.t())) + sigma_y * sigma_y * at::eye(m, f64());
  const Tensor want = at::linalg_solve(C, r.t()).t();
  EXPECT_LT(max_abs(got - want), 1e-8 * max_abs(want));
}

// ---------------------------------------------------------------------------------------------------
// analytic: Sigma = mse(sigma) I from a table

TEST(CovarianceSources, MseTableInterpolatesInLogSigmaAndRejectsBadInput) {
  // Exact MSE of N(0, s I): s sigma^2 / (s + sigma^2); 50 log-spaced entries over [1e-2, 1e2].
  const double s = 0.7;
  auto mse = [&](double sigma) { return s * sigma * sigma / (s + sigma * sigma); };
  std::vector<double> sig, val;
  for (int k = 0; k < 50; ++k) {
    sig.push_back(std::pow(10.0, -2.0 + 4.0 * k / 49));
    val.push_back(mse(sig.back()));
  }
  const MseTable table(sig, val);
  for (int k = 0; k < 50; ++k) EXPECT_DOUBLE_EQ(table.at(sig[size_t(k)]), val[size_t(k)]);
  double worst = 0;
  for (int k = 0; k + 1 < 50; ++k) {
    const double mid = std::sqrt(sig[size_t(k)] * sig[size_t(k + 1)]);
    worst = std::max(worst, std::abs(table.at(mid) / mse(mid) - 1));
  }
  EXPECT_LT(worst, 5e-3);
  EXPECT_GT(worst, 0.0);  // really interpolated, not looked up
  EXPECT_DOUBLE_EQ(table.at(1e-5), val.front());
  EXPECT_DOUBLE_EQ(table.at(1e5), val.back());

  // Round trip through the file format.
  const fs::path dir = fresh_dir("table");
  write_text_file((dir / "t.json").string(), table.to_json("{\"note\": \"test\"}"));
  const MseTable back = MseTable::load((dir / "t.json").string());
  EXPECT_EQ(back.sigmas(), table.sigmas());
  EXPECT_EQ(back.mse(), table.mse());

  expect_error([] { (void)MseTable({0.1, 0.2}, {0.01, std::nan("")}); }, {"not a finite"});
  expect_error([] { (void)MseTable({0.2, 0.1}, {0.01, 0.02}); }, {"ascending"});
  expect_error([] { (void)MseTable({0.1}, {0.01, 0.02}); }, {"1 sigmas but 2"});
  expect_error([&] { MseTable::load((dir / "missing.json").string()); }, {"missing.json"});
  {
    std::ofstream((dir / "bad.json").string()) << "{\"sigmas\": [0.1], \"mse\": [null]}";
  }
  expect_error([&] { MseTable::load((dir / "bad.json").string()); }, {"bad.json"});
}

TEST(CovarianceSources, OpcAnalyticEqualsExactOnAnIsotropicGaussian) {
  auto gen = make_generator(3);
  const int64_t d = 5, m = 3, batch = 4;
  const double s = 0.6, sigma_y = 0.2;
  GaussianMixturePrior prior(
      GaussianMixture::isotropic(at::ones({1}, f64()), randn({1, d}, f64(), gen), at::full({1}, s, f64())));
  const Tensor Amat = randn({m, d}, f64(), gen);
  DenseOperator op(Amat);
  const Tensor y1 = at::matmul(Amat, randn({d}, f64(), gen));
  const auto problem = dense_problem(op, y1, sigma_y, batch);
  const auto sigmas = make_sigma_grid(prior.schedule(), GridKind::Uniform, 12);
  // The table holds the exact per-pixel MSE trace(Cov[x0 | x])/d = s sigma^2/(s + sigma^2) at the grid's
  // sigmas (so no interpolation error enters).
  std::vector<double> sig, val;
  for (auto it = sigmas.rbegin(); it != sigmas.rend(); ++it)
    if (*it > 0) {
      sig.push_back(*it);
      val.push_back(s * *it * *it / (s + *it * *it));
    }
  const fs::path dir = fresh_dir("analytic");
  const std::string table = (dir / "mse.json").string();
  write_text_file(table, MseTable(sig, val).to_json());
  const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
  for (const std::string sampler : {"opc", "opc-heun"}) {
    const auto grid = sampler == "opc" ? sigmas : make_sigma_grid(prior.schedule(), GridKind::Karras, 8);
    if (sampler == "opc-heun") {
      std::vector<double> s2, v2;
      for (auto it = grid.rbegin(); it != grid.rend(); ++it)
        if (*it > 0) s2.push_back(*it), v2.push_back(s * *it * *it / (s + *it * *it));
      write_text_file(table, MseTable(s2, v2).to_json());
    }
    for (const char* type : {"1", "2"}) {
      SCOPED_TRACE(sampler + " type " + type);
      const Tensor exact = run_sampler(sampler, prior, problem, x_init, grid, 5, {{"type", type}, {"covariance", "exact"}});
      const Tensor analytic = run_sampler(sampler, prior, problem, x_init, grid, 5,
                                          {{"type", type}, {"covariance", "analytic"}, {"mse_table", table},
                                           {"threshold", "1e9"}});
      EXPECT_LT(max_abs(analytic - exact), 1e-9 * (1 + max_abs(exact)));
      // The guidance matters: PiGDM's covariance gives another answer...
      const Tensor pigdm = run_sampler(sampler, prior, problem, x_init, grid, 5, {{"type", type}, {"covariance", "pigdm"}});
      EXPECT_GT(max_abs(pigdm - exact), 1e-4);
      // ...and above the threshold analytic is PiGDM's r_t^2 I.
      const Tensor above = run_sampler(sampler, prior, problem, x_init, grid, 5,
                                       {{"type", type}, {"covariance", "analytic"}, {"mse_table", table},
                                        {"threshold", "0"}});
      EXPECT_LT(max_abs(above - pigdm), 1e-12 * (1 + max_abs(pigdm)));
    }
  }
  expect_error([&] { run_sampler("opc", prior, problem, x_init, sigmas, 5, {{"covariance", "analytic"}}); },
               {"mse_table"});
  expect_error(
      [&] {
        run_sampler("opc", prior, problem, x_init, sigmas, 5,
                    {{"covariance", "analytic"}, {"mse_table", (dir / "none.json").string()}});
      },
      {"none.json"});
}

// ---------------------------------------------------------------------------------------------------
// convert: Sigma = (Var_theta[x_{t-1} | x_t] - beta_tilde_t)/c1_t^2

TEST(CovarianceSources, ConvertRecoversAKnownSigma) {
  auto gen = make_generator(4);
  const int64_t d = 6, m = 4, batch = 3;
  const Tensor S = at::rand({d}, gen, f64()) * 0.8 + 0.1;
  LearnedVarianceGaussian den(randn({d}, f64(), gen), S);
  const auto& schedule = den.schedule();

  // The coefficients against an independent transcription of guided-diffusion's q(x_{t-1} | x_t, x0),
  // and the conversion recovering the variance that generated the reverse variance.
  for (int t : {1, 10, 100, 500, 999}) {
    const double sigma = schedule.sigma(t);
    const double ab = schedule.alphas_cumprod()[size_t(t)], abp = schedule.alphas_cumprod()[size_t(t - 1)];
    const double beta = schedule.betas()[size_t(t)];
    const double beta_tilde = beta * (1 - abp) / (1 - ab), c1 = std::sqrt(abp) * beta / (1 - ab);
    const auto c = reverse_step_coefficients(schedule, sigma);
    EXPECT_NEAR(c.beta, beta, 1e-12);
    EXPECT_NEAR(c.beta_tilde, beta_tilde, 1e-12);
    EXPECT_NEAR(c.c1, c1, 1e-12);
    const Tensor known = den.exact_variance(sigma);
    const Tensor reverse_log_var = (beta_tilde + c1 * c1 * known).log();
    EXPECT_LT(max_abs(x0_variance_from_reverse(reverse_log_var, c) / known - 1), 1e-6) << "t = " << t;
  }

  // OPC with convert (used at every sigma) equals OPC with the exact covariance.
  const Tensor Amat = randn({m, d}, f64(), gen);
  DenseOperator op(Amat);
  const Tensor y1 = at::matmul(Amat, randn({d}, f64(), gen));
  const auto problem = dense_problem(op, y1, 0.1, batch);
  const auto sigmas = make_sigma_grid(schedule, GridKind::Uniform, 10);
  const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
  for (const char* type : {"1", "2"}) {
    SCOPED_TRACE(std::string("type ") + type);
    const Tensor exact = run_sampler("opc", den, problem, x_init, sigmas, 6, {{"type", type}, {"covariance", "exact"}});
    den.calls = 0;
    const Tensor convert = run_sampler("opc", den, problem, x_init, sigmas, 6,
                                       {{"type", type}, {"covariance", "convert"}, {"threshold", "1e9"}});
    EXPECT_EQ(den.calls, 10);  // mu and the variance from one NFE per step
    EXPECT_LT(max_abs(convert - exact), 1e-8 * (1 + max_abs(exact)));
    // Default threshold 0.2: convert only for the small sigmas, PiGDM above.
    den.calls = 0;
    run_sampler("opc", den, problem, x_init, sigmas, 6, {{"type", type}, {"covariance", "convert"}});
    int below = 0;
    for (size_t i = 0; i + 1 < sigmas.size(); ++i) below += sigmas[i] < 0.2;
    EXPECT_EQ(den.calls, below);
    EXPECT_GT(below, 0);
  }

  // A denoiser without a learned variance is refused, naming what is missing.
  GaussianMixturePrior plain(GaussianMixture::gaussian(at::zeros({d}, f64()), at::eye(d, f64())));
  expect_error([&] { run_sampler("opc", plain, problem, x_init, sigmas, 6, {{"covariance", "convert"}}); },
               {"convert", "learned reverse variance"});
  expect_error([&] { run_sampler("opc-heun", plain, problem, x_init, sigmas, 6, {{"covariance", "convert"}}); },
               {"opc-heun", "learned reverse variance"});
}

TEST(CovarianceSources, ConvertRunsOnALearnSigmaUNet) {
  // The real path: a random-weight learn_sigma network (6 output channels), float32, inpainting with
  // 192 measured entries per sample (CG), both types; mu and the variance from one NFE per step.
  UNetConfig c;
  c.image_size = 8;
  c.num_channels = 32;
  c.num_res_blocks = 1;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {4};
  c.num_head_channels = 16;
  c.learn_sigma = true;
  torch::manual_seed(5);
  EpsDenoiser den(UNetModel(c), DiscreteSchedule{});
  ASSERT_TRUE(den.capabilities().learned_variance);
  auto gen = make_generator(6);
  const auto f32 = c10::TensorOptions().dtype(at::kFloat);
  InpaintingOperator op((at::rand({1, 1, 8, 8}, gen, f32) > 0.5).to(at::kFloat), 3);
  InverseProblem problem;
  problem.op = &op;
  problem.y = op.forward(at::tanh(randn({2, 3, 8, 8}, f32, gen)));
  problem.sigma_y = 0.05;
  const std::vector<double> sigmas = {0.5, 0.15, 0.05, 0.0};
  const Tensor x_init = sigmas.front() * randn({2, 3, 8, 8}, f32, gen);
  for (const char* type : {"1", "2"}) {
    const Tensor x = run_sampler("opc", den, problem, x_init, sigmas, 7, {{"type", type}, {"covariance", "convert"}});
    EXPECT_TRUE(at::isfinite(x).all().item<bool>()) << type;
    EXPECT_FALSE(at::equal(x, run_sampler("opc", den, problem, x_init, sigmas, 7, {{"type", type}, {"covariance", "pigdm"}})))
        << "convert below the threshold changes nothing";
  }
}

// ---------------------------------------------------------------------------------------------------
// CA-DPS

TEST(CovarianceSources, CaDpsJacobianDiagonalMatchesTheGaussianPosteriorCovariance) {
  auto gen = make_generator(7);
  const int64_t d = 6, batch = 3;
  // Diagonal prior covariance: J is diagonal, D linear, so one probe is exact (up to rounding).
  const Tensor S = at::rand({d}, gen, f64()) + 0.2;
  GaussianMixturePrior diag_prior(GaussianMixture::gaussian(randn({d}, f64(), gen), at::diag(S)));
  for (double sigma : {0.05, 0.5, 5.0}) {
    const Tensor x = randn({batch, d}, f64(), gen) * (1 + sigma);
    const Tensor mu = diag_prior.denoise(x, sigma);
    const Tensor est = jacobian_diagonal(diag_prior, x, mu, sigma, 1, 0.01, gen) * (sigma * sigma);
    const Tensor exact = (S * sigma * sigma / (S + sigma * sigma)).expand({batch, d});
    EXPECT_LT(max_abs(est - exact), 1e-9) << sigma;
  }
  // A full covariance: unbiased, noise sum_{j != i} J_ij^2 per probe.
  const Tensor P = random_spd(d, gen, 0.2, 1.0);
  GaussianMixturePrior full(GaussianMixture::gaussian(at::zeros({d}, f64()), P));
  const double sigma = 0.7;
  const int probes = 2000;
  const Tensor J = at::matmul(P, at::linalg_inv(P + sigma * sigma * at::eye(d, f64())));
  const Tensor x = randn({1, d}, f64(), gen);
  const Tensor est = jacobian_diagonal(full, x, full.denoise(x, sigma), sigma, probes, 0.01, gen)[0];
  const Tensor off = (J.pow(2).sum(1) - J.diagonal().pow(2)).sqrt() / std::sqrt(double(probes));
  expect_within(est, J.diagonal(), off, 5.0, 1e-9, "Hutchinson diagonal of J");
  EXPECT_GT(max_abs(J - at::diag(J.diagonal())), 0.05);  // the off-diagonals are really there
}

TEST(CovarianceSources, CaDpsIsExactTypeIWhenTheJacobianIsDiagonal) {
  // Deterministic outer step (eta = 0): CA-DPS = OPC Type I with the exact covariance, since
  // sigma^2 diag(J) = Cov[x0 | x] for a Gaussian prior with diagonal covariance.
  auto gen = make_generator(8);
  const int64_t d = 6, m = 3, batch = 4;
  GaussianMixturePrior prior(GaussianMixture::gaussian(randn({d}, f64(), gen), at::diag(at::rand({d}, gen, f64()) * 0.5 + 0.1)));
  const Tensor Amat = randn({m, d}, f64(), gen);
  DenseOperator op(Amat);
  const auto problem = dense_problem(op, at::matmul(Amat, randn({d}, f64(), gen)), 0.1, batch);
  const auto sigmas = make_sigma_grid(prior.schedule(), GridKind::Uniform, 15);
  const Tensor x_init = sigmas.front() * randn({batch, d}, f64(), gen);
  const Tensor ca = run_sampler("ca-dps", prior, problem, x_init, sigmas, 9, {{"eta", "0"}});
  const Tensor opc = run_sampler("opc", prior, problem, x_init, sigmas, 9, {{"type", "1"}, {"covariance", "exact"}, {"eta", "0"}});
  EXPECT_LT(max_abs(ca - opc), 1e-7 * (1 + max_abs(opc)));
  // scale multiplies the guidance: 0 is unconditional DDIM.
  const Tensor uncond = run_sampler("ddim", prior, problem, x_init, sigmas, 9);
  EXPECT_LT(max_abs(run_sampler("ca-dps", prior, problem, x_init, sigmas, 9, {{"eta", "0"}, {"scale", "0"}}) - uncond),
            1e-10 * (1 + max_abs(uncond)));
  EXPECT_GT(max_abs(ca - uncond), 1e-3);
}

TEST(CovarianceSources, CaDpsOnImagesIsSeededBatchedAndFinite) {
  auto gen = make_generator(10);
  const int64_t batch = 2;
  ShrinkageDenoiser den({3, 8, 8}, 0.5);
  InpaintingOperator op((at::rand({1, 1, 8, 8}, gen, f64()) > 0.5).to(at::kDouble), 3);  // 192 entries: CG
  InverseProblem problem;
  problem.op = &op;
  problem.y = op.forward(randn({1, 3, 8, 8}, f64(), gen) * 0.7).expand({batch, 3, 8, 8}).contiguous();
  problem.sigma_y = 0.05;
  const auto sigmas = make_sigma_grid(den.schedule(), GridKind::Uniform, 10);
  const Tensor x_init = sigmas.front() * randn({1, 3, 8, 8}, f64(), gen).expand({batch, 3, 8, 8}).contiguous();
  const Tensor a = run_sampler("ca-dps", den, problem, x_init, sigmas, 11);
  const Tensor b = run_sampler("ca-dps", den, problem, x_init, sigmas, 11);
  ASSERT_EQ(a.sizes(), x_init.sizes());
  EXPECT_TRUE(at::isfinite(a).all().item<bool>());
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_GT(max_abs(a[0] - a[1]), 1e-3);  // each sample of the batch draws its own noise
  EXPECT_FALSE(at::equal(run_sampler("ca-dps", den, problem, x_init, sigmas, 12), a));
  // Data consistency: the measured pixels end near y (sigma_y = 0.05).
  EXPECT_LT(max_abs(op.forward(a) - problem.y), 0.5);
}

// ---------------------------------------------------------------------------------------------------
// diffinv estimate-variance

namespace {
const std::string kTinyConfig = std::string(DIFFINV_SOURCE_DIR) + "/configs/models/plain_small.yaml";

void write_random_pngs(const fs::path& dir, int n, int size, uint64_t seed) {
  auto gen = make_generator(seed);
  for (int i = 0; i < n; ++i)
    write_png((dir / ("img" + std::to_string(i) + ".png")).string(),
              at::tanh(randn({1, 3, size, size}, c10::TensorOptions().dtype(at::kFloat), gen)));
}
}  // namespace

TEST(CovarianceSources, EstimateVarianceCliWritesATableThatOpcAnalyticReads) {
  const fs::path dir = fresh_dir("cli");
  fs::create_directories(dir / "data");
  write_random_pngs(dir / "data", 3, 32, 1);
  const std::string out = (dir / "mse.json").string();
  const auto r = run_cli("--threads 1 estimate-variance --model " + kTinyConfig + " --data " + (dir / "data").string() +
                         " --out " + out + " --sigmas 6 --batch 2 --samples-per-image 2 --seed 3");
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream f(out);
  const auto j = nlohmann::json::parse(f);
  const auto sig = j["sigmas"].get<std::vector<double>>(), mse = j["mse"].get<std::vector<double>>();
  ASSERT_EQ(sig.size(), 6u);
  ASSERT_EQ(mse.size(), 6u);
  EXPECT_EQ(j["images"], 3);
  EXPECT_EQ(j["samples_per_image"], 2);
  for (size_t i = 0; i < sig.size(); ++i) {
    EXPECT_TRUE(std::isfinite(mse[i]) && mse[i] > 0) << i;
    if (i > 0) EXPECT_GT(sig[i], sig[i - 1]);
  }
  // Monotone-ish: a random network's error grows with the noise it cannot remove.
  EXPECT_GT(mse.back(), mse.front());
  EXPECT_FALSE(fs::exists(out + ".tmp"));

  // opc covariance=analytic runs with it on the same model.
  auto den = EpsDenoiser::from_config(kTinyConfig);
  auto gen = make_generator(4);
  InpaintingOperator op((at::rand({1, 1, 32, 32}, gen, c10::TensorOptions().dtype(at::kFloat)) > 0.5).to(at::kFloat), 3);
  InverseProblem problem;
  problem.op = &op;
  problem.y = op.forward(read_image((dir / "data" / "img0.png").string()));
  problem.sigma_y = 0.05;
  const auto sigmas = make_sigma_grid(den->schedule(), GridKind::Uniform, 4);
  const Tensor x_init = sigmas.front() * randn({1, 3, 32, 32}, c10::TensorOptions().dtype(at::kFloat), gen);
  const Tensor x = run_sampler("opc", *den, problem, x_init, sigmas, 5,
                               {{"covariance", "analytic"}, {"mse_table", out}, {"threshold", "1e9"}});
  EXPECT_TRUE(at::isfinite(x).all().item<bool>());
  // convert is refused: plain_small has no learned variance.
  expect_error([&] { run_sampler("opc", *den, problem, x_init, sigmas, 5, {{"covariance", "convert"}}); },
               {"learned reverse variance"});
}

TEST(CovarianceSources, EstimateVarianceCliRefusesBadInputAndWritesNothing) {
  const fs::path dir = fresh_dir("cli_bad");
  const std::string out = (dir / "mse.json").string();
  const std::string base = "--threads 1 estimate-variance --model " + kTinyConfig + " --out " + out + " --sigmas 2";
  auto r = run_cli(base + " --data " + (dir / "missing").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
  fs::create_directories(dir / "empty");
  r = run_cli(base + " --data " + (dir / "empty").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("error:"), std::string::npos) << r.output;
  fs::create_directories(dir / "small");
  write_random_pngs(dir / "small", 2, 16, 2);
  r = run_cli(base + " --data " + (dir / "small").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("16x16 but the model needs 32x32"), std::string::npos) << r.output;
  r = run_cli(base + " --data " + (dir / "small").string() + " --samples-per-image 0");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--samples-per-image"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST(CovarianceSources, ListSamplersVerboseNamesThePapers) {
  const auto r = run_cli("list samplers --verbose");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* needle : {"ca-dps", "Hamidi & Yang AAAI 2025", "eq. 22", "mse_table", "threshold", "cg_tol",
                             "fd_step", "probes", "convert", "analytic"})
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle;
}

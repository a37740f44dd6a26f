// Issue 14, item 2: a Poisson task reaches the samplers with its noise model. DPS weights its residual
// norm by the Poisson variance (DPS §3.2), the closed-form methods use the Gaussian approximation
// sigma_y^2 = mean Var[y_j]: restored with the shipped prior, DDRM's residual y - A(x) is at the Poisson
// noise level, where a method that took y as noiseless (sigma_y = 0, as before) fits it exactly.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>

#include "diffinv/eps_denoiser.h"
#include "diffinv/restoration.h"
#include "diffinv/rng.h"

namespace diffinv::testing {
namespace {

const std::filesystem::path kPrior = std::filesystem::path(DIFFINV_SOURCE_DIR) / "models" / "fashion-mnist-small";

// A 32x32 grayscale picture on [-1, 1]: a bright disc on a gradient.
Tensor test_picture() {
  const Tensor r = at::linspace(-1, 1, 32).view({1, 32}).expand({32, 32});
  const Tensor c = at::linspace(-1, 1, 32).view({32, 1}).expand({32, 32});
  const Tensor disc = (r.pow(2) + c.pow(2) < 0.3).to(at::kFloat);
  return (0.4 * r + disc * 1.2 - 0.6).clamp(-1, 1).view({1, 1, 32, 32});
}

// RMS of y - A(x) over the RMS Poisson noise level sqrt(mean Var[y_j]).
double residual_over_noise(const InverseProblem& p, const Tensor& x) {
  const double rms = (p.y - p.op->forward(x)).pow(2).mean().sqrt().item<double>();
  return rms / std::sqrt(p.poisson_variance().mean().item<double>());
}

}  // namespace

TEST(PoissonTask, ResidualOfDdrmIsAtThePoissonNoiseLevelAndDpsRuns) {
  const TaskConfig task = parse_task_config(
      "conditioning: {method: ps, params: {scale: 0.3}}\n"
      "measurement:\n  operator: {name: noise, in_shape: [1, 1, 32, 32]}\n  noise: {name: poisson, rate: 1.0}\n",
      "poisson denoising");
  auto prior = EpsDenoiser::from_config((kPrior / "config.yaml").string());
  at::Generator measure_gen = make_generator(3);
  const InverseProblem problem = measure_images(task, test_picture(), measure_gen);
  ASSERT_EQ(problem.noise, NoiseKind::Poisson);
  // The closed-form methods' Gaussian approximation: sigma_y^2 = mean Var[y_j] = 2 mean(y + 1) / 255.
  EXPECT_NEAR(problem.sigma_y, std::sqrt(2 * (problem.y + 1).mean().item<double>() / 255), 1e-3);
  EXPECT_NEAR(residual_over_noise(problem, test_picture()), 1.0, 0.15) << "the noise itself";

  {  // A closed-form method with the Gaussian approximation stays at the noise level.
    RestoreSettings settings;
    settings.steps = 20;
    at::Generator gen = make_generator(5);
    const Tensor x = restore_images(*prior, prepare_sampler(find_sampler("ddrm"), *prior, problem.op, {}), problem, 1,
                                    settings, gen).x;
    ASSERT_TRUE(at::isfinite(x).all().item<bool>());
    const double ratio = residual_over_noise(problem, x);
    EXPECT_GT(ratio, 0.6) << "ddrm fits the Poisson noise";
    EXPECT_LT(ratio, 2.0) << "ddrm is far from the measurement";
  }
  {  // DPS runs its Poisson-weighted norm (DPS Alg. 2). Its residual is not asserted: with the shipped
     // prior it does not reach the noise level within a CI-sized number of steps (README).
    RestoreSettings settings;
    settings.steps = 5;
    at::Generator gen = make_generator(5);
    const Tensor x = restore_images(*prior, prepare_sampler(find_sampler("dps"), *prior, problem.op, {}), problem, 1,
                                    settings, gen).x;
    EXPECT_TRUE(at::isfinite(x).all().item<bool>());
  }
  // Read as noiseless, DDRM returns y itself: the residual is ~0, far below the noise level.
  InverseProblem noiseless = problem;
  noiseless.sigma_y = 0;
  noiseless.noise = NoiseKind::Gaussian;
  RestoreSettings settings;
  settings.steps = 20;
  at::Generator gen = make_generator(5);
  const Tensor x = restore_images(*prior, prepare_sampler(find_sampler("ddrm"), *prior, problem.op, {}), noiseless,
                                  1, settings, gen).x;
  EXPECT_LT(residual_over_noise(problem, x), 0.2);
}

}  // namespace diffinv::testing

// Noise schedules and sigma grids (DESIGN §3).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "diffinv/schedule.h"
#include "foundation_helpers.h"

using namespace diffinv;
using diffinv::testing::expect_error;

TEST(Schedule, DdpmLinearBetasAndSigmas) {
  DiscreteSchedule s(BetaSchedule::Linear, 1000);
  ASSERT_EQ(s.num_steps(), 1000);
  EXPECT_DOUBLE_EQ(s.betas().front(), 1e-4);
  EXPECT_NEAR(s.betas().back(), 0.02, 1e-15);
  // linspace: constant increments (0.02 - 1e-4) / 999.
  for (int t = 1; t < 1000; ++t) EXPECT_NEAR(s.betas()[t] - s.betas()[t - 1], (0.02 - 1e-4) / 999, 1e-15);
  double abar = 1.0;
  for (int t = 0; t < 1000; ++t) {
    abar *= 1 - s.betas()[t];
    EXPECT_NEAR(s.alphas_cumprod()[t], abar, 1e-14 * abar);
    EXPECT_NEAR(s.sigma(t) * s.sigma(t), (1 - abar) / abar, 1e-12 * (1 - abar) / abar);
  }
  EXPECT_NEAR(s.sigma_min(), std::sqrt(1e-4 / (1 - 1e-4)), 1e-15);
  // Known value of the DDPM schedule: abar_999 = 4.04e-5, sigma_max = 157.4.
  EXPECT_NEAR(s.alphas_cumprod().back(), 4.0358e-5, 1e-8);
  EXPECT_NEAR(s.sigma_max(), 157.4, 0.1);
  EXPECT_TRUE(std::is_sorted(s.sigmas().begin(), s.sigmas().end()));
  // guided-diffusion scales the endpoints by 1000 / T for other lengths.
  DiscreteSchedule s500(BetaSchedule::Linear, 500);
  EXPECT_NEAR(s500.betas().front(), 2e-4, 1e-17);
  EXPECT_NEAR(s500.betas().back(), 0.04, 1e-15);
}

TEST(Schedule, SigmaToTRoundTripAndLogInterpolation) {
  DiscreteSchedule s;
  for (double t : {0.0, 0.25, 1.5, 10.0, 123.456, 500.5, 998.999, 999.0}) {
    EXPECT_NEAR(s.sigma_to_t(s.t_to_sigma(t)), t, 1e-9) << t;
  }
  for (double sigma : {s.sigma_min(), 0.0123, 0.1, 1.0, 3.7, 80.0, s.sigma_max()}) {
    EXPECT_NEAR(s.t_to_sigma(s.sigma_to_t(sigma)), sigma, 1e-12 * sigma) << sigma;
  }
  // Integer t lands on the schedule's sigmas exactly; half-way is the geometric mean (log-linear).
  for (int t : {0, 1, 37, 998, 999}) {
    EXPECT_NEAR(s.t_to_sigma(t), s.sigma(t), 1e-13 * s.sigma(t));
    EXPECT_NEAR(s.sigma_to_t(s.sigma(t)), t, 1e-9);
  }
  for (int t : {0, 100, 700}) {
    const double geo = std::sqrt(s.sigma(t) * s.sigma(t + 1));
    EXPECT_NEAR(s.t_to_sigma(t + 0.5), geo, 1e-12 * geo);
    EXPECT_NEAR(s.sigma_to_t(geo), t + 0.5, 1e-9);
    // A quarter of the way in log-sigma.
    const double q = std::exp(0.75 * std::log(s.sigma(t)) + 0.25 * std::log(s.sigma(t + 1)));
    EXPECT_NEAR(s.sigma_to_t(q), t + 0.25, 1e-9);
  }
  // Clamped outside the schedule.
  EXPECT_EQ(s.sigma_to_t(1e-6), 0.0);
  EXPECT_EQ(s.sigma_to_t(1e6), 999.0);
}

TEST(Schedule, SigmaToNearestTSnapsInLogSigma) {
  DiscreteSchedule s;
  for (int t : {0, 5, 250, 998}) {
    const double geo = std::sqrt(s.sigma(t) * s.sigma(t + 1));
    EXPECT_EQ(s.sigma_to_nearest_t(geo * (1 - 1e-9)), t);
    EXPECT_EQ(s.sigma_to_nearest_t(geo * (1 + 1e-9)), t + 1);
    EXPECT_EQ(s.sigma_to_nearest_t(s.sigma(t)), t);
  }
  EXPECT_EQ(s.sigma_to_nearest_t(1e-8), 0);
  EXPECT_EQ(s.sigma_to_nearest_t(1e8), 999);
}

TEST(Schedule, CosineSanity) {
  const int T = 1000;
  DiscreteSchedule s(BetaSchedule::Cosine, T);
  auto f = [](double u) {
    const double c = std::cos((u + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  for (int t = 0; t < T; ++t) {
    EXPECT_GT(s.betas()[t], 0.0);
    EXPECT_LE(s.betas()[t], 0.999);
  }
  EXPECT_DOUBLE_EQ(s.betas().back(), 0.999);  // clipped
  // Without clipping the product telescopes: abar_t = f((t+1)/T) / f(0).
  for (int t = 0; t + 1 < T; ++t) {
    const double expected = f(double(t + 1) / T) / f(0.0);
    EXPECT_NEAR(s.alphas_cumprod()[t], expected, 1e-10 * expected + 1e-300) << t;
  }
  EXPECT_TRUE(std::is_sorted(s.sigmas().begin(), s.sigmas().end()));
  EXPECT_LT(s.sigma_min(), 0.05);   // beta_0 ~ 4e-5: sigma_0 ~ 6e-3
  EXPECT_GT(s.sigma_max(), 1e3);    // abar_T ~ 0
  EXPECT_EQ(parse_beta_schedule("cosine"), BetaSchedule::Cosine);
  EXPECT_EQ(parse_beta_schedule("linear"), BetaSchedule::Linear);
}

TEST(Schedule, RespacedTimestepsMatchGuidedDiffusion) {
  // Reference values from guided-diffusion's space_timesteps(1000, [n]) (Python, run offline).
  EXPECT_EQ(respaced_timesteps(1000, 10), (std::vector<int>{0, 111, 222, 333, 444, 555, 666, 777, 888, 999}));
  // Half-way cases: Python's round() rounds half to even (166.5 -> 166, 832.5 -> 832).
  EXPECT_EQ(respaced_timesteps(1000, 7), (std::vector<int>{0, 166, 333, 500, 666, 832, 999}));
  EXPECT_EQ(respaced_timesteps(1000, 25),
            (std::vector<int>{0, 42, 83, 125, 166, 208, 250, 291, 333, 375, 416, 458, 500,
                              541, 583, 624, 666, 708, 749, 791, 832, 874, 916, 957, 999}));
  // The running float index accumulates error: 10 * 49.95 is 499.4999..., so 499, not 500.
  EXPECT_EQ(respaced_timesteps(1000, 21),
            (std::vector<int>{0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 499, 549, 599, 649, 699, 749,
                              799, 849, 899, 949, 999}));
  const auto all = respaced_timesteps(1000, 1000);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(all[i], i);
  EXPECT_EQ(respaced_timesteps(1000, 1), std::vector<int>{999});
}

TEST(Schedule, QuadTimestepsMatchDiffPir) {
  // DiffPIR: seq = [int(s) for s in np.sqrt(np.linspace(0, T**2, n))]; seq[-1] -= 1.
  EXPECT_EQ(quad_timesteps(1000, 20), (std::vector<int>{0, 229, 324, 397, 458, 512, 561, 606, 648, 688, 725, 760,
                                                        794, 827, 858, 888, 917, 945, 973, 999}));
  EXPECT_EQ(quad_timesteps(1000, 10), (std::vector<int>{0, 333, 471, 577, 666, 745, 816, 881, 942, 999}));
  // A length where i * (T^2 / (n - 1)) and T^2 * i / (n - 1) round differently at a perfect square.
  const auto q = quad_timesteps(1000, 117);
  for (size_t i = 0; i + 1 < q.size(); ++i) {
    const double step = 1e6 / 116.0;
    EXPECT_EQ(q[i], static_cast<int>(std::sqrt(i * step))) << i;
  }
  EXPECT_EQ(q.back(), 999);
}

TEST(Schedule, KarrasEndpointsAndRho) {
  const double smin = 0.002, smax = 80.0;
  for (double rho : {1.0, 3.0, 7.0}) {
    const auto s = karras_sigmas(smin, smax, 18, rho);
    ASSERT_EQ(s.size(), 19u);
    EXPECT_NEAR(s.front(), smax, 1e-12 * smax);
    EXPECT_NEAR(s[17], smin, 1e-10 * smin);  // pow(pow(x, 1/rho), rho) rounding
    EXPECT_EQ(s.back(), 0.0);
    // sigma^(1/rho) is linear in i (Karras et al. 2022, eq. 5).
    const double a = std::pow(smax, 1 / rho), b = std::pow(smin, 1 / rho);
    for (int i = 0; i < 18; ++i) EXPECT_NEAR(std::pow(s[i], 1 / rho), a + i / 17.0 * (b - a), 1e-12) << i;
  }
}

TEST(Schedule, GridsDescendEndInZeroAndUseTheSchedule) {
  DiscreteSchedule sched;
  for (GridKind kind : {GridKind::Uniform, GridKind::Quad, GridKind::Karras}) {
    for (int steps : {2, 10, 20, 100}) {
      const auto g = make_sigma_grid(sched, kind, steps);
      ASSERT_EQ(int(g.size()), steps + 1) << grid_kind_name(kind) << " " << steps;
      EXPECT_EQ(g.back(), 0.0);
      for (size_t i = 0; i + 1 < g.size(); ++i) EXPECT_GT(g[i], g[i + 1]) << grid_kind_name(kind) << " " << i;
      EXPECT_NEAR(g.front(), sched.sigma_max(), 1e-12 * sched.sigma_max());
      EXPECT_NEAR(g[steps - 1], sched.sigma_min(), 1e-15);
    }
    EXPECT_EQ(parse_grid_kind(grid_kind_name(kind)), kind);
  }
  const auto u = make_sigma_grid(sched, GridKind::Uniform, 10);
  const auto ts = respaced_timesteps(1000, 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(u[i], sched.sigma(ts[9 - i]));
  const auto k = make_sigma_grid(sched, GridKind::Karras, 10, 3.0);
  EXPECT_EQ(k, karras_sigmas(sched.sigma_min(), sched.sigma_max(), 10, 3.0));
}

TEST(Schedule, BadInputsThrow) {
  DiscreteSchedule s;
  expect_error([] { DiscreteSchedule(BetaSchedule::Linear, 1); }, {"at least 2"});
  expect_error([&] { s.sigma(-1); }, {"timestep"});
  expect_error([&] { s.sigma(1000); }, {"timestep"});
  expect_error([&] { s.sigma_to_t(0.0); }, {"positive"});
  expect_error([&] { s.sigma_to_t(-1.0); }, {"positive"});
  expect_error([&] { s.sigma_to_t(NAN); }, {"positive"});
  expect_error([&] { s.sigma_to_t(INFINITY); }, {"finite"});
  expect_error([&] { s.sigma_to_nearest_t(0.0); }, {"positive"});
  expect_error([&] { s.t_to_sigma(-0.1); }, {"t outside"});
  expect_error([&] { s.t_to_sigma(999.5); }, {"t outside"});
  expect_error([] { respaced_timesteps(1000, 0); }, {"steps"});
  expect_error([] { respaced_timesteps(1000, 1001); }, {"steps"});
  expect_error([] { quad_timesteps(1000, 1); }, {"quad"});
  expect_error([] { karras_sigmas(0.0, 1.0, 10); }, {"sigma_min"});
  expect_error([] { karras_sigmas(2.0, 1.0, 10); }, {"sigma_min"});
  expect_error([] { karras_sigmas(0.1, 1.0, 0); }, {"step"});
  expect_error([] { karras_sigmas(0.1, 1.0, 10, 0.0); }, {"rho"});
  expect_error([] { parse_grid_kind("linear"); }, {"linear", "uniform", "quad", "karras"});
  expect_error([] { parse_beta_schedule("sqrt"); }, {"sqrt", "linear", "cosine"});
}

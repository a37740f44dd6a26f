// DESIGN §5: step sizes published for VP states keep their meaning. One step of each such sampler,
// run through the sampler table in VE form, must equal a direct transcription of the original VP
// update (same noise draw), x_vp = x / sqrt(1 + sigma^2), abar = 1 / (1 + sigma^2).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "diffinv/gmm.h"
#include "diffinv/rng.h"
#include "diffinv/sampler.h"
#include "foundation_helpers.h"

using namespace diffinv;
using diffinv::testing::f64;

namespace {

struct StepProblem {
  GaussianMixturePrior prior;
  DenseOperator op;
  Tensor y, x;
  double sigma_y = 0.2, s = 1.7, sn = 1.1;
};

StepProblem make_setup() {
  auto gen = make_generator(11);
  const int d = 5;
  GaussianMixture mix = GaussianMixture::isotropic(at::tensor({0.3, 0.7}, f64()), randn({2, d}, f64(), gen) * 2,
                                                   at::tensor({0.5, 1.5}, f64()));
  Tensor a = randn({2, d}, f64(), gen);
  StepProblem st{GaussianMixturePrior(mix), DenseOperator(a), randn({3, 2}, f64(), gen), randn({3, d}, f64(), gen) * 2};
  return st;
}

// DDPM's posterior q(x_{t-1} | x_t, x0) between two grid points, in VP units.
struct VpStep {
  double abar_t, abar_prev, alpha, beta, coef_x0, coef_xt, std;
  VpStep(double s, double sn) {
    abar_t = 1 / (1 + s * s);
    abar_prev = 1 / (1 + sn * sn);
    alpha = abar_t / abar_prev;
    beta = 1 - alpha;
    coef_x0 = std::sqrt(abar_prev) * beta / (1 - abar_t);
    coef_xt = std::sqrt(alpha) * (1 - abar_prev) / (1 - abar_t);
    std = std::sqrt(beta * (1 - abar_prev) / (1 - abar_t));
  }
};

Tensor run_one_step(StepProblem& st, const std::string& name, const OptionMap& options) {
  SamplerContext ctx{st.prior, InverseProblem{&st.op, st.y, st.sigma_y}, st.x, {st.s, st.sn}, make_generator(5), {}};
  return find_sampler(name).run(ctx, options);
}

}  // namespace

TEST(VpTranscription, DpsStepMatchesTheOriginalVpUpdate) {
  StepProblem st = make_setup();
  const double zeta = 0.7;
  const Tensor ve = run_one_step(st, "dps", {{"zeta", "0.7"}});

  // Chung et al. 2023, Alg. 1, written on the VP state.
  const VpStep q(st.s, st.sn);
  auto gen = make_generator(5);
  const Tensor z = randn_like(st.x, gen);
  Tensor x_vp = (st.x / std::sqrt(1 + st.s * st.s)).detach().requires_grad_(true);
  const Tensor x0 = st.prior.denoise(x_vp * std::sqrt(1 + st.s * st.s), st.s);
  const Tensor norm = (st.y - st.op.forward(x0)).pow(2).sum(1).sqrt();
  const Tensor grad = torch::autograd::grad({norm.sum()}, {x_vp})[0];
  const Tensor prev_vp = q.coef_x0 * x0.detach() + q.coef_xt * x_vp.detach() + q.std * z - zeta * grad;
  EXPECT_TRUE(at::allclose(ve, prev_vp * std::sqrt(1 + st.sn * st.sn), 1e-10, 1e-10))
      << (ve - prev_vp * std::sqrt(1 + st.sn * st.sn)).abs().max();
}

TEST(VpTranscription, DmpsStepMatchesTheOriginalVpUpdate) {
  StepProblem st = make_setup();
  const double scale = 1.3;
  const Tensor ve = run_one_step(st, "dmps", {{"scale", "1.3"}});

  // Meng & Kabashima 2022, eq. 11-13: x_{t-1} = DDPM step + scale (1 - alpha_t)/sqrt(alpha_t) *
  // grad_{x_vp} log N(y; A x_vp / sqrt(abar_t), sigma_y^2 I + (1 - abar_t)/abar_t A A^T).
  const VpStep q(st.s, st.sn);
  auto gen = make_generator(5);
  const Tensor z = randn_like(st.x, gen);
  const Tensor x_vp = st.x / std::sqrt(1 + st.s * st.s);
  const Tensor x0 = st.prior.denoise(st.x, st.s);
  const Tensor a = st.op.matrix();
  const Tensor cov = st.sigma_y * st.sigma_y * at::eye(2, f64()) + (1 - q.abar_t) / q.abar_t * at::matmul(a, a.t());
  const Tensor resid = st.y - at::matmul(x_vp, a.t()) / std::sqrt(q.abar_t);
  const Tensor grad_vp = at::matmul(at::linalg_solve(cov, resid.t()).t(), a) / std::sqrt(q.abar_t);
  const Tensor prev_vp = q.coef_x0 * x0 + q.coef_xt * x_vp + q.std * z + scale * q.beta / std::sqrt(q.alpha) * grad_vp;
  EXPECT_TRUE(at::allclose(ve, prev_vp * std::sqrt(1 + st.sn * st.sn), 1e-10, 1e-10))
      << (ve - prev_vp * std::sqrt(1 + st.sn * st.sn)).abs().max();
}

TEST(VpTranscription, DdimStepMatchesSongEq12) {
  // x_{t-1} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - c^2) eps + c z, c = eta sqrt(beta_tilde).
  StepProblem st = make_setup();
  const double eta = 0.6;
  SamplerContext ctx{st.prior, InverseProblem{}, st.x, {st.s, st.sn}, make_generator(5), {}};
  const Tensor ve = find_sampler("ddim").run(ctx, {{"eta", "0.6"}});
  const VpStep q(st.s, st.sn);
  auto gen = make_generator(5);
  const Tensor z = randn_like(st.x, gen);
  const Tensor x_vp = st.x / std::sqrt(1 + st.s * st.s);
  const Tensor x0 = st.prior.denoise(st.x, st.s);
  const Tensor eps = (x_vp - std::sqrt(q.abar_t) * x0) / std::sqrt(1 - q.abar_t);
  const double c = eta * q.std;
  const Tensor prev_vp = std::sqrt(q.abar_prev) * x0 + std::sqrt(1 - q.abar_prev - c * c) * eps + c * z;
  EXPECT_TRUE(at::allclose(ve, prev_vp * std::sqrt(1 + st.sn * st.sn), 1e-10, 1e-10));
}

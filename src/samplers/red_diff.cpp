// RED-diff — Mardani, Song, Kautz & Vahdat, "A Variational Perspective on Solving Inverse Problems
// with Diffusion Models", ICLR 2024 (arXiv 2023), Alg. 1, the loss
//   min_mu  |y - A mu|^2 / 2  +  lambda_t * < sg(eps_hat(x_t, t) - eps), mu >,
//   x_t = mu + sigma_t eps (VE form of sqrt(abar) mu + sqrt(1 - abar) eps, same eps),
//   lambda_t = lambda * sigma_t  (the code's "linear" 1/SNR weighting: sqrt(1 - abar)/sqrt(abar) = sigma_t),
// one Adam step per sigma of the grid, from the largest down; no gradient through the denoiser.
// As in NVlabs/RED-diff algos/reddiff.py: mu starts at A^+ y (x_init is not used), Adam betas
// (0.9, 0.99), and both terms are means over their entries (|.|^2/(2 m) and <.,.>/n per sample),
// which fixes their relative weight. Adam runs per entry, so every sample of the batch is its own
// problem (the code's extra 1/B of a batch mean only rescales Adam's epsilon).
#include <ATen/ATen.h>

#include <cmath>

#include "diffinv/rng.h"
#include "diffinv/samplers/red_diff.h"
#include "steps.h"

namespace diffinv {

namespace {
// Adam (Kingma & Ba 2015, Alg. 1) on one tensor, torch.optim.Adam's update with eps = 1e-8.
class Adam {
 public:
  Adam(double lr, double beta1, double beta2) : lr_(lr), beta1_(beta1), beta2_(beta2) {}
  Tensor step(const Tensor& param, const Tensor& grad) {
    if (!m_.defined()) {
      m_ = at::zeros_like(param);
      v_ = at::zeros_like(param);
    }
    ++t_;
    m_ = m_ * beta1_ + grad * (1 - beta1_);
    v_ = v_ * beta2_ + grad * grad * (1 - beta2_);
    const double bias1 = 1 - std::pow(beta1_, t_), bias2 = 1 - std::pow(beta2_, t_);
    return param - (m_ / bias1) / ((v_ / bias2).sqrt() + kEps) * lr_;
  }

 private:
  static constexpr double kEps = 1e-8;
  double lr_, beta1_, beta2_;
  Tensor m_, v_;
  int t_ = 0;
};
}  // namespace

void RedDiffOptions::check(const std::string& who) const {
  require_positive(lr, "lr", who);
  require_at_least(lambda, 0, "lambda", who);
  require_at_least(obs_weight, 0, "obs_weight", who);
  require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
          who + ": Adam betas must be in [0, 1), got beta1 " + format_number(beta1) + ", beta2 " + format_number(beta2));
}

Tensor sample_red_diff(const SamplerContext& ctx, const RedDiffOptions& o) {
  const auto& A = ctx.problem.linear("red-diff");
  at::Generator gen = ctx.generator;
  const Tensor& y = ctx.problem.y;
  Tensor mu = A.pinv(y).reshape(ctx.x_init.sizes()).to(ctx.x_init.options());
  const double entries_x = double(mu.numel() / mu.size(0)), entries_y = double(y.numel() / y.size(0));
  Adam adam(o.lr, o.beta1, o.beta2);
  for (const auto& [i, s, sn] : steps::grid_steps(ctx.sigmas)) {  // level i: sigma_i = s
    const Tensor eps = randn_like(mu, gen);
    const Tensor x = mu + eps * s;
    const Tensor eps_hat = (x - steps::denoise(ctx.denoiser, x, s)) / s;
    const Tensor data_grad = A.adjoint(A.forward(mu) - y) * (o.obs_weight / entries_y);
    const Tensor prior_grad = (eps_hat - eps) * (o.lambda * s / entries_x);
    mu = adam.step(mu, data_grad + prior_grad);
    ctx.report(i, mu);
  }
  return mu;
}

}  // namespace diffinv

// Helpers shared by the sampler tests: a dense linear problem with a GMM prior, one measurement
// repeated over the batch, and a seeded sampler run.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "diffinv/gmm.h"
#include "diffinv/samplers.h"
#include "foundation_helpers.h"

namespace diffinv::testing {

// y = A x + N(0, sigma_y^2) with a dense A, one measurement repeated over the batch.
struct Problem {
  std::unique_ptr<GaussianMixturePrior> prior;
  std::unique_ptr<DenseOperator> op;
  Tensor A, y1;  // [m, d], [m]
  double sigma_y = 0.0;

  InverseProblem inverse(int64_t batch) const {
    InverseProblem p;
    p.op = op.get();
    p.y = y1.unsqueeze(0).expand({batch, y1.size(0)}).contiguous();
    p.sigma_y = sigma_y;
    return p;
  }
};

inline Problem make_problem(GaussianMixture mix, int64_t m, double sigma_y, at::Generator& gen) {
  Problem p;
  const int64_t d = mix.dim();
  p.A = randn({m, d}, f64(), gen);
  const Tensor x_true = mix.sample(1, gen)[0];
  p.y1 = at::matmul(p.A, x_true) + sigma_y * randn({m}, f64(), gen);
  p.sigma_y = sigma_y;
  p.op = std::make_unique<DenseOperator>(p.A);
  p.prior = std::make_unique<GaussianMixturePrior>(std::move(mix));
  return p;
}

inline GaussianMixture small_gmm(int64_t d, at::Generator& gen) {
  std::vector<Tensor> covs;
  for (int i = 0; i < 3; ++i) covs.push_back(random_spd(d, gen, 0.05, 0.3));
  return GaussianMixture(at::tensor({0.3, 0.3, 0.4}, f64()), 2.0 * randn({3, d}, f64(), gen), at::stack(covs));
}

inline Tensor run_sampler(const SamplerInfo& info, Denoiser& den, const InverseProblem& problem, const Tensor& x_init,
                          const std::vector<double>& sigmas, uint64_t seed, const OptionMap& options = {}) {
  SamplerContext ctx{den, problem, x_init, sigmas, make_generator(seed), {}};
  return info.run(ctx, options);
}

}  // namespace diffinv::testing

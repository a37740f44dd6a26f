#include "diffinv/warm_start.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "diffinv/rng.h"

namespace diffinv {

WarmStart ccdf_warm_start(const std::vector<double>& sigmas, double t0, const Tensor& x_hat, at::Generator& gen) {
  require(sigmas.size() >= 2, "ccdf warm start needs a grid with at least one step");
  require(t0 > 0 && t0 <= 1, "ccdf warm start: t0 must be in (0, 1], got " + std::to_string(t0));
  const int steps = int(sigmas.size()) - 1;
  const int kept = std::max(1, int(std::lround(t0 * steps)));
  WarmStart w;
  w.sigmas.assign(sigmas.end() - (kept + 1), sigmas.end());
  const Tensor z = randn_like(x_hat, gen);
  w.x_init = t0 == 1.0 ? z * w.sigmas.front() : x_hat + z * w.sigmas.front();
  return w;
}

Tensor ccdf_initial_estimate(const InverseProblem& problem, const Tensor& like) {
  const auto* A = dynamic_cast<const LinearOperator*>(&problem.any("ccdf warm start"));
  require(A != nullptr, "ccdf warm start: no default initial estimate for the nonlinear operator '" +
                            problem.op->name() + "'; pass one");
  return A->pinv(problem.y).reshape(like.sizes()).to(like.options());
}

}  // namespace diffinv

#include <ATen/ATen.h>

#include "diffinv/metrics.h"
#include "diffinv/rng.h"

namespace diffinv {

double sliced_wasserstein(const Tensor& a, const Tensor& b, int directions, at::Generator& gen) {
  require(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1), "sliced_wasserstein needs [n, d] and [m, d] sets");
  require(a.size(0) == b.size(0) && a.size(0) > 0, "sliced_wasserstein needs two non-empty sets of equal size");
  require(directions > 0, "sliced_wasserstein needs at least one direction");
  Tensor dirs = randn({a.size(1), directions}, a.options().device(gen.device()), gen).to(a.device());
  dirs = dirs / dirs.norm(2, 0, true);
  const Tensor pa = std::get<0>(at::matmul(a, dirs).sort(0));
  const Tensor pb = std::get<0>(at::matmul(b.to(a.options()), dirs).sort(0));
  return (pa - pb).abs().mean().item<double>();
}

Tensor psnr(const Tensor& estimate, const Tensor& reference, double peak) {
  require(estimate.sizes() == reference.sizes(), "psnr needs tensors of the same shape");
  const Tensor mse = (estimate - reference).flatten(1).pow(2).mean(1);
  return 10 * at::log10(peak * peak / mse.clamp_min(1e-30));
}

}  // namespace diffinv

// The options and entry point of src/samplers/langevin.cpp (snips.cpp also runs on these options).
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// The options of the annealed Langevin samplers (SNIPS and Langevin). Defaults: NCSNv2 CelebA (step_lr,
// n_steps_each), as snips_torch configs/celeba.yml.
struct AnnealedLangevinOptions {
  double c = 3.3e-6;
  int steps_per_level = 5;
  bool denoise = true;
  void visit(OptionVisitor& v) {
    v("c", c, "Langevin step size at the smallest level (step_lr); level sigma steps c sigma^2/sigma_L^2");
    v("steps_per_level", steps_per_level, "Langevin steps per noise level (n_steps_each, SNIPS's tau)");
    v("denoise", denoise, "finish with D(x, sigma_L) (NCSN's final denoising, one more NFE)");
  }
  void check(const std::string& who) const;
};

// SNIPS (Kawar, Vaksman & Elad 2021, Alg. 1): annealed Langevin in the SVD domain of A with a
// step size per singular value.
Tensor sample_snips(const SamplerContext& ctx, const AnnealedLangevinOptions& o);

// Annealed Langevin posterior sampling (Jalal et al. 2021): Langevin steps with
// score + A^T (y - A x) / (sigma_y^2 + sigma_t^2), several per level, step c sigma^2 / sigma_L^2.
Tensor sample_langevin(const SamplerContext& ctx, const AnnealedLangevinOptions& o);

}  // namespace diffinv

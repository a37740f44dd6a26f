// The options and entry point of src/samplers/diffpir.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// DiffPIR (Zhu et al. 2023, Alg. 1): prox data step with rho_t = lambda sigma_y^2 / (4 sigma_t^2),
// then re-noise mixing the implied noise and fresh noise with zeta.
struct DiffpirOptions {
  double lambda = 1.0;
  double zeta = 1.0;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("lambda", lambda, "weight of the prior in the data step (paper: 1-7)");
    v("zeta", zeta, "fraction of fresh noise when re-noising (paper: 0.1 SR/blur, 1.0 inpainting)");
    v("clip", clip, "> 0: clamp x0 to [-clip, clip] before the data step (DiffPIR code: clip_denoised); 0 = off");
  }
  void check(const std::string& who) const;
};
Tensor sample_diffpir(const SamplerContext& ctx, const DiffpirOptions& o);

}  // namespace diffinv

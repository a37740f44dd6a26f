// The options and entry point of src/samplers/dps.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// DPS (Chung et al. 2023, Alg. 1): ancestral step, then x -= zeta * grad |y - A(mu)|.
struct DpsOptions {
  double zeta = 1.0;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("zeta", zeta, "step size on the residual norm in VP units (paper: 0.3 SR/blur, 0.5 inpainting, 1.0 phase)");
    v("clip", clip, "> 0: clamp x0_hat to [-clip, clip] before the residual and the ancestral step, inside the "
                    "gradient (DPS code: clip_denoised); 0 = off (exact on analytic priors)");
  }
  void check(const std::string& who) const;
};
Tensor sample_dps(const SamplerContext& ctx, const DpsOptions& o);

}  // namespace diffinv

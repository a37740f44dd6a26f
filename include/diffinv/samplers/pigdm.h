// The options and entry point of src/samplers/pigdm.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// ΠGDM (Song et al. 2023, eq. 7-8), noisy form: Type I guidance with Sigma = r_t^2 I.
struct PigdmOptions {
  double eta = 1.0;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("eta", eta, "DDIM stochasticity of the outer step");
    v("clip", clip, "> 0: clamp the guided x0 estimate to [-clip, clip] (images: 1, as guided-diffusion's "
                    "clip_denoised); 0 = off (exact on analytic priors)");
  }
  void check(const std::string& who) const;
};
Tensor sample_pigdm(const SamplerContext& ctx, const PigdmOptions& o);

}  // namespace diffinv

// The options and entry point of src/samplers/dmps.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// DMPS (Meng & Kabashima 2022, eq. 11-13): ancestral step plus the closed-form score of the
// uninformative-prior likelihood N(y; A x, sigma_y^2 I + sigma^2 A A^T).
struct DmpsOptions {
  double scale = 1.75;
  double clip = 0.0;
  void visit(OptionVisitor& v) {
    v("scale", scale, "weight of the likelihood score");
    v("clip", clip, "> 0: clamp x0 to [-clip, clip] in the ancestral step (DMPS code: clip_denoised); 0 = off");
  }
  void check(const std::string& who) const;
};
Tensor sample_dmps(const SamplerContext& ctx, const DmpsOptions& o);

}  // namespace diffinv

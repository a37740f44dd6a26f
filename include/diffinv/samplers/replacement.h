// The options and entry point of src/samplers/replacement.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// Score-SDE / ILVR replacement: an unconditional DDIM(eta) step, then the measured part of x
// replaced by A^+ y + sigma_next A^+ A z.
struct ReplacementOptions {
  double eta = 1.0;
  void visit(OptionVisitor& v) { v("eta", eta, "stochasticity of the unconditional step: 1 = ancestral (the papers)"); }
  void check(const std::string& who) const;
};
Tensor sample_replacement(const SamplerContext& ctx, const ReplacementOptions& o);

}  // namespace diffinv

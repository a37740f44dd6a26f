// The options and entry point of src/samplers/unconditional.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// Unconditional DDIM (Song 2021, eq. 12) in VE form; eta = 1 is DDPM's ancestral step.
struct DdimOptions {
  double eta = 0.0;
  void visit(OptionVisitor& v) { v("eta", eta, "DDIM stochasticity: 0 deterministic, 1 = DDPM ancestral"); }
  void check(const std::string& who) const;
};
Tensor sample_ddim(const SamplerContext& ctx, const DdimOptions& o);

struct DdpmOptions {
  void visit(OptionVisitor&) {}
};
Tensor sample_ddpm(const SamplerContext& ctx, const DdpmOptions& o);

}  // namespace diffinv

// The options and entry point of src/samplers/mcg.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// MCG (Chung et al. 2022): DPS's step, then the measured part replaced by the noised measurement.
struct McgOptions {
  double zeta = 1.0;
  void visit(OptionVisitor& v) {
    v("zeta", zeta, "step size on the residual norm in VP units (DPS code's 'mcg' scale default, MCG's alpha = 1)");
  }
  void check(const std::string& who) const;
};
Tensor sample_mcg(const SamplerContext& ctx, const McgOptions& o);

}  // namespace diffinv

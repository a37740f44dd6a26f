// The options and entry point of src/samplers/ddrm.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// DDRM (Kawar et al. 2022, eq. 7-8): per-singular-value update in the SVD domain.
struct DdrmOptions {
  double eta = 0.85;
  double eta_b = 1.0;
  void visit(OptionVisitor& v) {
    v("eta", eta, "noise of the unmeasured and noisier-than-y components");
    v("eta_b", eta_b, "weight of the measurement where it is less noisy than x_t");
  }
  void check(const std::string& who) const;
};
Tensor sample_ddrm(const SamplerContext& ctx, const DdrmOptions& o);

}  // namespace diffinv

// The options and entry point of src/samplers/hybrid.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// The DPS -> DMPS hybrid: DPS until x0_hat stops moving (PSNR between consecutive estimates
// >= switch_psnr, per sample), DMPS after it, saving the VJPs.
struct HybridOptions {
  double zeta = 1.0;
  double scale = 1.75;
  double switch_psnr = 20.0;
  double peak = 2.0;
  void visit(OptionVisitor& v) {
    v("zeta", zeta, "DPS step size before the switch");
    v("scale", scale, "DMPS likelihood weight after the switch");
    v("switch_psnr", switch_psnr, "switch once PSNR(x0_hat_k, x0_hat_k-1) reaches this many dB");
    v("peak", peak, "peak-to-peak signal range in that PSNR (2 for images on [-1, 1])");
  }
  void check(const std::string& who) const;
};
Tensor sample_dps_dmps_hybrid(const SamplerContext& ctx, const HybridOptions& o);

}  // namespace diffinv

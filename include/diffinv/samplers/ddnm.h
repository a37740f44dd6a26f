// The options and entry point of src/samplers/ddnm.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// DDNM (Wang et al. 2023, eq. 13): x0 <- x0 - A^+(A x0 - y), then a DDIM step.
struct DdnmOptions {
  double eta = 0.85;
  int travel_length = 1;  // DDNM's time_travel defaults (T_sampling 100, travel_length 1, travel_repeat 1): off
  int travel_repeat = 1;
  void visit(OptionVisitor& v) {
    v("eta", eta, "DDIM stochasticity");
    v("travel_length", travel_length, "time travel (§3.4, Alg. 2): steps gone back by forward diffusion");
    v("travel_repeat", travel_repeat, "time travel: passes over each travel_length block (1 = no time travel;\n"
                                      "each extra pass costs travel_length NFE per block)");
  }
  void check(const std::string& who) const;
};
Tensor sample_ddnm(const SamplerContext& ctx, const DdnmOptions& o);
// DDNM+ (eq. 17-19): the correction scaled per singular value so that measurement noise is absorbed
// by the step's own noise budget.
Tensor sample_ddnm_plus(const SamplerContext& ctx, const DdnmOptions& o);

}  // namespace diffinv

// The options and entry point of src/samplers/red_diff.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// RED-diff (Mardani et al. 2023, Alg. 1): Adam on mu against |y - A mu|^2/2 plus
// lambda * sigma_t * <sg(eps_hat - eps), mu>; no VJP through the denoiser. Defaults: NVlabs/RED-diff
// _configs/algo/reddiff.yaml and algos/reddiff.py.
struct RedDiffOptions {
  double lr = 0.1;
  double lambda = 0.25;
  double obs_weight = 1.0;
  double beta1 = 0.9;
  double beta2 = 0.99;
  void visit(OptionVisitor& v) {
    v("lr", lr, "Adam learning rate");
    v("lambda", lambda, "weight of the denoiser regulariser (grad_term_weight), times sigma_t (1/SNR 'linear')");
    v("obs_weight", obs_weight, "weight of the data term |y - A mu|^2/2");
    v("beta1", beta1, "Adam beta1");
    v("beta2", beta2, "Adam beta2 (RED-diff uses 0.99, not torch's 0.999)");
  }
  void check(const std::string& who) const;
};
Tensor sample_red_diff(const SamplerContext& ctx, const RedDiffOptions& o);

}  // namespace diffinv

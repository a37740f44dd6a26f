#include "diffinv/samplers/cg_settings.h"

namespace diffinv {

void CgSettings::check(const std::string& who) const {
  require_positive(cg_tol, "cg_tol", who);
  require_at_least(cg_iters, 1, "cg_iters", who);
}

ConjugateGradientOptions CgSettings::cg() const {
  ConjugateGradientOptions o;
  o.tolerance = cg_tol;
  o.max_iterations = cg_iters;
  return o;
}

}  // namespace diffinv

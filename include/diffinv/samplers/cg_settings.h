// The options and entry point of src/samplers/cg_settings.cpp.
#pragma once
#include <string>

#include "diffinv/sampler.h"

namespace diffinv {

// Conjugate-gradient settings of a non-isotropic C^{-1} = (sigma_y^2 I + A Sigma A^T)^{-1} (used when y
// has more than 64 entries per sample; smaller systems are solved densely). tol 1e-4 is the OPC
// code's (gpytorch linear_cg(tolerance=1e-4), relative residual). 200 iterations: with Sigma <= 1
// per pixel (data on [-1, 1]), |A| <= 1 and sigma_y = 0.05, cond(C) <= 1 + 1/0.05^2 = 401 and CG's
// bound 2 ((sqrt(k) - 1)/(sqrt(k) + 1))^n reaches 1e-4 after ~100 iterations; below OPC's 0.2
// threshold (Sigma <= 0.04) cond(C) <= 17 and ~20 suffice. A solve that stops above tol warns.
struct CgSettings {
  double cg_tol = 1e-4;
  int cg_iters = 200;
  void visit(OptionVisitor& v) {
    v("cg_tol", cg_tol, "CG relative residual tolerance for a non-isotropic C^-1 (OPC code: gpytorch linear_cg tolerance 1e-4)");
    v("cg_iters", cg_iters, "CG iteration cap (warns on stderr when reached above cg_tol)");
  }
  void check(const std::string& who) const;  // tol > 0, iters >= 1
  ConjugateGradientOptions cg() const;
};

}  // namespace diffinv

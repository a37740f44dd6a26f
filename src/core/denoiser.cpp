#include "diffinv/denoiser.h"

namespace diffinv {

CovarianceProduct Denoiser::posterior_covariance(const Tensor&, double) {
  throw Error("this denoiser has no exact posterior covariance (covariance source 'exact' needs an analytic prior)");
}

}  // namespace diffinv

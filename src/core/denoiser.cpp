#include "diffinv/denoiser.h"

namespace diffinv {

CovarianceProduct Denoiser::posterior_covariance(const Tensor&, double) {
  throw Error("this denoiser has no exact posterior covariance (covariance source 'exact' needs an analytic prior)");
}

DenoiserVarianceOutput Denoiser::denoise_with_variance(const Tensor&, double, double) {
  throw Error("this denoiser has no learned variance (covariance source 'convert' needs a learn_sigma network)");
}

}  // namespace diffinv

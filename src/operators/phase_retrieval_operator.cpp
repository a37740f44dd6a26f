// Phase retrieval (nonlinear), DPS's PhaseRetrievalOperator: the magnitude of the centred,
// orthonormal 2-D FFT of the zero-padded image.
#include <ATen/ATen.h>
#include <torch/types.h>
#include <torch/fft.h>  // needs torch/types.h first (it relies on torch/torch.h having included it)

#include <cmath>

#include "diffinv/image_operators.h"

namespace diffinv {

PhaseRetrievalOperator::PhaseRetrievalOperator(ImageShape shape, double oversample) : shape_(shape) {
  require(shape.channels > 0 && shape.height > 0 && shape.width > 0, "phase-retrieval: image shape " + shape.str() + " must be positive");
  require(oversample >= 0 && std::isfinite(oversample), "phase-retrieval: oversample must be >= 0");
  pad_h_ = static_cast<int64_t>(oversample / 8.0 * double(shape.height));
  pad_w_ = static_cast<int64_t>(oversample / 8.0 * double(shape.width));
}

Tensor PhaseRetrievalOperator::forward(const Tensor& x) const {
  check_image(x, shape_, name());
  const Tensor padded = at::constant_pad_nd(x, {pad_w_, pad_w_, pad_h_, pad_h_});
  // fastMRI's fft2c: ifftshift, fft2 with norm "ortho", fftshift (the shifts do not change |.|
  // up to the final permutation, kept so y's layout equals DPS's).
  const std::vector<int64_t> dims{-2, -1};
  const Tensor spec = torch::fft::fftshift(torch::fft::fft2(torch::fft::ifftshift(padded, dims), c10::nullopt, dims, "ortho"), dims);
  return spec.abs();
}

}  // namespace diffinv

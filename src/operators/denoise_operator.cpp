// Denoising: the identity operator, an SVD operator with every singular value 1.
#include <ATen/ATen.h>

#include "diffinv/image_operators.h"

namespace diffinv {

DenoiseOperator::DenoiseOperator(ImageShape shape, c10::TensorOptions options) : shape_(shape) {
  require(shape.channels > 0 && shape.height > 0 && shape.width > 0, "denoise: image shape " + shape.str() + " must be positive");
  s_ = at::ones({shape.numel()}, options);
}

Tensor DenoiseOperator::forward(const Tensor& x) const {
  check_image(x, shape_, name());
  return x;
}
Tensor DenoiseOperator::adjoint(const Tensor& y) const {
  check_image(y, shape_, name(), "y");
  return y;
}
Tensor DenoiseOperator::pinv(const Tensor& y) const { return adjoint(y); }
Tensor DenoiseOperator::Vt(const Tensor& x) const {
  check_image(x, shape_, name());
  return x.reshape({x.size(0), -1});
}
Tensor DenoiseOperator::V(const Tensor& c) const {
  const int64_t n = shape_.numel();
  require(c.dim() == 2 && c.size(1) <= n, name() + ": V expects coefficients [B, k <= " + std::to_string(n) + "], got " + shape_string(c));
  const Tensor full = c.size(1) == n ? c : at::constant_pad_nd(c, {0, n - c.size(1)});
  return full.reshape({c.size(0), shape_.channels, shape_.height, shape_.width});
}
Tensor DenoiseOperator::Ut(const Tensor& y) const { return Vt(y); }
Tensor DenoiseOperator::U(const Tensor& c) const {
  require(c.dim() == 2 && c.size(1) == shape_.numel(), name() + ": U expects coefficients [B, " + std::to_string(shape_.numel()) + "], got " + shape_string(c));
  return V(c);
}

}  // namespace diffinv

#include "diffinv/common.h"

#include <ATen/ATen.h>

namespace diffinv {

Tensor batch_dot(const Tensor& a, const Tensor& b) {
  return (a * b).flatten(1).sum(1);
}

Tensor batch_norm2(const Tensor& a) {
  return a.flatten(1).pow(2).sum(1).sqrt();
}

Tensor per_sample(const Tensor& values, const Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = values.size(0);
  return values.reshape(shape);
}

}  // namespace diffinv

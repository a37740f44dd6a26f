#include "diffinv/common.h"

#include <ATen/ATen.h>

#include <cmath>

namespace diffinv {

long long parse_integer(const std::string& text, const std::string& what) {
  size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  require(pos == text.size() && pos > 0, what + " needs an integer, got '" + text + "'");
  return v;
}

double parse_number(const std::string& text, const std::string& what) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  require(pos == text.size() && pos > 0 && std::isfinite(v), what + " needs a finite number, got '" + text + "'");
  return v;
}

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

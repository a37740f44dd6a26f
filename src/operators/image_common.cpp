// Shared pieces of the image operators: shapes, shape checks and the per-device constant cache.
#include <ATen/ATen.h>

#include <sstream>

#include "diffinv/image_operators.h"

namespace diffinv {

std::string shape_string(const Tensor& t) {
  std::ostringstream out;
  out << "[";
  for (int64_t i = 0; i < t.dim(); ++i) out << (i ? ", " : "") << t.size(i);
  out << "]";
  return out.str();
}

void check_image(const Tensor& x, const ImageShape& shape, const std::string& op, const std::string& what) {
  require(x.defined(), op + ": " + what + " is undefined");
  const bool ok = x.dim() == 4 && x.size(1) == shape.channels && x.size(2) == shape.height && x.size(3) == shape.width;
  require(ok, op + " expects " + what + " of shape [B, " + std::to_string(shape.channels) + ", " +
                  std::to_string(shape.height) + ", " + std::to_string(shape.width) + "], got " + shape_string(x));
}

ConstantCache::ConstantCache(std::vector<Tensor> constants) : constants_(std::move(constants)) {}
ConstantCache::ConstantCache(const ConstantCache& other) : constants_(other.constants_) {}
ConstantCache& ConstantCache::operator=(const ConstantCache& other) {
  if (this != &other) {
    std::lock_guard<std::mutex> lock(mutex_);
    constants_ = other.constants_;
    converted_.clear();
  }
  return *this;
}

const std::vector<Tensor>& ConstantCache::get(const c10::TensorOptions& like) const {
  const c10::Device device = like.device();
  const auto dtype = c10::typeMetaToScalarType(like.dtype());
  std::ostringstream key;
  key << device << "/" << dtype;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = converted_.find(key.str());
  if (it != converted_.end()) return it->second;
  std::vector<Tensor> out;
  out.reserve(constants_.size());
  for (const Tensor& t : constants_) {
    if (!t.defined()) {
      out.emplace_back();
    } else if (at::isFloatingType(t.scalar_type()) || at::isComplexType(t.scalar_type())) {
      // Complex constants follow the real dtype: complex64 for float/half, complex128 for double.
      auto target = dtype;
      if (at::isComplexType(t.scalar_type())) target = dtype == at::kDouble ? at::kComplexDouble : at::kComplexFloat;
      out.push_back(t.to(device, target).contiguous());
    } else {
      out.push_back(t.to(device).contiguous());
    }
  }
  return converted_.emplace(key.str(), std::move(out)).first->second;
}

}  // namespace diffinv

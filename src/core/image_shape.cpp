#include "diffinv/image_shape.h"

namespace diffinv {

std::string ImageShape::str() const {
  return "[" + std::to_string(channels) + ", " + std::to_string(height) + ", " + std::to_string(width) + "]";
}

}  // namespace diffinv

// The shape of one image, [C, H, W] without the batch dimension: what tasks, operators, priors and
// benchmarks agree on, reachable without including every image operator.
#pragma once
#include <cstdint>
#include <string>

namespace diffinv {

struct ImageShape {
  int64_t channels = 3, height = 256, width = 256;
  int64_t numel() const { return channels * height * width; }
  std::string str() const;  // "[C, H, W]"
};

}  // namespace diffinv

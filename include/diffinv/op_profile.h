// Wall time of every top-level ATen operator and autograd backward function while an OpProfile
// is alive, through ATen's RecordFunction callbacks (the same hooks torch.profiler uses, stable
// across libtorch 1.13 and 2.x). "Top-level" means not nested in another recorded op, so
// aten::conv2d's time includes the oneDNN kernel it calls and nothing is counted twice; a
// backward function's time includes the ops it runs. Used by `diffinv bench train --profile`.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace diffinv {

struct OpTotal {
  double seconds = 0;
  int64_t calls = 0;
};

class OpProfile {
 public:
  OpProfile();   // starts recording (one profile at a time: a second one throws)
  ~OpProfile();  // stops recording
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;
  // Totals by op name (e.g. "aten::conv2d", "ConvolutionBackward0") since construction.
  std::map<std::string, OpTotal> totals() const;

 private:
  uint64_t handle_ = 0;
};

// The module an op belongs to in a UNet training step: "convolution", "group norm",
// "attention (bmm, softmax)", "SiLU", "concat / resample", or "elementwise & other".
std::string unet_op_category(const std::string& op_name);

}  // namespace diffinv

// Seeded generators on any device: the same seed gives the same stream on the same device.
#pragma once
#include <ATen/core/Generator.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <vector>

#include "diffinv/common.h"

namespace diffinv {

at::Generator make_generator(uint64_t seed, c10::Device device = c10::Device(c10::kCPU));
// Standard normal noise shaped like `like`, on its device and dtype. On the CPU it is drawn by a vectorised
// Philox-4x32-10 + Box-Muller (one 64-bit key taken from `gen` per call), about twice as fast as
// libtorch's CPU normal_; elsewhere it is at::randn with `gen`.
Tensor randn_like(const Tensor& like, at::Generator& gen);
Tensor randn(at::IntArrayRef shape, const c10::TensorOptions& options, at::Generator& gen);

}  // namespace diffinv

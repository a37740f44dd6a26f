// From a task config to what it describes (DESIGN §4): the measurement operator for images of a
// shape, with its random parts (masks, motion kernels) drawn from a generator, and the noise step.
#pragma once
#include <ATen/core/Generator.h>

#include <memory>

#include "diffinv/image_operators.h"
#include "diffinv/task_config.h"

namespace diffinv {

// Builds the operator for images of `shape` (the config's in_shape is informative only), drawing
// its random parts (motion-blur kernel, inpainting masks: one per batch image) from `gen`.
std::unique_ptr<Operator> make_operator(const TaskConfig& config, ImageShape shape, int64_t batch,
                                        at::Generator& gen);
// The mask ([B, 1, H, W], 1 = kept) of an inpainting operator, else undefined.
Tensor operator_mask(const Operator& op);
// The kernel ([k, k], sums to 1) of a blur operator, else undefined.
Tensor operator_kernel(const Operator& op);

// y = noise(clean) as the config says (GaussianNoise / PoissonNoise / nothing).
Tensor apply_task_noise(const TaskConfig& config, const Tensor& clean, at::Generator& gen);

}  // namespace diffinv

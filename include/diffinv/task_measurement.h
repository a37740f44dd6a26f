// From a task config and images to the inverse problem the samplers solve (DESIGN §2: config ->
// task -> inverse problem): the operator built for the batch, the noisy measurement and its noise model.
#pragma once
#include <ATen/core/Generator.h>

#include <memory>
#include <string>

#include "diffinv/sampler.h"
#include "diffinv/task_operator.h"

namespace diffinv {

// Throws, naming both sizes, when the config states an image size (measurement.operator.in_shape
// or mask_opt.image_size) or channel count that differs from the model's `shape`.
void check_task_fits_model(const TaskConfig& task, ImageShape shape);

// The inverse problem of `task` with operator `op` (built for the batch: one mask / kernel draw per
// image) and measurement y [B, ...]: the task's noise model, with sigma_y the Gaussian std, or for
// Poisson noise its Gaussian approximation (InverseProblem::sigma_y).
InverseProblem inverse_problem(const TaskConfig& task, std::shared_ptr<const Operator> op, const Tensor& y);

// Builds the task's operator for the batch `clean` [B, C, H, W] and measures it with the task's
// noise, all random parts drawn from `gen`. Throws when the measurement is not finite.
InverseProblem measure_images(const TaskConfig& task, const Tensor& clean, at::Generator& gen);

// The operator alone, for measurements made elsewhere: `y` [B, ...] must have the operator's
// output shape and be finite. Random operator parts (box/pixel masks, motion kernels) cannot match
// a measurement made elsewhere, so they are refused: give mask_file / kernel_file instead.
InverseProblem measurement_from_images(const TaskConfig& task, const Tensor& y, ImageShape shape, at::Generator& gen);

// Sampler options a DPS-format task implies: `conditioning.params.scale` is the step size zeta of
// the DPS-family samplers (dps, dps-dmps, mcg), written so that it reads back exactly;
// `explicit_options` override it.
OptionMap task_sampler_options(const TaskConfig& task, const std::string& sampler, const OptionMap& explicit_options);

}  // namespace diffinv

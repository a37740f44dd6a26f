// Restoring images with a task config and a sampler: the pieces `diffinv restore`, `bench images`
// and `demo` share (DESIGN §4). Measurements are made once per batch, so every method can be run
// on the same operator (masks, kernels) and the same noise.
#pragma once
#include <ATen/core/Generator.h>

#include <memory>
#include <string>

#include "diffinv/image_operators.h"
#include "diffinv/sampler.h"
#include "diffinv/task_config.h"

namespace diffinv {

// Throws, naming both sizes, when the config states an image size (measurement.operator.in_shape
// or mask_opt.image_size) or channel count that differs from the model's `shape`.
void check_task_fits_model(const TaskConfig& task, ImageShape shape);

struct TaskMeasurement {
  std::shared_ptr<Operator> op;  // built for the batch (one mask / kernel draw per batch image)
  Tensor y;                      // the noisy measurement, [B, ...]
  double sigma_y = 0.0;          // Gaussian std on [-1, 1] (0 for Poisson and clean)
};

// Builds the task's operator for the batch `clean` [B, C, H, W] and measures it with the task's
// noise, all random parts drawn from `gen`. Throws when the measurement is not finite.
TaskMeasurement measure_images(const TaskConfig& task, const Tensor& clean, at::Generator& gen);

// The operator alone, for measurements made elsewhere: `y` [B, ...] must have the operator's
// output shape and be finite. Random operator parts (box/pixel masks, motion kernels) cannot match
// a measurement made elsewhere, so they are refused: give mask_file / kernel_file instead.
TaskMeasurement measurement_from_images(const TaskConfig& task, const Tensor& y, ImageShape shape, at::Generator& gen);

// Sampler options a DPS-format task implies: `conditioning.params.scale` is the step size zeta of
// the DPS-family samplers (dps, dps-dmps, mcg); `explicit_options` override it.
OptionMap task_sampler_options(const TaskConfig& task, const std::string& sampler, const OptionMap& explicit_options);

// Every option of `info` with its value in effect (override, else the documented default).
OptionMap resolved_options(const SamplerInfo& info, const OptionMap& overrides);

struct RestoreSettings {
  int steps = 0;       // 0: the sampler's default
  int save_every = 0;  // > 0: keep the x0-estimate after every save_every-th step and the last
  ProgressFn progress;  // called after every step; may be empty
  // CCDF warm start (warm_start.h): t0 < 1 runs the last t0 of the grid from the initial estimate
  // forward-diffused to that sigma; the estimate is `initial_estimate` when defined, else A^+ y.
  double warm_start = 1.0;
  Tensor initial_estimate;  // [B, C, H, W]
};

struct Restoration {
  Tensor x;           // [B, C, H, W], as the sampler returned it (not clamped)
  Tensor trajectory;  // [B, n, C, H, W] x0-estimates on the CPU, undefined unless save_every > 0
  long nfe = 0;       // network evaluations of the batch (a batched call counts once)
  long vjps = 0;      // of those, the ones recorded for a backward pass (VJP)
  double seconds = 0;
  int steps = 0;
};

// Runs `info` with `options` on `problem` for `batch` images: x_init = sigma_max * N(0, I) from
// `gen` (on the denoiser's device), then the sampler on the sampler's own grid kind.
Restoration restore_images(Denoiser& denoiser, const SamplerInfo& info, const OptionMap& options,
                           const InverseProblem& problem, int64_t batch, const RestoreSettings& settings,
                           at::Generator& gen);

// The measurement as written to a PNG: y itself on [-1, 1], except phase-retrieval magnitudes,
// shown as log(1 + |y|) min-max normalised per image. Returns [B, c, h, w] float32 on the CPU.
Tensor measurement_view(const Operator& op, const Tensor& y);

// A measurement shown as an image of `shape` on [-1, 1] for grids: channels broadcast to C, smaller
// measurements enlarged (nearest neighbour when the size divides, else bicubic), from
// measurement_view. Returns [B, C, H, W].
Tensor measurement_preview(const Operator& op, const Tensor& y, ImageShape shape);

}  // namespace diffinv

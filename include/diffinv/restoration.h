// Restoring images with a task config and a sampler: the pieces `diffinv restore`, `bench images`
// and `demo` share (DESIGN §4). Measurements are made once per batch, so every method can be run
// on the same operator (masks, kernels) and the same noise.
#pragma once
#include <ATen/core/Generator.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "diffinv/image_operators.h"
#include "diffinv/sampler.h"
#include "diffinv/task_measurement.h"

namespace diffinv {

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

// Runs the prepared `sampler` on `problem` for `batch` images: x_init = sigma_max * N(0, I) from
// `gen` (on the denoiser's device), then the sampler on the sampler's own grid kind.
Restoration restore_images(Denoiser& denoiser, const PreparedSampler& sampler, const InverseProblem& problem,
                           int64_t batch, const RestoreSettings& settings, at::Generator& gen);

// K posterior samples of a batch (DESIGN §7), shared by `restore` and `bench images`: the first is the
// reconstruction; the mean and the per-pixel std (the uncertainty map) are taken over `shown`.
struct PosteriorSamples {
  Tensor samples;      // [B, K, C, H, W] float32 on the CPU, as the sampler returned them
  Tensor shown;        // the same with NaN/Inf read as 0 and clamped to [-1, 1]
  Tensor mean, std;    // [B, C, H, W] over the K samples of `shown`; std unbiased, 0 when K = 1
  Tensor trajectory;   // the first sample's x0-estimates (RestoreSettings::save_every), else undefined
  long nfe = 0;        // of all K samples
  long vjps = 0;       // of all K samples: the network evaluations with a backward pass
  double seconds = 0;  // of all K samples
  int steps = 0;
  int64_t count() const { return samples.size(1); }
  Tensor reconstruction() const { return shown.select(1, 0).contiguous(); }  // [B, C, H, W]
  bool finite(int64_t i) const;  // every sample of image i is free of NaN/Inf
};

// Runs `samples` posterior samples of `problem` for `batch` images one after another, all from `gen`;
// `settings.progress` sees every step of every sample, `before_sample(k)` (may be empty) runs
// before sample k; only the first keeps a trajectory.
PosteriorSamples sample_posterior(Denoiser& denoiser, const PreparedSampler& sampler, const InverseProblem& problem,
                                  int64_t batch, int samples, const RestoreSettings& settings, at::Generator& gen,
                                  const std::function<void(int)>& before_sample = {});

// The PNGs that show measurement i: <prefix><view_suffix> (measurement_view of `problem.y`), and
// <prefix>_mask.png / <prefix>_kernel.png when the operator has a mask / kernel. Returns the paths
// written under "measurement", "mask" and "kernel".
std::map<std::string, std::string> write_measurement_pngs(const std::string& prefix, const std::string& view_suffix,
                                                          const InverseProblem& problem, int64_t i);
// The PNGs of image i of a posterior: <prefix><first_suffix> (the first sample) and, with K > 1,
// <prefix>_mean.png, <prefix>_std.png (white = std 1) and, with `strip`, <prefix>_samples.png (all
// K in a row). Returns the paths written under "reconstruction", "mean", "std" and "samples".
std::map<std::string, std::string> write_posterior_pngs(const std::string& prefix, const std::string& first_suffix,
                                                        const PosteriorSamples& posterior, int64_t i, bool strip);

// The measurement as written to a PNG: y itself on [-1, 1], except phase-retrieval magnitudes,
// shown as log(1 + |y|) min-max normalised per image. Returns [B, c, h, w] float32 on the CPU.
Tensor measurement_view(const Operator& op, const Tensor& y);

// A measurement shown as an image of `shape` on [-1, 1] for grids: channels broadcast to C, smaller
// measurements enlarged (nearest neighbour when the size divides, else bicubic), from
// measurement_view. Returns [B, C, H, W].
Tensor measurement_preview(const Operator& op, const Tensor& y, ImageShape shape);

}  // namespace diffinv
